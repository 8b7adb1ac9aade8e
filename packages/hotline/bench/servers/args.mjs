// Shared by the peer scripts: `--port N [--host H]`, the same flags as `hotline echo`.
export function listenArgs(argv = process.argv.slice(2)) {
  let port = NaN;
  let host = '127.0.0.1';
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--port') port = Number(argv[++i]);
    else if (argv[i] === '--host') host = argv[++i];
    else throw new Error(`unknown argument: ${argv[i]}`);
  }
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error('--port N is required');
  return { port, host };
}

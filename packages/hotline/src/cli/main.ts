#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { UsageError, integer, parseArgs } from './args.js';
import { connect, parseHeaders } from './connect.js';
import { connectTransport, parseTransports } from './connect-transport.js';
import { createEchoServer } from './echo.js';

const USAGE = `Usage: hotline <command> [options]

Commands:
  echo    --port N [--host H] [--max-payload BYTES] [--deflate]
                                          an echo server on every path, over WebSocket,
                                          SSE, long-polling, polling, interval-polling;
                                          /broadcast relays each message to all on it
  connect URL [--protocol P]... [-H 'Name: value']... [--wait MS] [--deflate]
          [--transport websocket|sse|long-polling|polling|interval-polling[,...]]
          [--interval MS]
                                          an interactive client (a pipe: one message per
                                          line in, one per line out); with --transport,
                                          the Hotline client over that transport
  serve, bench                            the lab, when @hotline/lab is installed (the
                                          repository's workspace has it: npm start)

Options:
  -h, --help       show this help
  -v, --version    show the version
`;

function version(): string {
  const url = new URL('../../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined ? 1 : 0;
  }
  if (command === '-v' || command === '--version') {
    process.stdout.write(version() + '\n');
    return 0;
  }
  switch (command) {
    case 'echo':
      return echo(rest);
    case 'serve':
    case 'bench':
      return lab(argv);
    case 'connect':
      return connectCommand(rest);
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

async function echo(argv: string[]): Promise<number> {
  const { values } = parseArgs(argv, {
    port: { type: 'string' },
    host: { type: 'string' },
    'max-payload': { type: 'string' },
    deflate: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values.port === undefined) throw new UsageError('echo needs --port N');
  const port = integer(values.port, 'port', 0);
  const server = createEchoServer({
    maxPayload: integer(values['max-payload'], 'max-payload', 16 * 1024 * 1024) || 16 * 1024 * 1024,
    perMessageDeflate: values.deflate === true,
  });
  const address = await server.listen(port, values.host);
  process.stdout.write(`hotline echo listening on ws://${values.host ?? 'localhost'}:${address.port}\n`);
  await untilSignal();
  await server.close({ timeout: 2000 });
  return 0;
}

/**
 * The lab is a package of its own (`@hotline/lab`), so that installing the library never
 * downloads it; when it is installed beside the library, `hotline serve` and `hotline
 * bench` are its commands.
 */
async function lab(argv: string[]): Promise<number> {
  let runLab: (argv: readonly string[]) => Promise<number>;
  try {
    ({ runLab } = (await import(LAB_CLI)) as { runLab: typeof runLab });
  } catch (error) {
    if ((error as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw error;
    process.stderr.write(`hotline: \`${argv[0]}\` is the lab's command: npm install @hotline/lab (in the repository: npm start)\n`);
    return 2;
  }
  try {
    return await runLab(argv);
  } catch (error) {
    // The lab's usage mistakes are reported like ours.
    if ((error as Error).constructor?.name === 'UsageError') throw new UsageError((error as Error).message);
    throw error;
  }
}

/** A variable, so that TypeScript does not resolve the optional package at build time. */
const LAB_CLI = '@hotline/lab/cli';

async function connectCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs(argv, {
    protocol: { type: 'string', multiple: true },
    header: { type: 'string', short: 'H', multiple: true },
    wait: { type: 'string' },
    deflate: { type: 'boolean' },
    transport: { type: 'string' },
    interval: { type: 'string' },
  });
  const url = positionals[0];
  if (url === undefined) throw new UsageError('connect needs a URL');
  if (values.transport !== undefined) {
    return connectTransport({
      url,
      transports: parseTransports(values.transport),
      headers: parseHeaders(values.header ?? []),
      wait: integer(values.wait, 'wait', 500),
      ...(values.interval !== undefined ? { interval: integer(values.interval, 'interval', 1000) } : {}),
    });
  }
  return connect({
    url,
    protocols: values.protocol ?? [],
    headers: parseHeaders(values.header ?? []),
    wait: integer(values.wait, 'wait', 500),
    clientOptions: { perMessageDeflate: values.deflate === true },
  });
}

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`hotline: ${error.message}\n\n${USAGE}`);
      process.exitCode = 2;
    } else if (error instanceof DOMException || typeof (error as { code?: unknown } | null)?.code === 'string') {
      process.stderr.write(`hotline: ${(error as Error).message}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`hotline: ${(error as Error).stack ?? String(error)}\n`);
      process.exitCode = 1;
    }
  },
);

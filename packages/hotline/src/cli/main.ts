#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { UsageError } from './args.js';
import { connect } from './connect.js';
import { parseConnect } from './connect-options.js';
import { connectTransport } from './connect-transport.js';
import { createEchoServer } from './echo.js';
import { parseEcho } from './echo-options.js';
import { echoTlsBanner, loadEchoTls } from './echo-tls.js';
import { CONNECT_USAGE, ECHO_USAGE, LAB_MISSING, USAGE } from './usage.js';
import type { RedisEngine } from '../redis/index.js';

function version(): string {
  const url = new URL('../../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help') {
    process.stdout.write(USAGE);
    return command === undefined ? 1 : 0;
  }
  if (command === '-v' || command === '--version') {
    process.stdout.write(version() + '\n');
    return 0;
  }
  switch (command) {
    case 'help':
      // `hotline help connect`, as git does.
      return help(rest[0]);
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

function help(command: string | undefined): number {
  const text = command === 'connect' ? CONNECT_USAGE : command === 'echo' ? ECHO_USAGE : USAGE;
  process.stdout.write(text);
  return 0;
}

async function echo(argv: string[]): Promise<number> {
  const command = parseEcho(argv);
  if (command.help) {
    process.stdout.write(ECHO_USAGE);
    return 0;
  }
  const { port, host, maxPayload, deflate, drainWindow, redis, http2 } = command;
  // Before the port is taken: a file that cannot serve TLS is a usage error, not a listener that fails every handshake.
  const tls = command.tls === undefined ? undefined : await loadEchoTls(command.tls);
  const engine = redis === undefined ? undefined : await connectRedis(redis);
  const scheme = tls === undefined ? 'http' : 'https';
  // Other nodes forward this node's HTTP sessions here; the port is known once listening,
  // so a port of 0 cannot be advertised by default.
  const advertise = redis === undefined ? undefined : (command.advertise ?? (port === 0 ? undefined : `${scheme}://127.0.0.1:${port}`));
  const server = createEchoServer({ maxPayload, perMessageDeflate: deflate, ...(engine && { engine }), ...(advertise && { advertise }) });
  const address = tls === undefined ? await server.listen(port, host) : await server.listen({ port, ...(host !== undefined && { host }), tls: tls.pair, http2 });
  process.stdout.write(`hotline echo listening on ${tls === undefined ? 'ws' : 'wss'}://${host ?? 'localhost'}:${address.port}\n`);
  if (tls !== undefined) process.stdout.write(echoTlsBanner(tls, http2));
  if (engine !== undefined) {
    process.stdout.write(`  pub/sub through Redis ${redactedUrl(redis!)}, node ${engine.instanceId}${advertise ? `, reached by the other nodes at ${advertise}` : ' (no --advertise: its HTTP sessions are not routed from other nodes)'}\n`);
  }
  // SIGTERM is how deploys stop a process: drain, so clients move to other nodes in a trickle.
  if ((await untilSignal()) === 'SIGTERM') await server.drain({ window: drainWindow, timeout: 2000 });
  else await server.close({ timeout: 2000 });
  return 0;
}

/**
 * The Redis engine, connected. It lives in `hotline/redis`, loaded only when asked for, so
 * that the `redis` package stays an optional peer dependency.
 */
async function connectRedis(url: string): Promise<RedisEngine> {
  let RedisEngineClass: typeof RedisEngine;
  try {
    ({ RedisEngine: RedisEngineClass } = await import('../redis/index.js'));
  } catch (error) {
    if ((error as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw error;
    throw new UsageError('--redis needs the redis package beside hotline: npm install redis', ECHO_USAGE);
  }
  const engine = new RedisEngineClass({ url });
  try {
    await engine.connect();
  } catch (error) {
    // It would keep trying in the background; a command that failed at boot stops instead.
    await engine.close();
    throw error;
  }
  return engine;
}

/** A Redis URL as printed: without its password. */
function redactedUrl(value: string): string {
  const url = new URL(value);
  if (url.password !== '') url.password = '***';
  return url.toString();
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
    const asked = argv.includes('--help') || argv.includes('-h');
    (asked ? process.stdout : process.stderr).write(LAB_MISSING(argv[0]!));
    return asked ? 0 : 2;
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
  const command = parseConnect(argv);
  if (command.help) {
    process.stdout.write(CONNECT_USAGE);
    return 0;
  }
  return command.transport ? connectTransport(command.options) : connect(command.options);
}

function untilSignal(): Promise<'SIGINT' | 'SIGTERM'> {
  return new Promise((resolve) => {
    const done = (signal: 'SIGINT' | 'SIGTERM') => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve(signal);
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // A connection's leftovers (a keep-alive socket, the acknowledgement of a close) must
    // not hold the command once it is done; stdout and stderr are synchronous on POSIX.
    setTimeout(() => process.exit(code), 200).unref();
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`hotline: ${error.message}\n\n${error.usage || USAGE}`);
      process.exitCode = 2;
    } else if (typeof (error as { code?: unknown } | null)?.code === 'string') {
      // An error of the system (EADDRINUSE, EACCES) or of Hotline (HL_ERR_*): its message says it.
      const { code, message } = error as { code: string; message: string };
      process.stderr.write(`hotline: ${message}${message.includes(code) ? '' : ` (${code})`}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`hotline: ${(error as Error).stack ?? String(error)}\n`);
      process.exitCode = 1;
    }
    setTimeout(() => process.exit(), 200).unref();
  },
);

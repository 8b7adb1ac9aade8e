#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { UsageError, integer, parseArgs } from './args.js';
import { connect, parseHeaders } from './connect.js';
import { connectTransport, parseTransports } from './connect-transport.js';
import { BENCH_TRANSPORTS_USAGE, benchTransportsCommand } from './bench-transports.js';
import { createEchoServer } from './echo.js';
import { serveCommand } from './serve.js';

const USAGE = `Usage: hotline <command> [options]

Commands:
  serve   [--port N] [--host H] [--rate R] [--size BYTES] [--interval MS]
                                          the lab: WebSocket against polling, long polling
                                          and SSE, measured live (default port 8080)
  bench transports [--clients N] [--rate R] [--duration S] [--interval MS]
                                          every transport under N simulated clients:
                                          a table and a Markdown report with charts
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
      return serveCommand(rest, untilSignal);
    case 'bench':
      return bench(rest);
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

async function bench(argv: string[]): Promise<number> {
  const [what, ...rest] = argv;
  if (what === 'transports') return benchTransportsCommand(rest);
  if (what === undefined || what === '-h' || what === '--help') {
    process.stdout.write(BENCH_TRANSPORTS_USAGE);
    return what === undefined ? 1 : 0;
  }
  throw new UsageError(`unknown bench ${JSON.stringify(what)} (known: transports)`);
}

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

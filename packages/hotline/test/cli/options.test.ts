/**
 * `hotline connect` and `hotline echo` options: each command's own --help, usage errors
 * (exit 2, the command's usage, no stack), a URL without a scheme, --subprotocol and its
 * alias, -P in a pipe, and TLS: a self-signed certificate refused by default, trusted
 * with --ca, accepted with --no-check, over wss:// and over https:// transports.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Server } from '../../src/server/server.js';
import { createEchoServer } from '../../src/cli/echo.js';
import { cert, key } from '../support/tls.js';
import { listening } from '../support/server.js';
import { UsageError } from '../../src/cli/args.js';
import { parseConnect } from '../../src/cli/connect-options.js';
import { parseEcho } from '../../src/cli/echo-options.js';
import { CONNECT_USAGE, DEFAULT_WAIT, ECHO_USAGE } from '../../src/cli/usage.js';
import { run } from './run.js';

const CA = fileURLToPath(new URL('../../../test/support/tls/localhost.crt', import.meta.url));

describe('help', { concurrency: true }, () => {
  for (const [args, title] of [
    [['connect', '--help'], /^Usage: hotline connect \[options\] URL\n/],
    [['connect', '-h'], /^Usage: hotline connect/],
    [['help', 'connect'], /^Usage: hotline connect/],
    [['echo', '--help'], /^Usage: hotline echo --port N/],
    [['help', 'echo'], /^Usage: hotline echo/],
    [['serve', '--help'], /^Usage: hotline serve/],
    [['bench', '--help'], /^Usage: hotline bench/],
  ] as const) {
    it(`hotline ${args.join(' ')} prints its own usage, exit 0`, async () => {
      const result = await run([...args]);
      assert.equal(result.code, 0);
      assert.match(result.stdout, title);
      assert.equal(result.stderr, '');
      if ((args as readonly string[]).some((arg) => arg === 'connect' || arg === 'echo')) assert.match(result.stdout, /\nExamples:\n {2}hotline /);
    });
  }

  it('documents the pipe rule and the exit codes in connect --help', async () => {
    const { stdout } = await run(['connect', '--help']);
    assert.match(stdout, /The pipe rule: when input ends/);
    assert.match(stdout, /one full receive cycle/);
    assert.match(stdout, /Exit codes: 0 opened and closed normally; 1 .*\n.*; 2 usage error; 3 --wait ran out/);
    for (const flag of ['-x, --execute', '-w, --wait', '-H, --header', '-s, --subprotocol', '-P, --show-ping-pong', '--ca FILE', '--no-check', '--no-color', '--transport']) {
      assert.ok(stdout.includes(flag), flag);
    }
  });
});

describe('docs/cli.md', () => {
  it('documents every flag of connect and echo, and every exit code', () => {
    const docs = readFileSync(new URL('../../../../../docs/cli.md', import.meta.url), 'utf8');
    for (const usage of [CONNECT_USAGE, ECHO_USAGE]) {
      for (const [flag] of usage.matchAll(/(?<=^ +(?:-\w, )?)--[a-z-]+/gm)) assert.ok(docs.includes(`\`${flag}`) || docs.includes(`, ${flag}`), flag);
    }
    for (const code of ['| 0 |', '| 1 |', '| 2 |', '| 3 |']) assert.ok(docs.includes(code), code);
    assert.match(docs, /#### The pipe rule/);
  });
});

describe('usage errors', { concurrency: true }, () => {
  // As a user meets them: the real command, exit 2, the command's usage, no stack.
  for (const [args, pattern, usage] of [
    [['echo', '--port', '99999'], /^hotline: --port must be an integer from 0 to 65535 \(0: any free port\), not "99999"\n/, 'echo'],
    [['echo', '--port', 'abc'], /^hotline: --port must be an integer from 0 to 65535/, 'echo'],
    [['connect', '--wait', '-1', 'ws://127.0.0.1:1/'], /^hotline: --wait must be a number of seconds, 0 or more/, 'connect'],
    [['connect', '-x'], /Option '-x, --execute <value>' argument missing/, 'connect'],
  ] as const) {
    it(`hotline ${args.join(' ')}: exit 2, the ${usage} usage, no stack`, async () => {
      const result = await run([...args]);
      assert.equal(result.code, 2);
      assert.match(result.stderr, pattern);
      assert.match(result.stderr, new RegExp(`\\n\\nUsage: hotline ${usage} `));
      assert.doesNotMatch(result.stderr, /\n\s+at |RangeError|TypeError/);
    });
  }

  // The rest through the parser itself: the same UsageError, without a process each.
  for (const [args, pattern] of [
    [['--port', '-1'], /^--port must be an integer from 0 to 65535/],
    [['--port', '0', '--max-payload', '0'], /^--max-payload must be 1 or more$/],
    [['--port', '0', 'extra'], /^echo takes no arguments/],
    [[], /^echo needs --port N$/],
    [['--port', '0', '--drain-window', '-5'], /^--drain-window must be a non-negative integer/],
    [['--port', '0', '--drain-window', '1.5'], /^--drain-window must be a non-negative integer/],
    [['--port', '0', '--drain-window', '99999999999'], /^--drain-window must be at most 2147483647 ms$/],
    [['--port', '0', '--redis', 'localhost:6379'], /^--redis must be a redis:\/\/ or rediss:\/\/ URL, not "localhost:6379"$/],
    [['--port', '0', '--redis', 'http://127.0.0.1:6379'], /^--redis must be a redis:\/\/ or rediss:\/\/ URL/],
    [['--port', '0', '--advertise', 'http://127.0.0.1:9001'], /^--advertise applies with --redis/],
    [['--port', '0', '--redis', 'redis://127.0.0.1', '--advertise', 'http://127.0.0.1:9001/path'], /^--advertise must be an origin/],
    [['--port', '0', '--redis', 'redis://127.0.0.1', '--advertise', 'ws://127.0.0.1:9001'], /^--advertise must be an origin/],
  ] as const) {
    it(`echo ${args.join(' ')}: a usage error with the echo usage`, () => {
      assert.throws(() => parseEcho([...args]), (error: unknown) => error instanceof UsageError && pattern.test(error.message) && error.usage === ECHO_USAGE);
    });
  }
  it('echo --drain-window: 10,000 ms by default, as given otherwise', () => {
    assert.equal((parseEcho(['--port', '0']) as { drainWindow: number }).drainWindow, 10_000);
    assert.equal((parseEcho(['--port', '0', '--drain-window', '0']) as { drainWindow: number }).drainWindow, 0);
    assert.equal((parseEcho(['--port', '0', '--drain-window', '2500']) as { drainWindow: number }).drainWindow, 2500);
  });
  for (const [args, pattern] of [
    [['-w', 'soon', 'ws://127.0.0.1:1/'], /^--wait must be a number of seconds/],
    [['-w', '1e3', 'ws://127.0.0.1:1/'], /^--wait must be a number of seconds/],
    [['ws://a/', 'ws://b/'], /^connect takes one URL, not 2/],
    [[], /^connect needs a URL$/],
    [['ftp://127.0.0.1/'], /^the URL scheme must be ws, wss, http or https, not ftp$/],
    [['ws://127.0.0.1/#frag'], /must not have a #fragment/],
    [['http://[::1/'], /^not a URL: "http:\/\/\[::1\/"$/],
    [['--interval', '50', 'ws://127.0.0.1:1/'], /^--interval applies with --transport/],
    [['--transport', 'sse', '--interval', 'often', 'http://127.0.0.1:1/'], /^--interval must be a non-negative integer/],
    [['--transport', 'sse,carrier-pigeon', 'http://127.0.0.1:1/'], /^--transport must be one of websocket, sse, long-polling, polling, interval-polling/],
    [['--transport', 'sse', '-s', 'chat', 'http://127.0.0.1:1/'], /^--subprotocol applies to WebSocket without --transport/],
    [['--ca', '/nonexistent/ca.pem', 'wss://127.0.0.1:1/'], /^--ca: cannot read "\/nonexistent\/ca.pem" \(ENOENT\)$/],
    [['--ca', fileURLToPath(import.meta.url), 'wss://127.0.0.1:1/'], /holds no PEM certificate/],
    [['-H', 'no colon', 'ws://127.0.0.1:1/'], /^-H expects "Name: value"/],
    [['--frobnicate', 'ws://127.0.0.1:1/'], /^Unknown option '--frobnicate'/],
  ] as const) {
    it(`connect ${args.join(' ')}: a usage error with the connect usage`, () => {
      assert.throws(() => parseConnect([...args]), (error: unknown) => error instanceof UsageError && pattern.test(error.message) && error.usage === CONNECT_USAGE);
    });
  }

  it('reads --wait in seconds, or with a unit', () => {
    const wait = (value: string) => {
      const command = parseConnect(['-w', value, 'ws://h/']);
      return command.help ? -1 : command.options.wait;
    };
    assert.deepEqual(['2', '0.5', '.25', '0', '1500ms', '3s'].map(wait), [2000, 500, 250, 0, 1500, 3000]);
    const command = parseConnect(['ws://h/']);
    assert.equal(command.help ? -1 : command.options.wait, DEFAULT_WAIT);
  });

  it('adds ws:// (http:// with --transport) to a URL without a scheme, and keeps one given', () => {
    const url = (args: string[]) => {
      const command = parseConnect(args);
      return command.help ? '' : command.options.url;
    };
    assert.equal(url(['localhost:9001']), 'ws://localhost:9001/');
    assert.equal(url(['127.0.0.1:9001/chat?room=1']), 'ws://127.0.0.1:9001/chat?room=1');
    assert.equal(url(['--transport', 'sse', 'localhost:9001']), 'http://localhost:9001/');
    assert.equal(url(['wss://example.com/x']), 'wss://example.com/x');
    assert.equal(url(['--transport', 'polling', 'https://example.com/x']), 'https://example.com/x');
  });
});

describe('connect options against a server', { timeout: 30_000, concurrency: true }, () => {
  let server: Server;
  let port = 0;
  before(async () => {
    const started = await listening({}, (s) => {
      s.route('/protocols', {
        upgrade: (request) => ({ protocol: request.protocols[0], data: request.protocols.join(',') }),
        open: (peer) => void peer.send(`offered ${String(peer.data)}`),
      });
      s.route('/ping', { open: (peer) => (peer as unknown as { ping(data: Buffer): void }).ping(Buffer.from('hb')) });
      s.route('/echo', { message: (peer, data, isBinary) => void peer.send(data, isBinary) });
    });
    server = started.server;
    port = started.port;
  });
  after(() => server.close({ timeout: 300 }));

  it('adds ws:// to a URL without a scheme, as wscat does', async () => {
    const result = await run(['connect', '-x', 'hi', `127.0.0.1:${port}/echo`]);
    assert.deepEqual([result.stdout, result.stderr, result.code], ['hi\n', '', 0]);
  });

  it('offers --subprotocol and --protocol values, in order', async () => {
    const result = await run(['connect', '-s', 'chat.v2', '--subprotocol', 'chat.v1', '--protocol', 'legacy', `ws://127.0.0.1:${port}/protocols`], '');
    assert.deepEqual([result.stdout, result.code], ['offered chat.v2,chat.v1,legacy\n', 0]);
  });

  it('prints pings with -P in a pipe, and only with -P (its own cycle pongs never)', async () => {
    const shown = await run(['connect', '-P', `ws://127.0.0.1:${port}/ping`], '');
    assert.deepEqual([shown.stdout, shown.code], ['[ping] hb\n', 0]);
    const hidden = await run(['connect', `ws://127.0.0.1:${port}/ping`], '');
    assert.deepEqual([hidden.stdout, hidden.code], ['', 0]);
  });
});

describe('TLS: a self-signed certificate', { timeout: 30_000, concurrency: true }, () => {
  let https: HttpsServer;
  let echo: Server;
  let port = 0;
  before(async () => {
    echo = createEchoServer();
    https = createHttpsServer({ key, cert });
    echo.attach(https);
    await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
    port = (https.address() as { port: number }).port;
  });
  after(async () => {
    await echo.close({ timeout: 300 });
    https.closeAllConnections();
    await new Promise((resolve) => https.close(resolve));
  });

  it('is refused by default, over wss:// and https://, with the reason', async () => {
    const plain = await run(['connect', '-x', 'hi', `wss://127.0.0.1:${port}/`]);
    assert.equal(plain.code, 1);
    assert.match(plain.stderr, /^error: self[- ]signed certificate \(HL_ERR_SOCKET\)\n$/);
    const sse = await run(['connect', '--transport', 'sse', '-x', 'hi', `https://127.0.0.1:${port}/`]);
    assert.equal(sse.code, 1);
    assert.match(sse.stderr, /^error: self[- ]signed certificate \(DEPTH_ZERO_SELF_SIGNED_CERT\)\n$/);
  });

  for (const flags of [['--ca', CA], ['--no-check']]) {
    it(`is accepted with ${flags[0]} over wss:// and over every https:// transport`, async () => {
      const transports = ['websocket', 'sse', 'long-polling', 'polling', 'interval-polling'];
      const results = await Promise.all([
        run(['connect', ...flags, '-x', 'hi', `wss://127.0.0.1:${port}/`]),
        ...transports.map((transport) => run(['connect', ...flags, '--transport', transport, '--interval', '50', '-x', 'hi', `https://127.0.0.1:${port}/`])),
      ]);
      for (const [i, result] of results.entries()) {
        assert.deepEqual([result.stdout, result.stderr, result.code], ['hi\n', '', 0], i === 0 ? 'wss://' : `--transport ${transports[i - 1]}`);
      }
    });
  }
});

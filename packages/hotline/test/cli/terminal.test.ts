/**
 * `hotline connect` on a real pseudo-terminal (`script`): the prompt, the echo of what is
 * typed, history, a message arriving while a line is being typed (printed above it, the
 * line kept), colours and NO_COLOR / --no-color, Ctrl-C and Ctrl-D (a close with 1000, its
 * code printed, exit 0), a close from the server, and the same over an HTTP transport.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from '../../src/server/server.js';
import { enableHttpTransports } from '../../src/transports/http-transports.js';
import { listening } from '../support/server.js';
import { eventually } from '../support/timing.js';
import { KEY, Pty, ptyAvailable, visible } from './pty.js';

const CYAN = '\x1b[36m';
const GREEN = '\x1b[32m';
const MAGENTA = '\x1b[35m';
/** Any SGR colour (30-37, 39: ECMA-48 §8.3.117). */
const ANY_COLOUR = /\x1b\[3\dm/;

describe('hotline connect on a terminal', { timeout: 40_000, skip: ptyAvailable() ? false : 'script(1) is not installed' }, () => {
  let server: Server;
  let ws: string;
  let http: string;
  const closes: number[] = [];

  before(async () => {
    const started = await listening({}, (s) => {
      s.route('/echo', {
        message: (peer, data, isBinary) => void peer.send(data, isBinary),
        close: (_peer, code) => void closes.push(code),
      });
      s.route('/later', {
        // The reply comes while the next line is being typed.
        message: (peer, data) => void setTimeout(() => peer.send(`late: ${data.toString()}`), 400),
      });
      s.route('/bye', { message: (peer) => peer.close(4001, 'bye') });
      s.route('/ping', { open: (peer) => (peer as unknown as { ping(data: Buffer): void }).ping(Buffer.from('hb')) });
      enableHttpTransports(s);
    });
    server = started.server;
    ws = started.url;
    http = `http://127.0.0.1:${started.port}`;
  });
  after(() => server.close({ timeout: 300 }));

  it('shows a prompt and echoes typed text; messages in colour; history with up; Ctrl-D closes with 1000', async () => {
    const pty = new Pty(['connect', `${ws}/echo`]);
    try {
      await pty.waitFor('Ctrl-C or Ctrl-D to close.');
      assert.ok(pty.output.includes(`${GREEN}Connected to ${ws}/echo.`), 'the banner is green');
      await pty.waitFor('> ');
      pty.write('first line');
      await pty.waitFor('first line');
      pty.write(KEY.enter);
      await pty.waitFor(`${CYAN}< first line`);
      const mark = pty.output.length;
      // Up on an empty line recalls the last line sent; Enter sends it again.
      pty.write(KEY.up);
      await pty.waitFor('first line', 5000, mark);
      pty.write(KEY.enter);
      await pty.waitFor('< first line', 5000, mark);
      pty.write(KEY.ctrlD);
      assert.equal(await pty.exit(), 0);
      assert.match(visible(pty.output), /closed: 1000\n/);
      await eventually(() => closes.includes(1000), 2000, 'the server to see the close with 1000');
    } finally {
      pty.kill();
    }
  });

  it('prints a message that arrives while a line is typed above it, and keeps the line', async () => {
    const pty = new Pty(['connect', `${ws}/later`]);
    try {
      await pty.waitFor('Ctrl-C or Ctrl-D to close.');
      pty.write('go' + KEY.enter);
      pty.write('half-typed');
      await pty.waitFor('half-typed');
      // The message and the redraw of the line may reach the terminal in separate writes.
      const screen = await pty.waitFor(/< late: go[\s\S]*half-typed/);
      const after = visible(screen.slice(screen.indexOf('< late: go')));
      // The message on its own line, then the prompt and the unfinished line drawn again.
      assert.match(after, /^< late: go\n> half-typed/);
      pty.write(KEY.enter);
      await pty.waitFor('< late: half-typed');
      pty.write(KEY.ctrlC);
      assert.equal(await pty.exit(), 0);
    } finally {
      pty.kill();
    }
  });

  it('uses no colour with NO_COLOR set, nor with --no-color', async () => {
    for (const [args, env] of [
      [['connect', `${ws}/echo`], { NO_COLOR: '1' }],
      [['connect', '--no-color', `${ws}/echo`], {}],
    ] as const) {
      const pty = new Pty([...args], env);
      try {
        await pty.waitFor('Ctrl-C or Ctrl-D to close.');
        pty.write('plain' + KEY.enter);
        await pty.waitFor('< plain');
        pty.write(KEY.ctrlC);
        assert.equal(await pty.exit(), 0);
        assert.doesNotMatch(pty.output, ANY_COLOUR, args.join(' '));
      } finally {
        pty.kill();
      }
    }
  });

  it('closes with 1000 on Ctrl-C, prints the code and exits 0', async () => {
    const before = closes.length;
    const pty = new Pty(['connect', `${ws}/echo`]);
    try {
      await pty.waitFor('Ctrl-C or Ctrl-D to close.');
      pty.write('unfinished');
      await pty.waitFor('unfinished');
      pty.write(KEY.ctrlC);
      assert.equal(await pty.exit(), 0);
      assert.match(visible(pty.output), /closed: 1000\n/);
      await eventually(() => closes.length > before && closes.at(-1) === 1000, 2000, 'the server to see 1000');
    } finally {
      pty.kill();
    }
  });

  it('says so when the server closes, with its code and reason, and exits 1 for a code other than 1000', async () => {
    const pty = new Pty(['connect', `${ws}/bye`]);
    try {
      await pty.waitFor('Ctrl-C or Ctrl-D to close.');
      pty.write('leave' + KEY.enter);
      assert.equal(await pty.exit(), 1);
      assert.match(visible(pty.output), /closed by the server: 4001 bye\n/);
    } finally {
      pty.kill();
    }
  });

  it('prints the pings received with -P', async () => {
    const pty = new Pty(['connect', '-P', `${ws}/ping`]);
    try {
      await pty.waitFor(`${MAGENTA}< [ping] hb`);
      pty.write(KEY.ctrlC);
      assert.equal(await pty.exit(), 0);
    } finally {
      pty.kill();
    }
  });

  for (const transport of ['sse', 'interval-polling'] as const) {
    it(`works the same over --transport ${transport}`, async () => {
      const pty = new Pty(['connect', '--transport', transport, '--interval', '50', `${http}/echo`]);
      try {
        await pty.waitFor(`over ${transport}. Ctrl-C or Ctrl-D to close.`);
        pty.write('over http' + KEY.enter);
        await pty.waitFor(`${CYAN}< over http`);
        pty.write(KEY.ctrlD);
        assert.equal(await pty.exit(), 0);
        assert.match(visible(pty.output), /closed: 1000\n/);
      } finally {
        pty.kill();
      }
    });
  }
});

/**
 * Bad opening handshakes over real sockets: each one gets a precise HTTP answer (status,
 * the headers the RFC asks for, no internals in the body), the server closes the socket,
 * and a well-behaved `ws` client on the same server keeps working.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { WebSocket as WsClient } from 'ws';
import type { Server } from '../../src/server/server.js';
import { UpgradeRejection } from '../../src/types.js';
import { RawPeer, acceptFor, clientFrame, rawRequest, upgradeRequest } from '../support/raw.js';
import { Recorder, assertEchoes, closeWs, listening, wsClient } from '../support/server.js';
import { delay } from '../support/timing.js';

/** RFC 6455 §1.3's sample key and its accept value. */
const SAMPLE_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const SAMPLE_ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

const HANDSHAKE_TIMEOUT = 400;
/** `listen` checks Node's headersTimeout this often: min(handshakeTimeout, 1 s). */
const CHECKING_INTERVAL = Math.min(HANDSHAKE_TIMEOUT, 1000);
/** Scheduling slack on a loaded two-core machine. */
const SLACK = 400;

function request(path: string, headers: Record<string, string> = {}, requestLine?: string): string {
  const text = upgradeRequest(path, SAMPLE_KEY, headers);
  return requestLine === undefined ? text : text.replace(/^[^\r]*/, requestLine);
}

describe('the opening handshake over real sockets', { timeout: 30_000 }, () => {
  let server: Server;
  let port: number;
  let good: WsClient;
  const recorder = new Recorder();

  before(async () => {
    const started = await listening({ handshakeTimeout: HANDSHAKE_TIMEOUT }, (s) => {
      s.route('/echo', recorder.echo());
      s.route('/reject', {
        upgrade() {
          throw new UpgradeRejection(403, 'origin not allowed', { 'X-Reason': 'origin' });
        },
      });
      s.route('/reject-async', {
        async upgrade() {
          await delay(5);
          throw new UpgradeRejection(401, 'who are you', { 'WWW-Authenticate': 'Bearer' });
        },
      });
      s.route('/throw', {
        upgrade() {
          throw new Error('database password is hunter2');
        },
      });
      s.route('/throw-async', {
        upgrade() {
          return Promise.reject(new TypeError('secret stack detail'));
        },
      });
      s.route('/thenable', {
        upgrade() {
          // Not a Promise, but awaitable: treated like one.
          return { then: (_resolve: unknown, reject: (error: unknown) => void) => reject(new UpgradeRejection(403, 'thenable said no')) } as never;
        },
      });
      s.route('/hang', {
        upgrade() {
          return new Promise<void>(() => {});
        },
      });
      s.route('/bad-protocol', {
        upgrade() {
          return { protocol: 'never-offered' };
        },
      });
      s.route('/bad-header', {
        upgrade() {
          return { headers: { 'X-Split': 'a\r\nSet-Cookie: stolen=1' } };
        },
      });
    });
    server = started.server;
    port = started.port;
    good = await wsClient(`${started.url}/echo`);
  });

  after(async () => {
    await closeWs(good);
    await server.close({ timeout: 500 });
  });

  /** Sends `text`, expects `status`, the server to close, and the bystander to echo. */
  async function expectRefusal(text: string, status: number): Promise<{ headers: Record<string, string>; body: string }> {
    const { head, body, peer } = await rawRequest(port, text);
    assert.equal(head.status, status, head.raw);
    await peer.waitEnd(2000);
    assert.equal(peer.finSent, false, 'the server closed the connection');
    await assertEchoes(good);
    return { headers: head.headers, body };
  }

  it('answers a valid request with 101 and the §1.3 accept value', async () => {
    const peer = await RawPeer.connect(port);
    peer.write(request('/echo'));
    const head = await peer.readHead();
    assert.equal(head.status, 101);
    assert.equal(head.headers['upgrade']?.toLowerCase(), 'websocket');
    assert.equal(head.headers['connection']?.toLowerCase(), 'upgrade');
    assert.equal(head.headers['sec-websocket-accept'], SAMPLE_ACCEPT);
    assert.equal(acceptFor(SAMPLE_KEY), SAMPLE_ACCEPT);
    assert.equal(head.headers['sec-websocket-protocol'], undefined, 'no subprotocol when none was offered');
    assert.equal(head.headers['sec-websocket-extensions'], undefined, 'no extension when none was offered');
    peer.destroy();
  });

  for (const [name, headers] of [
    ['Connection: keep-alive, Upgrade (as Firefox sends it)', { Connection: 'keep-alive, Upgrade' }],
    ['Upgrade and Connection in other letter cases', { Upgrade: 'WebSocket', Connection: 'upgrade' }],
    ['a subprotocol list with spaces and an empty item', { 'Sec-WebSocket-Protocol': 'chat ,  , superchat' }],
  ] as const) {
    it(`accepts ${name}`, async () => {
      const peer = await RawPeer.connect(port);
      peer.write(request('/echo', headers));
      const head = await peer.readHead();
      assert.equal(head.status, 101, head.raw);
      assert.equal(head.headers['sec-websocket-accept'], SAMPLE_ACCEPT);
      peer.destroy();
    });
  }

  // `listen` answers a plain handshake read whole in the first read itself, and hands any
  // other request, bytes and all, to its HTTP server: both paths end the same way.
  it('upgrades a head that arrives in pieces (through the HTTP server)', async () => {
    const peer = await RawPeer.connect(port);
    const text = request('/echo');
    peer.write(text.slice(0, 20));
    await delay(30);
    peer.write(text.slice(20));
    const head = await peer.readHead();
    assert.equal(head.status, 101, head.raw);
    assert.equal(head.headers['sec-websocket-accept'], SAMPLE_ACCEPT);
    peer.send({ opcode: 1, payload: 'after pieces' });
    assert.equal((await peer.readFrame()).payload.toString(), 'after pieces');
    peer.destroy();
  });

  it('upgrades a head with a repeated field (through the HTTP server, which joins them)', async () => {
    const peer = await RawPeer.connect(port);
    peer.write(request('/echo').replace('\r\n\r\n', '\r\nSec-WebSocket-Protocol: a\r\nSec-WebSocket-Protocol: b\r\n\r\n'));
    const head = await peer.readHead();
    assert.equal(head.status, 101, head.raw);
    peer.destroy();
  });

  it('keeps frames sent in the same packet as the head, in order', async () => {
    const peer = await RawPeer.connect(port);
    peer.write(
      Buffer.concat([
        Buffer.from(request('/echo')),
        clientFrame({ opcode: 1, payload: 'one' }),
        clientFrame({ opcode: 1, payload: 'two' }),
      ]),
    );
    assert.equal((await peer.readHead()).status, 101);
    assert.equal((await peer.readFrame()).payload.toString(), 'one');
    assert.equal((await peer.readFrame()).payload.toString(), 'two');
    peer.destroy();
  });

  it('survives clients that reset before, during and right after their head', async () => {
    for (const cut of [0, 10, request('/echo').length]) {
      const peer = await RawPeer.connect(port);
      if (cut > 0) peer.write(request('/echo').slice(0, cut));
      await delay(5);
      peer.socket.resetAndDestroy();
    }
    await delay(20);
    await assertEchoes(good);
  });

  it('answers a missing Sec-WebSocket-Key with 400', async () => {
    await expectRefusal(request('/echo', { 'Sec-WebSocket-Key': '' }), 400);
  });

  for (const [name, key] of [
    ['too short', 'abc'],
    ['base64 of 18 bytes', 'AAAAAAAAAAAAAAAAAAAAAAAA'],
    ['not base64', '!!!!!!!!!!!!!!!!!!!!!!=='],
    ['two keys in one header', `${SAMPLE_KEY}, ${SAMPLE_KEY}`],
  ] as const) {
    it(`answers a malformed Sec-WebSocket-Key (${name}) with 400`, async () => {
      await expectRefusal(request('/echo', { 'Sec-WebSocket-Key': key }), 400);
    });
  }

  it('answers Sec-WebSocket-Version 8 with 426 and Sec-WebSocket-Version: 13 (§4.2.2)', async () => {
    const { headers } = await expectRefusal(request('/echo', { 'Sec-WebSocket-Version': '8' }), 426);
    assert.equal(headers['sec-websocket-version'], '13');
  });

  it('answers a missing Sec-WebSocket-Version with 426 and Sec-WebSocket-Version: 13', async () => {
    const { headers } = await expectRefusal(request('/echo', { 'Sec-WebSocket-Version': '' }), 426);
    assert.equal(headers['sec-websocket-version'], '13');
  });

  it('answers a POST upgrade with 405 and Allow: GET (§4.2.1)', async () => {
    const { headers } = await expectRefusal(request('/echo', {}, 'POST /echo HTTP/1.1'), 405);
    assert.equal(headers['allow'], 'GET');
  });

  it('answers an HTTP/1.0 upgrade with 400', async () => {
    await expectRefusal(request('/echo', {}, 'GET /echo HTTP/1.0'), 400);
  });

  it('answers a request without Host with 400', async () => {
    await expectRefusal(request('/echo', { Host: '' }), 400);
  });

  it('answers an Upgrade that is not "websocket" with 400', async () => {
    await expectRefusal(request('/echo', { Upgrade: 'h2c' }), 400);
  });

  it('answers an invalid Sec-WebSocket-Protocol list with 400', async () => {
    await expectRefusal(request('/echo', { 'Sec-WebSocket-Protocol': 'chat/1' }), 400);
  });

  it('answers a route request without an Upgrade header with 426 naming websocket', async () => {
    const { head, peer } = await rawRequest(port, request('/echo', { Upgrade: '' }));
    assert.equal(head.status, 426);
    assert.equal(head.headers['upgrade'], 'websocket');
    assert.equal(head.headers['sec-websocket-version'], '13');
    peer.destroy();
    await assertEchoes(good);
  });

  it('answers a route request without the Connection: Upgrade token with 426', async () => {
    const { head, peer } = await rawRequest(port, request('/echo', { Connection: 'keep-alive' }));
    assert.equal(head.status, 426);
    assert.equal(head.headers['upgrade'], 'websocket');
    peer.destroy();
    await assertEchoes(good);
  });

  it('routes an absolute-form request-target by its path (RFC 9112 §3.2.2)', async () => {
    const peer = await RawPeer.connect(port);
    peer.write(request('/echo', {}, `GET http://127.0.0.1:${port}/echo?x=1 HTTP/1.1`));
    const head = await peer.readHead();
    assert.equal(head.status, 101);
    assert.equal(head.headers['sec-websocket-accept'], SAMPLE_ACCEPT);
    peer.write(clientFrame({ opcode: 0x1, payload: Buffer.from('absolute') }));
    assert.equal((await peer.readFrame()).payload.toString(), 'absolute');
    peer.destroy();
  });

  it('answers an asterisk-form or authority-form request-target with 400', async () => {
    await expectRefusal(request('/echo', {}, 'GET * HTTP/1.1'), 400);
    await expectRefusal(request('/echo', {}, 'GET example.com:443 HTTP/1.1'), 400);
  });

  it('refuses an HTTP/2.0 request line on an HTTP/1.1 connection with 505', async () => {
    await expectRefusal(request('/echo', {}, 'GET /echo HTTP/2.0'), 505);
  });

  it('closes a refused socket within a second even while the client keeps sending', async () => {
    const peer = await RawPeer.connect(port, { allowHalfOpen: true });
    peer.write(request('/nowhere'));
    assert.equal((await peer.readHead()).status, 404);
    const started = Date.now();
    const trickle = setInterval(() => peer.closed || peer.write('x'), 100);
    try {
      await peer.waitClosed(1000 + SLACK);
    } finally {
      clearInterval(trickle);
    }
    assert.ok(Date.now() - started <= 1000 + SLACK);
    await assertEchoes(good);
  });

  it('answers an upgrade on a path with no route with 404', async () => {
    await expectRefusal(request('/nowhere'), 404);
  });

  it('answers a header section over 16 KiB with 431', async () => {
    await expectRefusal(request('/echo', { 'X-Padding': 'a'.repeat(20_000) }), 431);
  });

  it('answers UpgradeRejection(403) with its status, headers and message', async () => {
    const opened = recorder.of('open').length;
    const { headers, body } = await expectRefusal(request('/reject'), 403);
    assert.equal(headers['x-reason'], 'origin');
    assert.equal(body, 'origin not allowed\n');
    assert.equal(recorder.of('open').length, opened, 'no peer was opened for it');
  });

  it('answers an async UpgradeRejection(401) with its status and headers', async () => {
    const { headers } = await expectRefusal(request('/reject-async'), 401);
    assert.equal(headers['www-authenticate'], 'Bearer');
  });

  it('awaits an upgrade hook that returns a thenable, as it awaits a promise', async () => {
    const { body } = await expectRefusal(request('/thenable'), 403);
    assert.equal(body, 'thenable said no\n');
  });

  it('answers a hook that throws with 500 and no details', async () => {
    const { body } = await expectRefusal(request('/throw'), 500);
    assert.equal(body, '');
  });

  it('answers a hook whose promise rejects with 500 and no details', async () => {
    const { body } = await expectRefusal(request('/throw-async'), 500);
    assert.equal(body, '');
  });

  it('answers 500 when the hook selects a subprotocol the client did not offer (§4.2.2)', async () => {
    const { body } = await expectRefusal(request('/bad-protocol', { 'Sec-WebSocket-Protocol': 'chat' }), 500);
    assert.equal(body, '');
  });

  it('answers 500 rather than split the response when a hook header holds a line break', async () => {
    const { headers } = await expectRefusal(request('/bad-header'), 500);
    assert.equal(headers['set-cookie'], undefined);
  });

  it('answers 408 when the upgrade hook has not settled at the handshake timeout', async () => {
    const started = Date.now();
    await expectRefusal(request('/hang'), 408);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= HANDSHAKE_TIMEOUT - 150, `refused after ${elapsed} ms`);
    assert.ok(elapsed <= HANDSHAKE_TIMEOUT + 150 + SLACK, `refused after ${elapsed} ms`);
  });

  for (const [name, partial, trickle] of [
    ['sends nothing', '', false],
    ['never finishes its request head', 'GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n', false],
    ['trickles its request head one byte every 50 ms', request('/echo'), true],
  ] as const) {
    it(`closes a client that ${name} within handshakeTimeout + checking interval`, async () => {
      const peer = await RawPeer.connect(port);
      const started = Date.now();
      let stop = false;
      if (trickle) {
        void (async () => {
          for (let i = 0; i < partial.length - 1 && !stop && !peer.closed; i++) {
            peer.write(partial[i]!);
            await delay(50);
          }
        })();
      } else if (partial !== '') {
        peer.write(partial);
      }
      try {
        await peer.waitClosed(HANDSHAKE_TIMEOUT + CHECKING_INTERVAL + SLACK);
      } finally {
        stop = true;
      }
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= HANDSHAKE_TIMEOUT - 50, `closed after ${elapsed} ms`);
      assert.ok(elapsed <= HANDSHAKE_TIMEOUT + CHECKING_INTERVAL + SLACK, `closed after ${elapsed} ms`);
      const answer = peer.rest();
      assert.ok(answer === '' || answer.startsWith('HTTP/1.1 408 '), `answered ${JSON.stringify(answer)}`);
      await assertEchoes(good);
    });
  }
});

describe('the catch-all route', { timeout: 10_000 }, () => {
  it('answers a GET with a WebSocket key but no Upgrade with 426 and the headers, and leaves other requests to the application', async () => {
    const recorder = new Recorder();
    const { server, port } = await listening({}, (s) => s.route('*', recorder.echo()));
    try {
      const { head, peer } = await rawRequest(port, request('/anything', { Upgrade: '' }));
      assert.equal(head.status, 426);
      assert.equal(head.headers['upgrade'], 'websocket');
      assert.equal(head.headers['sec-websocket-version'], '13');
      peer.destroy();
      const plain = await rawRequest(port, 'GET /page HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      assert.equal(plain.head.status, 404, 'a request that is no handshake goes to the fallback');
      plain.peer.destroy();
    } finally {
      await server.close({ timeout: 200 });
    }
  });
});

describe('the connection limit', { timeout: 10_000 }, () => {
  it('answers 503 with Retry-After beyond maxConnections, and accepts again once one leaves', async () => {
    const recorder = new Recorder();
    const { server, port, url } = await listening({ maxConnections: 2 }, (s) => s.route('*', recorder.echo()));
    try {
      const good = await wsClient(`${url}/good`);
      const second = await RawPeer.open(port, '/second');
      const { head, peer } = await rawRequest(port, request('/third'));
      assert.equal(head.status, 503);
      assert.equal(head.headers['retry-after'], '1');
      await peer.waitEnd();
      await assertEchoes(good);
      assert.equal(server.connections, 2);
      // A connection leaves: there is room again.
      second.destroy();
      await recorder.wait('close');
      const fourth = await RawPeer.open(port, '/fourth');
      fourth.destroy();
      await closeWs(good);
    } finally {
      await server.close({ timeout: 200 });
    }
  });

  it('counts handshakes in progress against maxConnections', async () => {
    const { server, port, url } = await listening({ maxConnections: 2, handshakeTimeout: 2000 }, (s) => {
      s.route('/slow', {
        async upgrade() {
          await delay(300);
          return {};
        },
      });
      s.route('*', new Recorder().echo());
    });
    try {
      const good = await wsClient(`${url}/good`);
      const slow = await RawPeer.connect(port);
      slow.write(request('/slow'));
      await delay(50);
      const { head } = await rawRequest(port, request('/third'));
      assert.equal(head.status, 503);
      assert.equal((await slow.readHead()).status, 101);
      slow.destroy();
      await assertEchoes(good);
      await closeWs(good);
    } finally {
      await server.close({ timeout: 200 });
    }
  });
});

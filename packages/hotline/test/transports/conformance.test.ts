import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import type { HotlineClient } from '../../src/browser/client.js';
import type { Peer } from '../../src/types.js';
import { ALL, type TestServer, closed, next, open, recorder, sleep, startServer, waitFor } from './helpers.js';

/**
 * One conformance suite, run against every transport: the same application, the same
 * client API, the same expectations. What differs is only how the bytes travel.
 */

interface Log {
  opens: Peer[];
  closes: Map<Peer, [number, string]>;
  received: string[];
}

/** The application under test: an echo with a few commands. */
function app(log: Log) {
  return {
    '/c': {
      open(peer: Peer) {
        log.opens.push(peer);
      },
      message(peer: Peer, data: Buffer, isBinary: boolean) {
        const text = isBinary ? '' : data.toString();
        log.received.push(isBinary ? 'hex:' + data.toString('hex') : text);
        if (text.startsWith('cmd:close:')) {
          const [, , code, reason] = text.split(':');
          peer.close(Number(code), reason);
        } else if (text.startsWith('cmd:push:')) {
          // Sent later, from a timer: no request of the client is waiting for it.
          const [, , count, delay] = text.split(':');
          setTimeout(() => {
            for (let i = 0; i < Number(count); i++) peer.send(`push-${i}`);
          }, Number(delay));
        } else {
          peer.send(data, isBinary);
        }
      },
      close(peer: Peer, code: number, reason: string) {
        log.closes.set(peer, [code, reason]);
      },
    },
  };
}

/** A fetch that can be cut off ("the network is down") and can drop chosen responses. */
class Network {
  downUntil = 0;
  /** Drop the answer of the next poll that carries a message (the server wrote it). */
  dropNextPoll = false;
  /** Drop the answer of the next POST that carries a message (the server processed it). */
  dropNextPost = false;
  dropped = { polls: 0, posts: 0, streams: 0 };

  readonly fetch = async (input: Parameters<typeof fetch>[0], init?: RequestInit): Promise<Response> => {
    if (Date.now() < this.downUntil) throw new TypeError('fetch failed (network down)');
    const url = new URL(String(input));
    const response = await fetch(input, init);
    const isPost = init?.method === 'POST';
    const bodyLength = init?.body ? (init.body as Uint8Array).length : 0;
    if (isPost && this.dropNextPost && bodyLength > 4) {
      this.dropNextPost = false;
      this.dropped.posts++;
      await response.arrayBuffer();
      throw new TypeError('fetch failed (answer lost)');
    }
    if (!isPost && url.searchParams.get('transport') === 'sse') return this.cutStream(response);
    if (!isPost && url.searchParams.has('sid') && this.dropNextPoll) {
      const body = new Uint8Array(await response.arrayBuffer());
      if (body.length > 4 && body.includes(0x3a)) {
        this.dropNextPoll = false;
        this.dropped.polls++;
        throw new TypeError('fetch failed (answer lost)');
      }
      return new Response(body, { status: response.status, headers: response.headers });
    }
    return response;
  };

  down(ms: number): void {
    this.downUntil = Date.now() + ms;
  }

  /** Passes the stream through until a chunk with an event in it, which is lost with the connection. */
  private cutStream(response: Response): Response {
    const reader = response.body!.getReader();
    const self = this;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { done, value } = await reader.read();
        if (done) return controller.close();
        if (self.dropNextPoll && Buffer.from(value).includes('id: ')) {
          self.dropNextPoll = false;
          self.dropped.streams++;
          await reader.cancel();
          controller.error(new TypeError('network error (stream cut)'));
          return;
        }
        controller.enqueue(value);
      },
      cancel() {
        return reader.cancel();
      },
    });
    return new Response(body, { status: response.status, headers: response.headers });
  }
}

for (const transport of ALL) {
  describe(`conformance over ${transport}`, () => {
    let ts: TestServer;
    const log: Log = { opens: [], closes: new Map(), received: [] };
    const clients: HotlineClient[] = [];
    const client = (options = {}) => {
      const c = open(ts.url('/c'), transport, { reconnect: { minDelay: 50, maxDelay: 200 }, ...options });
      clients.push(c);
      return c;
    };

    before(async () => {
      ts = await startServer(() => app(log));
    });
    after(async () => {
      for (const c of clients) c.close();
      await ts.close();
    });

    it('opens with the transport it was asked for, and the peer knows it', async () => {
      const c = client();
      await next(c, 'open');
      assert.equal(c.transport, transport);
      assert.equal(log.opens.at(-1)!.transport, transport);
      c.close();
    });

    it('delivers 200 messages in order, both ways', async () => {
      const c = client();
      const rec = recorder(c);
      const expected = Array.from({ length: 200 }, (_, i) => `m${i}`);
      // Sent before the open: they wait and leave in order.
      for (const m of expected) c.send(m);
      assert.deepEqual(await rec.until(200), expected);
      c.close();
    });

    it('carries text and binary exactly: empty, CR LF, non-ASCII, a leading U+FEFF, every byte value', async () => {
      const c = client();
      const rec = recorder(c);
      await next(c, 'open');
      const every = Uint8Array.from({ length: 256 }, (_, i) => i);
      // A leading U+FEFF is text, not a byte order mark to drop.
      const texts = ['', 'a\r\nb\rc\nd', 'é中😀', 'data: x\n\nid: 9', ' leading space', ':colon', '\ufeffhi', '\ufeff\ufeff'];
      for (const t of texts) c.send(t);
      c.send(every);
      c.send(new Uint8Array(0));
      c.send(new Uint8Array([0x3a, 0x0a, 0x0d]).buffer);
      const got = await rec.until(texts.length + 3);
      assert.deepEqual(got, [...texts, 'hex:' + Buffer.from(every).toString('hex'), 'hex:', 'hex:3a0a0d']);
      c.close();
    });

    it('carries 1 MiB messages, text and binary, both ways', async () => {
      const c = client();
      const rec = recorder(c);
      await next(c, 'open');
      const big = Buffer.alloc(1024 * 1024);
      for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 10)) & 255;
      const bigText = 'x'.repeat(512 * 1024) + 'é'.repeat(256 * 1024); // 1 MiB of UTF-8
      c.send(big);
      c.send(bigText);
      const got = await rec.until(2, 20_000);
      assert.equal(got[0], 'hex:' + big.toString('hex'));
      assert.equal(got[1], bigText);
      c.close();
    });

    it('pushes from the server while no request of the client is pending', async () => {
      const c = client();
      const rec = recorder(c);
      await next(c, 'open');
      c.send('cmd:push:3:300');
      assert.deepEqual(await rec.until(3), ['push-0', 'push-1', 'push-2']);
      c.close();
    });

    it('reports a server close with its code and reason, to the client and the handler', async () => {
      const c = client();
      await next(c, 'open');
      const peer = log.opens.at(-1)!;
      c.send('cmd:close:4001:bye now');
      const event = await closed(c);
      assert.deepEqual([event.code, event.reason, event.wasClean], [4001, 'bye now', true]);
      assert.equal(c.readyState, 3);
      await waitFor(() => log.closes.has(peer), 'the close hook');
      // The handler sees the code; over WebSocket the reason is the one in the client's
      // echoed Close frame (RFC 6455 §5.5.1), which clients usually leave empty.
      assert.equal(log.closes.get(peer)![0], 4001);
      if (transport !== 'websocket') assert.equal(log.closes.get(peer)![1], 'bye now');
    });

    it('reports a client close with its code and reason to the handler', async () => {
      const c = client();
      await next(c, 'open');
      const peer = log.opens.at(-1)!;
      c.close(4002, 'done here');
      const event = await closed(c);
      assert.equal(event.code, 4002);
      await waitFor(() => log.closes.has(peer), 'the close hook');
      assert.deepEqual(log.closes.get(peer), [4002, 'done here']);
    });

    if (transport === 'websocket') {
      it('reconnects with backoff after the connection is lost, as a new session', async () => {
        const c = client();
        const rec = recorder(c);
        await next(c, 'open');
        const peer = log.opens.at(-1)!;
        const lost = next<Event & { code: number; willReconnect: boolean }>(c, 'close');
        const reopened = next(c, 'open', 5000);
        peer.terminate();
        const event = await lost;
        assert.equal(event.code, 1006);
        assert.equal(event.willReconnect, true);
        await reopened;
        assert.notEqual(log.opens.at(-1), peer);
        c.send('after');
        assert.deepEqual(await rec.until(1), ['after']);
        c.close();
      });
    } else {
      it('resumes the same session after the network drops: nothing lost, nothing twice', async () => {
        const net = new Network();
        const c = client({ fetch: net.fetch });
        const rec = recorder(c);
        await next(c, 'open');
        const sid = c.sid;
        const peer = log.opens.at(-1)!;
        let opens = 0;
        c.addEventListener('open', () => opens++);
        const resumed = next(c, 'resume', 8000);
        net.down(400);
        ts.server.httpServer!.closeAllConnections();
        for (let i = 0; i < 5; i++) peer.send(`during-${i}`);
        for (let i = 0; i < 5; i++) c.send(`up-${i}`);
        await resumed;
        const got = await rec.until(10);
        assert.deepEqual(got.filter((m) => m.startsWith('during')), [0, 1, 2, 3, 4].map((i) => `during-${i}`));
        assert.deepEqual(got.filter((m) => m.startsWith('up')), [0, 1, 2, 3, 4].map((i) => `up-${i}`));
        assert.equal(c.sid, sid);
        assert.equal(opens, 0);
        // Delivery is in order: a repeat of anything would come before a last message.
        peer.send('last');
        assert.equal((await rec.until(11)).at(-1), 'last');
        assert.equal(rec.messages.length, 11);
        c.close();
      });

      it('loses nothing and repeats nothing when a poll answer or a POST answer is dropped', async () => {
        const net = new Network();
        const c = client({ fetch: net.fetch });
        const rec = recorder(c);
        await next(c, 'open');
        const peer = log.opens.at(-1)!;
        const before = log.received.length;
        net.dropNextPoll = true;
        net.dropNextPost = true;
        for (let i = 0; i < 20; i++) {
          peer.send(`down-${i}`);
          c.send(`up-${i}`);
          if (i % 5 === 4) await sleep(60);
        }
        await rec.until(40, 10_000);
        // Delivery is in order: a repeat of anything would come before a last message.
        peer.send('last');
        const got = (await rec.until(41)).slice();
        assert.equal(got.pop(), 'last');
        assert.deepEqual(got.filter((m) => m.startsWith('down')), Array.from({ length: 20 }, (_, i) => `down-${i}`));
        assert.deepEqual(got.filter((m) => m.startsWith('up')), Array.from({ length: 20 }, (_, i) => `up-${i}`));
        assert.equal(rec.messages.length, 41);
        // The server delivered each upstream message once, although one POST was sent twice.
        assert.deepEqual(log.received.slice(before), Array.from({ length: 20 }, (_, i) => `up-${i}`));
        assert.equal(net.dropped.posts, 1);
        assert.equal(net.dropped.polls + net.dropped.streams, 1);
        c.close();
      });
    }
  });
}

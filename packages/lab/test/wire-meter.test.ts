// The byte counts the lab shows are only as good as this attribution: bytes read and
// written at a socket go to the owner of the request on it, exactly, with nothing lost
// or counted twice across keep-alive requests and upgrades.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { WireMeter } from '../src/wire-meter.js';

function ownerOf(request: http.IncomingMessage): string | null {
  const owner = new URL(request.url ?? '/', 'http://x').searchParams.get('owner');
  return owner;
}

async function withServer(
  onRequest: http.RequestListener,
  run: (port: number, meter: WireMeter, server: http.Server) => Promise<void>,
): Promise<void> {
  const server = http.createServer({ keepAliveTimeout: 5000 }, onRequest);
  // Upgraded sockets leave the server's books: close them ourselves at the end.
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const meter = new WireMeter(ownerOf);
  meter.attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await run((server.address() as AddressInfo).port, meter, server);
  } finally {
    for (const socket of sockets) socket.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** A raw client: what it writes and what it reads, byte for byte. */
class RawClient {
  readonly socket: net.Socket;
  written = 0;
  read = 0;
  private buffer = '';
  private waiters: Array<{ test: (s: string) => boolean; resolve: () => void }> = [];

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.on('data', (chunk: Buffer) => {
      this.read += chunk.length;
      this.buffer += chunk.toString('latin1');
      for (const w of [...this.waiters]) {
        if (w.test(this.buffer)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve();
        }
      }
    });
  }

  write(text: string | Buffer): void {
    const bytes = typeof text === 'string' ? Buffer.from(text, 'latin1') : text;
    this.written += bytes.length;
    this.socket.write(bytes);
  }

  /** Waits until the text received so far satisfies `test`, then clears it. */
  until(test: (s: string) => boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out; got ${JSON.stringify(this.buffer)}`)), 2000);
      const done = () => {
        clearTimeout(timer);
        this.buffer = '';
        resolve();
      };
      if (test(this.buffer)) done();
      else this.waiters.push({ test, resolve: done });
    });
  }
}

test('each request on a keep-alive socket gets exactly its own bytes', async () => {
  await withServer(
    (request, response) => {
      request.resume();
      request.on('end', () => response.end('x'.repeat(Number(new URL(request.url!, 'http://x').searchParams.get('n')))));
    },
    async (port, meter) => {
      const client = new RawClient(port);
      const first = 'GET /?owner=a&n=10 HTTP/1.1\r\nHost: x\r\n\r\n';
      client.write(first);
      await client.until((s) => s.endsWith('x'.repeat(10)));
      const afterFirst = client.read;
      const second = 'POST /?owner=b&n=300 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello';
      client.write(second);
      await client.until((s) => s.endsWith('x'.repeat(300)));
      // A request of nobody's on the same socket is not counted.
      client.write('GET /?n=1 HTTP/1.1\r\nHost: x\r\n\r\n');
      await client.until((s) => s.endsWith('\r\n\r\nx'));
      meter.flush();
      const a = meter.counters.get('a')!;
      const b = meter.counters.get('b')!;
      assert.equal(a.bytesIn, first.length);
      assert.equal(a.bytesOut, afterFirst);
      assert.equal(b.bytesIn, second.length);
      assert.equal(a.bytesOut + b.bytesOut < client.read, true);
      assert.equal(a.requests, 1);
      assert.equal(b.requests, 1);
      assert.equal(a.connections, 1, 'the socket was opened by a');
      assert.equal(b.connections, 0, 'b reused it');
      assert.equal(meter.counters.size, 2);
      client.socket.destroy();
    },
  );
});

test('an upgraded socket belongs to its owner for good, both directions', async () => {
  await withServer(
    (_request, response) => response.end(),
    async (port, meter, server) => {
      let serverSocketClosed: Promise<void> = Promise.resolve();
      server.on('upgrade', (_request, socket: net.Socket) => {
        serverSocketClosed = new Promise((resolve) => socket.once('close', () => resolve()));
        socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n');
        socket.on('data', (chunk: Buffer) => socket.write(Buffer.concat([chunk, chunk])));
        socket.on('end', () => socket.end());
      });
      const client = new RawClient(port);
      const upgrade = 'GET /?owner=ws HTTP/1.1\r\nHost: x\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n';
      client.write(upgrade);
      await client.until((s) => s.includes('\r\n\r\n'));
      client.write('ping!');
      await client.until((s) => s === 'ping!ping!');
      // Live counting: no request ends on an upgraded socket, flush() sees it.
      meter.flush();
      const ws = meter.counters.get('ws')!;
      assert.equal(ws.bytesIn, upgrade.length + 5);
      assert.equal(ws.bytesOut, client.read);
      assert.equal(ws.requests, 1);
      assert.equal(ws.upgrades, 1);
      client.write('more');
      await client.until((s) => s === 'moremore');
      client.socket.destroy();
      // The meter counts on the server socket's close, which this waits for (the meter's
      // own listener was added first, so it has run by then).
      await serverSocketClosed;
      // After close, the last bytes are counted without a flush.
      assert.equal(meter.counters.get('ws')!.bytesIn, upgrade.length + 9);
      assert.equal(meter.counters.get('ws')!.bytesOut, client.read);
      assert.equal(meter.openSockets, 0);
    },
  );
});

test('a held response is counted as it streams and reset() starts from zero', async () => {
  let held: http.ServerResponse | null = null;
  await withServer(
    (_request, response) => {
      response.writeHead(200, { 'Content-Type': 'text/plain' });
      response.write('a');
      held = response;
    },
    async (port, meter) => {
      const client = new RawClient(port);
      client.write('GET /?owner=sse HTTP/1.1\r\nHost: x\r\n\r\n');
      await client.until((s) => s.endsWith('1\r\na\r\n'));
      meter.flush();
      assert.equal(meter.counters.get('sse')!.bytesOut, client.read);
      meter.reset();
      assert.equal(meter.counters.size, 0);
      held!.write('bcd');
      await client.until((s) => s.endsWith('3\r\nbcd\r\n'));
      meter.flush();
      assert.equal(meter.counters.get('sse')!.bytesOut, '3\r\nbcd\r\n'.length);
      assert.equal(meter.counters.get('sse')!.bytesIn, 0);
      client.socket.destroy();
    },
  );
});

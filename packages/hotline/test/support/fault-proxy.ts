/**
 * A TCP proxy between a client and a server on 127.0.0.1 that a test can break and
 * restore, to play a broken link: the node↔Redis link cut while publishes go on. Two
 * ways to break it:
 *
 * - `sever`: every connection dropped, new ones refused (a peer that restarted, a
 *   firewall that resets) — the client sees the link go down at once;
 * - `stall`: nothing passes either way, connections stay open and new ones hang before
 *   they reach the server (a partition that drops packets: TCP retransmits, the client
 *   notices nothing but silence) — on `restore`, what was held goes through.
 */
import net from 'node:net';

interface Pair {
  readonly client: net.Socket;
  readonly upstream: net.Socket;
}

export class FaultProxy {
  private readonly sockets = new Set<net.Socket>();
  private readonly pairs = new Set<Pair>();
  /** Connections accepted while stalled, to join to the server on `restore`. */
  private readonly waiting = new Set<net.Socket>();
  private cut = false;
  private stalled = false;
  private constructor(
    private readonly server: net.Server,
    readonly port: number,
    private readonly targetPort: number,
  ) {}

  static async start(targetPort: number): Promise<FaultProxy> {
    let proxy: FaultProxy;
    const server = net.createServer((client) => {
      if (proxy.cut) return client.destroy();
      if (!proxy.stalled) return proxy.join(client);
      client.pause();
      client.on('error', () => undefined);
      proxy.waiting.add(client);
      client.on('close', () => proxy.waiting.delete(client));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new FaultProxy(server, (server.address() as net.AddressInfo).port, targetPort);
    return proxy;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Drops every connection through it, and refuses new ones until `restore`. */
  sever(): void {
    this.cut = true;
    for (const socket of [...this.sockets, ...this.waiting]) socket.destroy();
  }

  /** Lets nothing through either way, and holds new connections, until `restore`. */
  stall(): void {
    if (this.stalled) return;
    this.stalled = true;
    for (const { client, upstream } of this.pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
    }
  }

  restore(): void {
    this.cut = false;
    if (!this.stalled) return;
    this.stalled = false;
    for (const { client, upstream } of this.pairs) {
      client.pipe(upstream);
      upstream.pipe(client);
    }
    for (const client of [...this.waiting]) {
      this.waiting.delete(client);
      this.join(client);
      client.resume();
    }
  }

  async close(): Promise<void> {
    this.sever();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private join(client: net.Socket): void {
    const upstream = net.connect(this.targetPort, '127.0.0.1');
    const pair = { client, upstream };
    this.pairs.add(pair);
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on('close', () => {
        this.sockets.delete(socket);
        this.pairs.delete(pair);
      });
      socket.on('error', () => undefined);
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  }
}

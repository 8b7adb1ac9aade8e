import net, { type AddressInfo } from 'node:net';

/**
 * A load balancer without affinity, as small as it gets: each new TCP connection goes to
 * the next backend in turn, bytes piped both ways. A client's requests then land on the
 * nodes as their connections do: a held poll on one, a POST made meanwhile on another.
 */
export interface RoundRobin {
  readonly port: number;
  /** Connections sent to each backend so far, by index. */
  readonly counts: number[];
  close(): Promise<void>;
}

export async function roundRobin(backends: readonly number[]): Promise<RoundRobin> {
  const counts = backends.map(() => 0);
  const sockets = new Set<net.Socket>();
  let turn = 0;
  const server = net.createServer((client) => {
    const index = turn++ % backends.length;
    counts[index]!++;
    const upstream = net.connect(backends[index]!, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => socket.destroy());
      socket.on('close', () => sockets.delete(socket));
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    counts,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

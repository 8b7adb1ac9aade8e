/**
 * The server side of `hotline bench transports`, in a process of its own so that its CPU
 * time is its own: the lab server with one transport, driven over IPC by the bench.
 *
 *   parent → child  {id, op: 'clock' | 'start' | 'snapshot' | 'stop' | 'close'}
 *   child → parent  {type: 'ready', port} once, then {id, ...answer} per request
 */
import { createLab } from './lab-server.js';
import type { LabTransport } from './palette.js';
import { serverNow } from './stream-message.js';

export interface BenchServerConfig {
  transport: LabTransport;
  rate: number;
  size: number;
  interval: number;
  hold: number;
  maxPeers: number;
  seed: number;
  /** HTTP/2 over TLS with this key and certificate (the bench's clients count the frames). */
  tls?: { key: string; cert: string };
}

export interface BenchServerSnapshot {
  /** The stream's last sequence number. */
  lastSeq: number;
  /** Process CPU time (µs, user + system) since start. */
  cpuMicros: number;
  rssBytes: number;
  peers: number;
  requests: number;
  emptyResponses: number;
  connections: number;
  bytesIn: number;
  bytesOut: number;
  sent: number;
  /** The last short poll's head bytes (request + response head), HTTP/1.1 only; null otherwise. */
  pollHeadBytes: number | null;
}

type Request = { id: number; op: 'clock' | 'start' | 'snapshot' | 'stop' | 'close' };

async function main(): Promise<void> {
  const config = JSON.parse(process.env.HOTLINE_BENCH_SERVER ?? '{}') as BenchServerConfig;
  const lab = await createLab({
    transports: [config.transport],
    rate: config.rate,
    size: config.size,
    interval: config.interval,
    hold: config.hold,
    maxPeers: config.maxPeers,
    seed: config.seed,
    start: false,
    ...(config.tls !== undefined ? { tls: config.tls, tapHttp2: false } : {}),
  });
  lab.stats.cpuAttribution = 'process';
  const { port } = await lab.listen(0, '127.0.0.1');
  const send = (message: unknown) => process.send!(message);

  process.on('message', (message: Request) => {
    switch (message.op) {
      case 'clock':
        send({ id: message.id, now: serverNow() });
        break;
      case 'start':
        lab.stream.start();
        send({ id: message.id });
        break;
      case 'stop':
        lab.stream.stop();
        send({ id: message.id });
        break;
      case 'snapshot': {
        const snapshot = lab.snapshot().transports[config.transport];
        const cpu = process.cpuUsage();
        const answer: BenchServerSnapshot = {
          lastSeq: lab.stream.lastSeq,
          cpuMicros: cpu.user + cpu.system,
          rssBytes: process.memoryUsage.rss(),
          peers: snapshot.peers,
          requests: snapshot.requests,
          emptyResponses: snapshot.emptyResponses,
          connections: snapshot.connections,
          bytesIn: snapshot.bytesIn,
          bytesOut: snapshot.bytesOut,
          sent: snapshot.sent,
          pollHeadBytes: lab.stats.poll === null || config.tls !== undefined ? null : lab.stats.poll.requestBytes + lab.stats.poll.responseHeadBytes,
        };
        send({ id: message.id, snapshot: answer });
        break;
      }
      case 'close':
        lab.close().then(
          () => {
            send({ id: message.id });
            process.disconnect();
          },
          () => process.exit(1),
        );
        break;
    }
  });
  // The bench going away takes its server with it.
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', port });
}

main().catch((error: unknown) => {
  process.stderr.write(`bench server: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});

// What is measured. `full` is the setting, `smoke` a few-second
// variant that only proves the machinery works. `target` is Hotline's goal as
// a ratio to ws (and to the raw ceiling where given).
export const SCENARIOS = {
  'echo-64': {
    kind: 'echo',
    title: 'echo 64 B text, 100 conns x 16 in flight',
    unit: 'msg/s',
    full: { conns: 100, inflight: 16, size: 64, binary: false },
    smoke: { conns: 20, inflight: 4, size: 64, binary: false },
    target: { ws: 7, raw: 0.75 },
  },
  'echo-16k': {
    kind: 'echo',
    title: 'echo 16 KiB binary, 50 x 4',
    unit: 'msg/s',
    full: { conns: 50, inflight: 4, size: 16 * 1024, binary: true },
    smoke: { conns: 10, inflight: 2, size: 16 * 1024, binary: true },
    target: { ws: 1.3 },
  },
  'echo-1m': {
    kind: 'echo',
    title: 'echo 1 MiB binary, 8 x 1',
    unit: 'msg/s',
    full: { conns: 8, inflight: 1, size: 1024 * 1024, binary: true },
    smoke: { conns: 4, inflight: 1, size: 1024 * 1024, binary: true },
    target: { ws: 1.6 },
  },
  fanout: {
    kind: 'fanout',
    title: 'fan-out 64 B to 10,000 subscribers on /broadcast',
    unit: 'deliveries/s',
    // inflight: publishes not yet delivered to every subscriber. More than one
    // keeps the server busy while the last subscribers read.
    full: { conns: 10000, inflight: 4, size: 64, binary: false, concurrency: 200 },
    smoke: { conns: 200, inflight: 4, size: 64, binary: false, concurrency: 50 },
    target: { ws: 1.3 },
  },
  handshakes: {
    kind: 'handshake',
    title: '10,000 handshakes, 100 in progress',
    unit: 'handshakes/s',
    full: { count: 10000, concurrency: 100 },
    smoke: { count: 200, concurrency: 20 },
    target: { ws: 2 },
  },
  'idle-memory': {
    kind: 'idle',
    title: 'RSS per idle connection at 10,000',
    unit: 'B/conn',
    lowerIsBetter: true,
    full: { conns: 10000, concurrency: 200, prewarm: 500 },
    smoke: { conns: 200, concurrency: 50, prewarm: 20 },
    target: { ws: 0.85 },
  },
};

// Preloaded (`node --expose-gc --import probe.mjs ...`) into every Node peer so
// the benchmark can ask for a full GC and a memory reading over the IPC channel
// before it reads VmRSS. It does nothing when there is no channel.
if (typeof process.send === 'function') {
  process.on('message', (m) => {
    if (!m || m.type !== 'gc') return;
    const gc = globalThis.gc;
    if (typeof gc === 'function') {
      gc();
      gc();
    }
    const mu = process.memoryUsage();
    process.send({
      type: 'mem',
      gc: typeof gc === 'function',
      rss: mu.rss,
      heapUsed: mu.heapUsed,
      external: mu.external,
      arrayBuffers: mu.arrayBuffers,
    });
  });
  // The channel must not keep a peer alive on its own.
  process.channel?.unref();
}

// The counting window: after a reset only the window's messages count, whatever arrives
// late, and every figure of /stats agrees with the others at every moment.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { type Lab, createLab } from '../src/lab-server.js';
import { LAB_TRANSPORTS, type LabTransport } from '../src/palette.js';
import { type SimClient, connectSim } from '../src/sim-client.js';
import { parseMessage, serverNow } from '../src/stream-message.js';
import type { ReceiverReport } from '../src/receiver-report.js';
import type { StatsSnapshot } from '../src/snapshot.js';

const labs = new Set<Lab>();
const sims = new Set<SimClient>();
after(async () => {
  for (const sim of sims) sim.close();
  await Promise.all([...labs].map((lab) => lab.close()));
});

const JSON_TYPE = { 'Content-Type': 'application/json' };

function empty(): ReceiverReport {
  return { seqs: [], latencies: [], lost: 0, duplicates: 0, payloadBytes: 0 };
}

/** One receiver per transport, as the page has, reporting when asked. */
async function receivers(base: string, transports: readonly LabTransport[]) {
  const pending = new Map<LabTransport, ReceiverReport>(transports.map((t) => [t, empty()]));
  const newest = new Map<LabTransport, number>();
  const clients = transports.map((t) => {
    const sim = connectSim({
      url: `${base}/lab/stream`,
      transport: t,
      onMessage(text) {
        const m = parseMessage(text)!;
        const r = pending.get(t)!;
        newest.set(t, m.seq);
        r.seqs.push(m.seq);
        r.latencies.push(serverNow() - m.t);
        r.payloadBytes += text.length;
      },
    });
    sims.add(sim);
    return sim;
  });
  await Promise.all(clients.map((c) => c.opened));
  return {
    /** The newest message this transport's receiver got. */
    peek(t: LabTransport): number {
      return newest.get(t) ?? 0;
    },
    /** What arrived since the last call, taken away. */
    take(): Record<string, ReceiverReport> {
      const out = Object.fromEntries(pending);
      for (const t of transports) pending.set(t, empty());
      return out;
    },
    close() {
      for (const c of clients) c.close();
    },
  };
}

async function report(base: string, transports: Record<string, ReceiverReport>): Promise<StatsSnapshot> {
  const response = await fetch(`${base}/lab/report`, { method: 'POST', headers: JSON_TYPE, body: JSON.stringify({ transports }) });
  assert.equal(response.status, 200);
  return (await response.json()) as StatsSnapshot;
}

async function reset(base: string): Promise<StatsSnapshot> {
  return (await (await fetch(`${base}/lab/reset`, { method: 'POST', headers: JSON_TYPE, body: '{}' })).json()) as StatsSnapshot;
}

/** Every figure against the others: what must hold at any moment of a run. */
function check(s: StatsSnapshot, receiversPerTransport: number, when: string): void {
  assert.equal(s.stream.published, s.stream.lastSeq - s.stream.firstSeq + 1, `${when}: published is the window's messages`);
  assert.ok(s.elapsedSec >= 0 && s.now >= s.since, when);
  for (const t of LAB_TRANSPORTS) {
    const x = s.transports[t];
    assert.ok(x.inFlight >= 0, `${when}: ${t} in flight ${x.inFlight}`);
    assert.equal(x.delivered + x.lost + x.inFlight, x.sent, `${when}: ${t} delivered + lost + in flight = sent`);
    assert.ok(x.sent <= s.stream.published * receiversPerTransport, `${when}: ${t} sent ${x.sent} ≤ published ${s.stream.published}`);
    assert.ok(x.delivered <= s.stream.published, `${when}: ${t} delivered ${x.delivered} ≤ published ${s.stream.published}`);
    assert.equal(x.latencyMs.count, x.delivered, `${when}: ${t} one latency per delivery`);
    assert.ok(x.payloadBytes <= x.delivered * s.stream.size, `${when}: ${t} payload`);
    if (x.delivered === 0) assert.equal(x.perMessage.bytes, null, `${when}: ${t} no per-message figure before a delivery`);
  }
}

test('a backlog that arrives after a reset is not counted as new deliveries', { timeout: 20_000 }, async () => {
  const lab = await createLab({ rate: 50, size: 64, interval: 100, start: false });
  labs.add(lab);
  const { port } = await lab.listen(0, '127.0.0.1');
  const base = `http://127.0.0.1:${port}`;
  const r = await receivers(base, ['websocket', 'polling']);
  try {
    // Messages of the first window arrive but are reported only after the reset, as a
    // report in flight or a throttled background tab would.
    lab.stream.start();
    await waitFor(async () => lab.stream.lastSeq >= 20);
    lab.stream.stop();
    const before = lab.stream.lastSeq;
    await waitFor(async () => r.peek('polling') === before && r.peek('websocket') === before);
    const late = r.take();
    const fresh = await reset(base);
    check(fresh, 1, 'just after the reset');
    assert.equal(fresh.stream.published, 0);
    assert.equal(fresh.stream.firstSeq, before + 1);
    const afterLate = await report(base, late);
    check(afterLate, 1, 'after the late report');
    for (const t of LAB_TRANSPORTS) assert.equal(afterLate.transports[t].delivered, 0, `${t}: the old window's messages are not new deliveries`);
    // Then the window's own messages count, once each.
    lab.stream.start();
    await waitFor(async () => lab.stream.lastSeq >= before + 5);
    lab.stream.stop();
    const n = lab.stream.lastSeq - before;
    await waitFor(async () => r.peek('polling') === before + n && r.peek('websocket') === before + n);
    const s = await report(base, r.take());
    check(s, 1, "after the window's messages");
    assert.equal(s.stream.published, n);
    assert.equal(s.transports.websocket.delivered, n);
    assert.equal(s.transports.polling.delivered, n);
    // A report that repeats the same messages cannot push delivered past sent.
    const again = await report(base, { websocket: { seqs: [before + 1, before + 2], latencies: [1, 1], lost: 3, duplicates: 0, payloadBytes: 128 } });
    check(again, 1, 'after a repeated report');
    assert.equal(again.transports.websocket.delivered, n);
  } finally {
    r.close();
  }
});

test('every figure agrees with the others at every moment of a run with resets and a new interval', { timeout: 30_000 }, async () => {
  const lab = await createLab({ rate: 40, size: 100, interval: 120, start: false, changeBurst: 100 });
  labs.add(lab);
  const { port } = await lab.listen(0, '127.0.0.1');
  const base = `http://127.0.0.1:${port}`;
  const r = await receivers(base, LAB_TRANSPORTS);
  lab.stream.start();
  let samples = 0;
  try {
    const end = Date.now() + 3000;
    let nextReset = Date.now() + 700;
    let nextReport = Date.now() + 200;
    while (Date.now() < end) {
      if (Date.now() >= nextReport) {
        check(await report(base, r.take()), 1, `report ${samples}`);
        nextReport += 200;
      }
      if (Date.now() >= nextReset) {
        check(await reset(base), 1, `reset at sample ${samples}`);
        nextReset += 700;
      }
      check((await (await fetch(`${base}/stats`)).json()) as StatsSnapshot, 1, `sample ${samples}`);
      samples++;
      await new Promise((resolve) => setTimeout(resolve, 40));
    }
    assert.ok(samples > 20, `${samples} samples`);
    // A new poll interval is the one /stats shows, at once.
    const config = await fetch(`${base}/lab/config`, { method: 'POST', headers: JSON_TYPE, body: '{"interval": 300}' });
    assert.equal(config.status, 200);
    const s = (await (await fetch(`${base}/stats`)).json()) as StatsSnapshot;
    assert.equal(s.stream.interval, 300);
    // Drained and reported, nothing of the window was lost on any transport. The last
    // window holds a few messages however late its reset came (a busy machine).
    await waitFor(async () => lab.stream.published >= 5);
    lab.stream.stop();
    await new Promise((resolve) => setTimeout(resolve, 500));
    const last = await report(base, r.take());
    check(last, 1, 'drained');
    for (const t of LAB_TRANSPORTS) {
      assert.equal(last.transports[t].lost, 0, `${t}: nothing lost`);
      assert.equal(last.transports[t].inFlight, 0, `${t}: nothing left in flight`);
      assert.ok(last.transports[t].delivered > 0, `${t}: delivered in the last window`);
    }
  } finally {
    lab.stream.stop();
    r.close();
  }
});

async function waitFor(probe: () => Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) assert.fail('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

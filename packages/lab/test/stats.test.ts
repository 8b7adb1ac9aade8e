// GET /stats: its shape is a contract for scripts and monitoring, and its numbers must
// agree with each other and with what the clients saw.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { type Lab, createLab } from '../src/lab-server.js';
import { LAB_TRANSPORTS, type LabTransport } from '../src/palette.js';
import { type SimClient, connectSim } from '../src/sim-client.js';
import { parseMessage, serverNow } from '../src/stream-message.js';
import type { StatsSnapshot } from '../src/snapshot.js';
import type { ReceiverReport } from '../src/receiver-report.js';

const SIZE = 100; // ≤ 125: a 2-byte WebSocket frame header

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Whatever happens in a test (a timeout skips its `finally`), nothing is left open to
// keep this file's process alive.
const labs = new Set<Lab>();
const sims = new Set<SimClient>();
after(async () => {
  for (const sim of sims) sim.close();
  await Promise.race([Promise.all([...labs].map((lab) => lab.close())), sleep(3000)]);
});

async function withLab(run: (lab: Lab, base: string) => Promise<void>): Promise<void> {
  const lab = await createLab({ rate: 4, size: SIZE, interval: 150, start: false });
  labs.add(lab);
  const { port } = await lab.listen(0, '127.0.0.1');
  try {
    await run(lab, `http://127.0.0.1:${port}`);
  } finally {
    labs.delete(lab);
    await lab.close();
  }
}

function track(sim: SimClient): SimClient {
  sims.add(sim);
  return sim;
}

test('GET /stats has every transport with the documented fields', async () => {
  await withLab(async (_lab, base) => {
    const response = await fetch(`${base}/stats`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
    const stats = (await response.json()) as StatsSnapshot;
    assert.deepEqual(Object.keys(stats.transports).sort(), [...LAB_TRANSPORTS].sort());
    for (const t of LAB_TRANSPORTS) {
      const s = stats.transports[t];
      for (const key of ['delivered', 'requests', 'emptyResponses', 'bytesIn', 'bytesOut'] as const) {
        assert.equal(typeof s[key], 'number', `${t}.${key}`);
      }
      assert.equal(typeof s.latencyMs.p50, 'number');
      assert.equal(typeof s.latencyMs.p99, 'number');
    }
  });
});

test('the counters of a run agree with each other and with the clients', { timeout: 30_000 }, async () => {
  await withLab(async (lab, base) => {
    const reports = new Map<LabTransport, ReceiverReport>();
    const received = new Map<LabTransport, number>();
    const clients = LAB_TRANSPORTS.map((t) => {
      reports.set(t, { seqs: [], latencies: [], lost: 0, duplicates: 0, payloadBytes: 0 });
      received.set(t, 0);
      return track(connectSim({
        url: `${base}/lab/stream`,
        transport: t,
        onMessage(text) {
          const message = parseMessage(text)!;
          const r = reports.get(t)!;
          r.seqs.push(message.seq);
          r.payloadBytes += text.length;
          r.latencies.push(serverNow() - message.t);
          received.set(t, received.get(t)! + 1);
        },
      }));
    });
    try {
      await Promise.all(clients.map((c) => c.opened));
      lab.stream.start();
      await sleep(3000);
      lab.stream.stop();
      const published = lab.stream.lastSeq;
      assert.ok(published >= 3, `only ${published} events in 3 s at 4/s`);
      // Drain: the pollers come back within 150 ms, the rest at once.
      for (let i = 0; i < 40 && [...received.values()].some((n) => n < published); i++) await sleep(50);
      await sleep(400); // let the last polls come back empty, SSE acks go out

      // Report as the page does, through the endpoint; the answer is the snapshot.
      const response = await fetch(`${base}/lab/report`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ transports: Object.fromEntries(reports) }),
      });
      assert.equal(response.status, 200);
      const stats = (await response.json()) as StatsSnapshot;
      assert.equal(stats.stream.published, published);

      for (const t of LAB_TRANSPORTS) {
        const s = stats.transports[t];
        assert.equal(s.peers, 1, `${t} peers`);
        assert.equal(s.sent, published, `${t}: every event was handed to the transport`);
        assert.equal(s.delivered, published, `${t}: every event arrived once`);
        assert.equal(s.inFlight, 0, `${t}: nothing left in flight`);
        assert.equal(s.latencyMs.count, published, `${t}: one latency per message`);
        assert.ok(s.latencyMs.p50 <= s.latencyMs.p99, `${t}: p50 ≤ p99`);
        assert.equal(s.payloadBytes, published * SIZE);
        // Headers and framing are on top of the payload, in both directions.
        assert.ok(s.bytesOut > s.payloadBytes, `${t}: bytes out ${s.bytesOut} > payload ${s.payloadBytes}`);
        assert.ok(s.bytesIn > 0, `${t}: the client's request(s) were counted`);
        assert.ok(s.requests >= 1, `${t}: requests`);
        assert.ok(s.emptyResponses <= s.requests, `${t}: empty ≤ requests`);
        assert.ok(s.cpuMs >= 0);
      }
      const ws = stats.transports.websocket;
      // One upgrade request; after it, every byte out is a frame: 2 header bytes + payload,
      // plus the 101 response (a couple of hundred bytes).
      assert.equal(ws.requests, 1);
      assert.equal(ws.emptyResponses, 0);
      const handshake = ws.bytesOut - published * (SIZE + 2);
      assert.ok(handshake > 100 && handshake < 300, `101 response of ${handshake} bytes`);

      // At 4 events/s and a poll every 150 ms, polling asks more often than there is news.
      for (const t of ['polling', 'interval-polling'] as const) {
        const s = stats.transports[t];
        assert.ok(s.requests > s.delivered, `${t}: ${s.requests} requests for ${s.delivered} messages`);
        assert.ok(s.emptyResponses > 0, `${t}: some polls came back empty`);
      }
      // A long poll is answered when there is data: almost never empty at this rate.
      assert.ok(stats.transports['long-polling'].emptyResponses <= 1);
      // SSE: one stream request, then acknowledgements only.
      assert.ok(stats.transports.sse.requests < published, 'SSE needs fewer requests than messages');
      // Per message, WebSocket moves the fewest bytes and polling the most.
      const perMessage = (t: LabTransport) => stats.transports[t].perMessage.bytes!;
      assert.ok(perMessage('websocket') < perMessage('sse'));
      assert.ok(perMessage('sse') < perMessage('long-polling'));
      assert.ok(perMessage('long-polling') < perMessage('polling'));
      // Pushes are immediate for three of them; pollers wait for the next poll.
      assert.ok(ws.latencyMs.p50 < stats.transports.polling.latencyMs.p50);

      // GET /stats gives the same numbers.
      const again = (await (await fetch(`${base}/stats`)).json()) as StatsSnapshot;
      assert.equal(again.transports.websocket.delivered, published);

      // Reset zeroes everything.
      const reset = (await (await fetch(`${base}/lab/reset`, { method: 'POST', headers: { 'Content-Type': 'application/json' } })).json()) as StatsSnapshot;
      for (const t of LAB_TRANSPORTS) {
        assert.equal(reset.transports[t].delivered, 0);
        assert.equal(reset.transports[t].requests, 0);
      }
    } finally {
      for (const client of clients) client.close();
    }
  });
});

test('a full lab refuses the extra peer and counts only those it serves', async () => {
  const lab = await createLab({ maxPeers: 1, start: false });
  labs.add(lab);
  const { port } = await lab.listen(0, '127.0.0.1');
  const url = `http://127.0.0.1:${port}/lab/stream`;
  try {
    const first = track(connectSim({ url, transport: 'websocket', onMessage() {} }));
    await first.opened;
    let closed = '';
    const second = track(connectSim({ url, transport: 'websocket', onMessage() {}, onClose: (reason) => (closed = reason) }));
    await second.opened;
    for (let i = 0; i < 40 && closed === ''; i++) await sleep(25);
    assert.equal(closed, 'closed 1013');
    assert.equal(lab.peers('websocket'), 1);
    first.close();
    for (let i = 0; i < 40 && lab.peers('websocket') !== 0; i++) await sleep(25);
    assert.equal(lab.peers('websocket'), 0);
  } finally {
    labs.delete(lab);
    await lab.close();
  }
});

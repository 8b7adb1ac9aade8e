// A lab anyone can open: every hostile input gets a short, stable answer and changes nothing.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { type Lab, createLab } from '../src/lab-server.js';
import { LAB_TRANSPORTS } from '../src/palette.js';
import type { StatsSnapshot } from '../src/snapshot.js';
import { CHANGE_REFILL_MS, ChangeBudget } from '../src/change-budget.js';

let lab: Lab;
let base = '';
let host = '';
before(async () => {
  lab = await createLab({ rate: 4, size: 64, interval: 500, start: false });
  const { port } = await lab.listen(0, '127.0.0.1');
  host = `127.0.0.1:${port}`;
  base = `http://${host}`;
});
after(() => lab.close());

const JSON_TYPE = { 'Content-Type': 'application/json' };

async function post(path: string, body: string, headers: Record<string, string> = JSON_TYPE): Promise<{ status: number; error: string | undefined; text: string }> {
  const response = await fetch(`${base}${path}`, { method: 'POST', headers, body });
  const text = await response.text();
  let error: string | undefined;
  try {
    error = (JSON.parse(text) as { error?: string }).error;
  } catch {
    error = undefined;
  }
  return { status: response.status, error, text };
}

async function stats(): Promise<StatsSnapshot> {
  return (await (await fetch(`${base}/stats`)).json()) as StatsSnapshot;
}

function untouched(s: StatsSnapshot): void {
  for (const t of LAB_TRANSPORTS) {
    const x = s.transports[t];
    assert.deepEqual([x.delivered, x.lost, x.duplicates, x.payloadBytes, x.latencyMs.count], [0, 0, 0, 0, 0], `${t} untouched`);
  }
}

const report = (r: unknown) => JSON.stringify({ transports: { websocket: r } });
const valid = { seqs: [1], latencies: [1.5], lost: 0, duplicates: 0, payloadBytes: 64 };

test('a malformed report is a 400 with a short stable message, and counts nothing', async () => {
  const cases: Array<[string, string, string]> = [
    ['not JSON', '{"transports": ', 'malformed JSON'],
    ['not an object', '[1,2]', 'expected {"transports": {...}}'],
    ['no transports', '{}', 'expected {"transports": {...}}'],
    ['extra top-level key', JSON.stringify({ transports: {}, x: 1 }), 'expected {"transports": {...}}'],
    ['unknown transport', JSON.stringify({ transports: { nope: valid } }), 'unknown transport'],
    ['a string count', report({ ...valid, lost: '0<img src=x onerror=alert(1)>' }), 'lost must be an integer from 0 to 1000000'],
    ['a huge count', report({ ...valid, duplicates: 1e308 }), 'duplicates must be an integer from 0 to 1000000'],
    ['a negative count', report({ ...valid, lost: -3 }), 'lost must be an integer from 0 to 1000000'],
    ['a fractional count', report({ ...valid, lost: 0.5 }), 'lost must be an integer from 0 to 1000000'],
    ['payload larger than the messages', report({ ...valid, payloadBytes: 16385 }), 'payloadBytes must be an integer from 0 to 16384'],
    ['a seq that is text', report({ ...valid, seqs: ['1'] }), 'a seq must be a positive integer'],
    ['a seq of zero', report({ ...valid, seqs: [0] }), 'a seq must be a positive integer'],
    ['a latency that is text', report({ ...valid, latencies: ['x'] }), 'a latency must be a number of ms from -60000 to 3600000'],
    ['an absurd latency', report({ ...valid, latencies: [1e308] }), 'a latency must be a number of ms from -60000 to 3600000'],
    ['latencies and seqs of different lengths', report({ ...valid, latencies: [] }), 'one latency per seq'],
    ['seqs not an array', report({ ...valid, seqs: 5 }), 'seqs and latencies must be arrays'],
    ['an unknown field', report({ ...valid, delivered: 5 }), 'unknown field in a transport report'],
    ['a report that is not an object', report('many'), 'a transport report must be an object'],
    ['too many messages', report({ seqs: Array(20_001).fill(1), latencies: Array(20_001).fill(1) }), 'at most 20000 messages per report'],
  ];
  for (const [what, body, error] of cases) {
    const answer = await post('/lab/report', body);
    assert.equal(answer.status, 400, what);
    assert.equal(answer.error, error, what);
    assert.doesNotMatch(answer.text, /<img|at .*\.js|Error:/, `${what}: no echo of the input, no internals`);
  }
  untouched(await stats());
});

test('a report too large is a 413; one not in JSON is a 415', async () => {
  const big = await post('/lab/report', JSON.stringify({ transports: {}, pad: 'x'.repeat(300 * 1024) }));
  assert.equal(big.status, 413);
  assert.equal(big.error, 'body too large');
  const plain = await post('/lab/report', '{"transports":{}}', { 'Content-Type': 'text/plain' });
  assert.equal(plain.status, 415, 'text/plain (what a cross-site form can send) is refused');
  untouched(await stats());
});

test('reported deliveries count only for messages of the window, never beyond what was sent', async () => {
  // No peer, no message: nothing was sent, so no report can make a delivery.
  const answer = await post('/lab/report', report({ seqs: [1, 2, 3], latencies: [1, 1, 1], lost: 2, duplicates: 0, payloadBytes: 192 }));
  assert.equal(answer.status, 200);
  untouched(JSON.parse(answer.text) as StatsSnapshot);
});

test('POST /lab/config takes rate, size and interval within their limits, or answers 400', async () => {
  const cases: Array<[unknown, string]> = [
    [{ rate: '5' }, 'rate must be a number from 0.1 to 200'],
    [{ rate: 1e6 }, 'rate must be a number from 0.1 to 200'],
    [{ rate: 0 }, 'rate must be a number from 0.1 to 200'],
    [{ size: 100.5 }, 'size must be an integer from 48 to 16384'],
    [{ size: 1e9 }, 'size must be an integer from 48 to 16384'],
    [{ interval: 5 }, 'interval must be an integer from 100 to 10000'],
    [{ colour: 'red' }, 'unknown setting (known: rate, size, interval)'],
    [[1], 'expected a JSON object'],
  ];
  for (const [body, error] of cases) {
    const answer = await post('/lab/config', JSON.stringify(body));
    assert.equal(answer.status, 400, JSON.stringify(body));
    assert.equal(answer.error, error);
  }
  const s = await stats();
  assert.deepEqual([s.stream.rate, s.stream.size, s.stream.interval], [4, 64, 500], 'nothing changed');
  const ok = await post('/lab/config', JSON.stringify({ rate: 10, size: 128, interval: 250 }));
  assert.equal(ok.status, 200);
  const after = await stats();
  assert.deepEqual([after.stream.rate, after.stream.size, after.stream.interval], [10, 128, 250], '/stats shows the new settings at once');
  await post('/lab/config', JSON.stringify({ rate: 4, size: 64, interval: 500 }));
});

test("another site's page may not post to the lab: 403, nothing changed", async () => {
  for (const origin of ['http://evil.example', 'null', `http://${host}.evil.example`, `https://evil.example:${host.split(':')[1]}`, 'not a url']) {
    for (const [path, body] of [['/lab/config', '{"rate": 100}'], ['/lab/reset', '{}'], ['/lab/report', report(valid)]] as const) {
      const answer = await post(path, body, { ...JSON_TYPE, Origin: origin });
      assert.equal(answer.status, 403, `${path} from ${origin}`);
      assert.equal(answer.error, 'cross-origin request refused');
    }
  }
  const s = await stats();
  assert.equal(s.stream.rate, 4);
  assert.equal(s.resets, 0);
  // The page itself (same origin) may.
  const same = await post('/lab/config', '{"rate": 4}', { ...JSON_TYPE, Origin: base });
  assert.equal(same.status, 200);
});

/** The status of a WebSocket handshake to the chat with this Origin. */
function chatHandshake(origin: string | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.request(`${base}/lab/chat?transport=websocket`, {
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
        ...(origin === undefined ? {} : { Origin: origin }),
      },
    });
    request.on('upgrade', (response, socket) => {
      socket.destroy();
      resolve(response.statusCode!);
    });
    request.on('response', (response) => {
      response.resume();
      resolve(response.statusCode!);
    });
    request.on('error', reject);
    request.end();
  });
}

test("the chat refuses another site's page, over WebSocket and over HTTP", async () => {
  assert.equal(await chatHandshake('http://evil.example'), 403);
  assert.equal(await chatHandshake('null'), 403);
  assert.equal(await chatHandshake(base), 101, 'the page itself');
  assert.equal(await chatHandshake(undefined), 101, 'a script or wscat, which names no page');
  const sse = await fetch(`${base}/lab/chat?transport=sse`, { headers: { Origin: 'http://evil.example', Accept: 'text/event-stream' } });
  assert.equal(sse.status, 403);
  await sse.body?.cancel();
  const own = await fetch(`${base}/lab/chat?transport=sse`, { headers: { Origin: base, Accept: 'text/event-stream' } });
  assert.equal(own.status, 200, 'the page itself, over SSE');
  await own.body?.cancel();
});

test('/stats does not let other sites read it (no Access-Control-Allow-Origin)', async () => {
  const response = await fetch(`${base}/stats`, { headers: { Origin: 'http://evil.example' } });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('access-control-allow-origin'), null);
  await response.arrayBuffer();
});

test('one address cannot reset or steer the shared lab in a loop: 429 once its budget is spent', async () => {
  const own = await createLab({ start: false, changeBurst: 3 });
  const { port } = await own.listen(0, '127.0.0.1');
  try {
    // A malformed change costs nothing: it changed nothing.
    for (let i = 0; i < 4; i++) {
      const bad = await fetch(`http://127.0.0.1:${port}/lab/config`, { method: 'POST', headers: JSON_TYPE, body: '{"rate": "fast"}' });
      assert.equal(bad.status, 400);
      await bad.arrayBuffer();
    }
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const path = i % 2 === 0 ? '/lab/reset' : '/lab/config';
      const response = await fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST', headers: JSON_TYPE, body: i % 2 === 0 ? '{}' : '{"rate": 3}' });
      statuses.push(response.status);
      if (response.status === 429) {
        assert.equal(response.headers.get('retry-after'), '2');
        assert.equal(((await response.json()) as { error: string }).error, 'too many changes: one every 2 s');
      } else await response.arrayBuffer();
    }
    assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
    assert.equal(own.snapshot().resets, 2, 'the refused reset changed nothing');
  } finally {
    await own.close();
  }
});

test('the change budget refills one change every 2 s, up to the burst, per address', () => {
  let now = 0;
  const budget = new ChangeBudget(2, () => now);
  assert.deepEqual([budget.take('a'), budget.take('a'), budget.take('a')], [true, true, false]);
  assert.equal(budget.take('b'), true, 'another address has its own budget');
  now += CHANGE_REFILL_MS - 1;
  assert.equal(budget.take('a'), false);
  now += 1;
  assert.deepEqual([budget.take('a'), budget.take('a')], [true, false]);
  now += 10 * CHANGE_REFILL_MS;
  assert.deepEqual([budget.take('a'), budget.take('a'), budget.take('a')], [true, true, false], 'never more than the burst');
});

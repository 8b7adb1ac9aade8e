/**
 * `hotline serve --nodes 3 --redis URL` end to end: three node processes behind the lab's
 * round-robin balancer, Node clients on every streaming transport through it. The
 * balancer spreads the requests over the nodes; a node killed from the page's endpoint
 * (and one that dies on its own) is shown down and started again; the clients it served
 * move to other nodes and recover what they missed: in order, no gap, nothing twice.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket, connect } from 'hotline';
import type { ClientMessageEvent, ClientRecoveryEvent, HotlineClient } from 'hotline/client';
import type { ClusterStats } from '../src/cluster/cluster-protocol.js';
import { RedisServer, redisMissing } from './support/redis.js';
import { type Serving, startServe } from './support/serve.js';

const TRANSPORTS = ['websocket', 'sse', 'long-polling'] as const;

/** One client's view: which node serves it, what it got, and whether its offsets ever broke. */
class Watched {
  readonly nodes: number[] = [];
  readonly offsets: number[] = [];
  readonly recoveries: Array<{ recovered: boolean; missed: number | undefined; reason: string | undefined }> = [];
  readonly violations: string[] = [];
  private epoch: string | null = null;

  constructor(
    readonly name: string,
    readonly client: HotlineClient,
  ) {
    client.addEventListener('recovery', (event) => {
      const { recovered, missed, reason } = event as ClientRecoveryEvent;
      this.recoveries.push({ recovered, missed, reason });
    });
    client.addEventListener('message', (event) => {
      const { topic, position, data } = event as ClientMessageEvent;
      if (topic === undefined) return void this.nodes.push((JSON.parse(String(data)) as { node: number }).node);
      if (position === undefined) return void this.violations.push('a publication without a position');
      const last = this.offsets.at(-1);
      if (this.epoch !== null && position.epoch !== this.epoch) this.violations.push(`epoch ${this.epoch} then ${position.epoch}`);
      else if (last !== undefined && position.offset !== last + 1) this.violations.push(`offset ${position.offset} after ${last}`);
      this.epoch = position.epoch;
      this.offsets.push(position.offset);
    });
  }

  get node(): number | undefined {
    return this.nodes.at(-1);
  }
}

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const skip = redisMissing();

describe('hotline serve --nodes 3: the cluster lab', { skip, timeout: 60_000 }, () => {
  let redis: RedisServer;
  let serving: Serving;
  const watched: Watched[] = [];
  const stats = async () => (await (await fetch(`${serving.origin}/cluster/stats`)).json()) as ClusterStats;
  const kill = (body: string, headers: Record<string, string> = { 'Content-Type': 'application/json' }) =>
    fetch(`${serving.origin}/cluster/kill`, { method: 'POST', headers, body });

  before(async () => {
    redis = await RedisServer.start();
    serving = await startServe(['--nodes', '3', '--redis', redis.url, '--rate', '20']);
    for (const transport of TRANSPORTS) {
      for (let i = 0; i < 2; i++) {
        const client = connect(`${serving.origin}/lab/cluster/feed`, {
          transports: [transport],
          WebSocket: WebSocket as never,
          // At least 100 ms away (200 ± 50 %): at 20 publishes a second, a moved client misses some.
          reconnect: { minDelay: 200, maxDelay: 500 },
        });
        watched.push(new Watched(`${transport}#${i}`, client));
      }
    }
    await until('every client receiving', () => watched.every((w) => w.offsets.length >= 5 && w.node !== undefined));
  });

  after(async () => {
    for (const w of watched) w.client.close();
    const code = await serving?.stop();
    await redis?.stop();
    assert.equal(code, 0, serving?.output());
  });

  test('three nodes are up, and the balancer spread the requests and the clients over them', async () => {
    const now = await stats();
    assert.deepEqual(now.nodes.map((node) => node.state), ['up', 'up', 'up']);
    for (const node of now.nodes) assert.ok(node.forwarded > 0, `node ${node.index} got no request: ${JSON.stringify(now.nodes)}`);
    assert.ok(new Set(watched.map((w) => w.node)).size >= 2, `every client on one node: ${watched.map((w) => w.node).join(', ')}`);
    // Each node counts what it delivered; together they delivered what the clients got.
    await until('the nodes reporting deliveries', async () => (await stats()).nodes.filter((node) => node.clients > 0).every((node) => node.delivered > 0));
    assert.ok(now.publisher.acknowledged > 0 && now.publisher.failed === 0, JSON.stringify(now.publisher));
  });

  test('the kill endpoint refuses what is not a same-origin JSON kill of a known node', async () => {
    const refused = [
      [await kill('{"node":0}', { 'Content-Type': 'application/json', Origin: 'http://elsewhere.example' }), 403],
      [await kill('{"node":0}', { 'Content-Type': 'text/plain' }), 415],
      [await kill('{"node":3}'), 400],
      [await kill('{"node":"0"}'), 400],
      [await kill('{"node":0,"also":1}'), 400],
      [await kill('{nope'), 400],
      [await fetch(`${serving.origin}/cluster/kill`), 405],
    ] as const;
    for (const [response, status] of refused) assert.equal(response.status, status, await response.text());
    assert.deepEqual((await stats()).nodes.map((node) => node.restarts), [0, 0, 0]);
  });

  test('a killed node is shown down, started again; its clients move and recover with no gap', async () => {
    const before = await stats();
    // The node serving the most clients, so that every transport is likely to move.
    const counts = [0, 1, 2].map((index) => watched.filter((w) => w.node === index).length);
    const victim = counts.indexOf(Math.max(...counts));
    const moving = watched.filter((w) => w.node === victim);
    const hellos = new Map(moving.map((w) => [w, w.nodes.length]));
    const response = await kill(JSON.stringify({ node: victim }));
    assert.equal(response.status, 202, await response.text());
    assert.equal((await kill(JSON.stringify({ node: victim }))).status, 409, 'a second kill of a node that is down');
    const down = await until('the node shown down', async () => (await stats()).nodes[victim]!.state === 'down' || undefined, 3000);
    assert.ok(down);

    for (const w of moving) {
      await until(`${w.name} served again`, () => w.nodes.length > hellos.get(w)! && w.recoveries.length > 0);
      assert.ok(w.recoveries.every((r) => r.recovered), `${w.name}: ${JSON.stringify(w.recoveries)}`);
    }
    const missed = moving.reduce((sum, w) => sum + (w.recoveries.at(-1)!.missed ?? 0), 0);
    assert.ok(missed > 0, 'the moved clients recovered nothing: they were never away');

    const again = await until('the node up again', async () => {
      const node = (await stats()).nodes[victim]!;
      return node.state === 'up' ? node : undefined;
    });
    assert.equal(again.restarts, 1);
    assert.equal(again.lastExit, 'killed');
    assert.notEqual(again.pid, before.nodes[victim]!.pid);

    // Everyone catches up with what Redis acknowledged, with no gap and nothing twice.
    const target = (await stats()).publisher.last!.offset;
    await until('every client caught up', () => watched.every((w) => w.offsets.at(-1)! >= target));
    for (const w of watched) assert.deepEqual(w.violations, [], w.name);
  });

  test('a node that dies on its own is shown down and started again', async () => {
    const victim = (await stats()).nodes.find((node) => node.state === 'up' && node.restarts === 0)!;
    process.kill(victim.pid!, 'SIGKILL');
    const dead = await until('the death seen', async () => {
      const node = (await stats()).nodes[victim.index]!;
      return node.state === 'down' ? node : undefined;
    }, 3000);
    assert.equal(dead.lastExit, 'died (SIGKILL)');
    const back = await until('the node up again', async () => {
      const node = (await stats()).nodes[victim.index]!;
      return node.state === 'up' ? node : undefined;
    });
    assert.equal(back.restarts, 1);
    const target = (await stats()).publisher.last!.offset;
    await until('every client caught up', () => watched.every((w) => w.offsets.at(-1)! >= target));
    for (const w of watched) {
      assert.deepEqual(w.violations, [], w.name);
      assert.ok(w.recoveries.every((r) => r.recovered), `${w.name}: ${JSON.stringify(w.recoveries)}`);
    }
  });

  test('kills beyond the change budget are refused with 429 and Retry-After', async () => {
    const answers: Array<{ status: number; retryAfter: string | null }> = [];
    for (let i = 0; i < 8; i++) {
      const response = await kill('{"node":0}');
      await response.arrayBuffer();
      answers.push({ status: response.status, retryAfter: response.headers.get('retry-after') });
    }
    assert.ok(answers.some((a) => a.status === 429 && a.retryAfter === '2'), JSON.stringify(answers));
    assert.ok(answers.every((a) => a.status === 202 || a.status === 409 || a.status === 429), JSON.stringify(answers));
  });
});

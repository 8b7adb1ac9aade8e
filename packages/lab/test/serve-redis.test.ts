/**
 * `hotline serve --redis URL` and `--nodes N`: what the command line accepts and refuses,
 * Redis unreachable said in one line, and the lab's stream reaching a Node client through Redis.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket, connect } from 'hotline';
import type { ClientMessageEvent, HotlineClient } from 'hotline/client';
import { RedisServer, freePort, redisMissing } from './support/redis.js';
import { type Serving, runServe, startServe } from './support/serve.js';

describe('hotline serve: usage errors', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['--nodes without --redis says why it needs it', ['--nodes', '3'], /--nodes needs --redis URL: the nodes share their topics, history and sessions through Redis/],
    ['--redis that is not a URL', ['--redis', 'localhost:6379'], /--redis must be a redis:\/\/ or rediss:\/\/ URL with a host/],
    ['--redis of another scheme', ['--redis', 'http://127.0.0.1:6379'], /--redis must be a redis:\/\/ or rediss:\/\/ URL/],
    ['--redis that does not parse', ['--redis', 'nothing here'], /--redis must be a URL such as redis:\/\/127\.0\.0\.1:6379/],
    ['--nodes above 8', ['--nodes', '9', '--redis', 'redis://127.0.0.1:1'], /--nodes must be between 2 and 8/],
    ['--nodes 1', ['--nodes', '1', '--redis', 'redis://127.0.0.1:1'], /--nodes must be between 2 and 8/],
    ['--nodes that is not a number', ['--nodes', 'three', '--redis', 'redis://127.0.0.1:1'], /--nodes must be a non-negative integer/],
  ];
  for (const [name, args, message] of cases) {
    test(`${name}: exit code 2 and the usage`, { timeout: 15_000 }, async () => {
      const { code, stderr, stdout } = await runServe(args);
      assert.equal(code, 2, stderr);
      assert.match(stderr, message);
      assert.match(stderr, /Usage: hotline-lab/);
      assert.equal(stdout, '');
    });
  }

  for (const nodes of [[], ['--nodes', '2']]) {
    test(`Redis unreachable${nodes.length > 0 ? ' (a cluster lab)' : ''}: one line, exit code 1, no stack`, { timeout: 15_000 }, async () => {
      const port = await freePort();
      const { code, stderr, stdout } = await runServe(['--redis', `redis://127.0.0.1:${port}`, ...nodes]);
      assert.equal(code, 1, stderr);
      assert.equal(stderr, `hotline serve: cannot reach Redis at redis://127.0.0.1:${port} (ECONNREFUSED)\n`);
      assert.equal(stdout, '');
    });
  }
});

const skip = redisMissing();

describe('hotline serve --redis: the lab through Redis', { skip }, () => {
  let redis: RedisServer;
  let serving: Serving;
  const clients: HotlineClient[] = [];

  before(async () => {
    redis = await RedisServer.start();
    serving = await startServe(['--redis', redis.url, '--rate', '20']);
  });

  after(async () => {
    for (const client of clients) client.close();
    const code = await serving?.stop();
    await redis?.stop();
    assert.equal(code, 0, serving?.output());
  });

  test('the banner says where the topics go', () => {
    assert.match(serving.output(), new RegExp(`Topics through Redis at ${redis.url.replace(/[.]/g, '\\.')}\\.`));
  });

  for (const transport of ['websocket', 'sse'] as const) {
    test(`a Node client on ${transport} gets the stream, in order, with positions from Redis`, { timeout: 15_000 }, async () => {
      const client = connect(`${serving.origin}/lab/stream?transport=${transport}`, { transports: [transport], WebSocket: WebSocket as never });
      clients.push(client);
      const offsets: number[] = [];
      await new Promise<void>((resolve) => {
        client.addEventListener('message', (event) => {
          const { topic, position } = event as ClientMessageEvent;
          if (topic !== `lab/stream/${transport}` || position === undefined) return;
          offsets.push(position.offset);
          if (offsets.length === 5) resolve();
        });
      });
      for (let i = 1; i < offsets.length; i++) assert.equal(offsets[i], offsets[i - 1]! + 1, `offsets ${offsets.join(', ')}`);
      // The topic's stream is in Redis: its history (XADD'ed by the engine's publish script).
      const keys = await redis.command(`KEYS *lab/stream/${transport}*`);
      assert.ok(keys !== null && /^\*[1-9]/.test(keys), `no key of the topic in Redis (${keys})`);
    });
  }
});

import { after, before, describe } from 'node:test';
import type { PublishedMessage } from '../../src/pubsub/message.js';
import { RedisEngine } from '../../src/redis/index.js';
import { engineContract } from '../pubsub/engine-contract.js';
import { RedisServer, redisMissing } from '../support/redis-server.js';

const skip = redisMissing();

describe('RedisEngine: the engine contract, against a real redis-server', { skip }, () => {
  let redis: RedisServer;
  const engines: RedisEngine<PublishedMessage>[] = [];
  before(async () => {
    redis = await RedisServer.start();
  });
  after(async () => {
    await Promise.all(engines.map((engine) => engine.close()));
    await redis.stop();
  });
  engineContract(async (options) => {
    const engine = new RedisEngine<PublishedMessage>({ ...options, url: redis.url });
    engines.push(engine);
    await engine.connect();
    return engine;
  });
});

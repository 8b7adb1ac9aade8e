import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryEngine } from '../../src/pubsub/memory-engine.js';
import type { PublishedMessage } from '../../src/pubsub/message.js';
import { Server } from '../../src/server/server.js';
import { Recording, engineContract } from './engine-contract.js';

describe('MemoryEngine: the engine contract', () => {
  engineContract((options) => new MemoryEngine<PublishedMessage>(options));
});

describe('MemoryEngine', () => {
  it('keeps no empty topic once its last subscriber has left', async () => {
    const engine = new MemoryEngine<PublishedMessage>();
    const a = new Recording();
    engine.subscribe(a, 'x');
    engine.subscribe(a, 'y');
    assert.equal(engine.topicCount, 2);
    engine.unsubscribe(a, 'x');
    assert.equal(engine.topicCount, 1);
    engine.unsubscribeAll(a);
    assert.equal(engine.topicCount, 0);
    await engine.close();
  });

  it('holds the topics of a server', async () => {
    const server = new Server();
    assert.ok(server.topics instanceof MemoryEngine);
    await server.close({ timeout: 0 });
  });
});

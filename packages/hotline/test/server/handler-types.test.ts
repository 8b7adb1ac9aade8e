/**
 * The handler's types, checked by the compiler when the tests are built: a hook may be
 * sync, async, or a concise arrow that returns a value.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Handler } from '../../src/types.js';

describe('Handler types', () => {
  it('accepts sync hooks, async hooks and concise arrows that return a value', () => {
    const handler: Handler<{ name: string }> = {
      open: (peer) => peer.send(`hello ${peer.data.name}`),
      async message(peer, data) {
        await Promise.resolve();
        peer.send(data);
      },
      drain: () => 42,
      close() {},
    };
    assert.equal(typeof handler.open, 'function');
  });
});

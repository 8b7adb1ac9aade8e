import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { decodeUpgradeMessage, encodeUpgradeMessage } from '../../../src/protocol/session/upgrade-messages.js';

/** The session-upgrade control messages, bytes only (the exchange: upgrade.test.ts). */
describe('session-upgrade messages', () => {
  it('reads probe, upgrade N and upgraded R, and writes them back the same', () => {
    for (const text of ['probe', 'upgrade 0', 'upgrade 42', 'upgraded 7', `upgraded ${Number.MAX_SAFE_INTEGER}`]) {
      const message = decodeUpgradeMessage(text);
      assert.notEqual(message, null, text);
      assert.equal(encodeUpgradeMessage(message!), text);
    }
    assert.deepEqual(decodeUpgradeMessage('upgrade 12'), { type: 'upgrade', seq: 12 });
    assert.deepEqual(decodeUpgradeMessage('upgraded 3'), { type: 'upgraded', seq: 3 });
  });

  it('refuses every other spelling: leading zeros, signs, spaces, case, a number past 2^53 - 1', () => {
    for (const text of [
      '', 'Probe', 'probe ', ' probe', 'upgrade', 'upgrade ', 'upgrade 01', 'upgrade -1', 'upgrade +1', 'upgrade  1',
      'upgrade 1 ', 'upgrade 1.0', 'upgrade 1e3', 'upgrade 0x10', 'UPGRADE 1', 'upgraded', 'upgrade\t1',
      `upgrade ${Number.MAX_SAFE_INTEGER + 1}`, 'upgrade 99999999999999999999', `upgrade ${'1'.repeat(10_000)}`,
      'upgrade ١', // an Arabic-Indic digit: \d in some engines, not a sequence number
    ]) {
      assert.equal(decodeUpgradeMessage(text), null, JSON.stringify(text.slice(0, 40)));
    }
  });

  it('will not write a number no peer could read back', () => {
    for (const seq of [-1, 1.5, Number.MAX_SAFE_INTEGER + 1, Number.NaN, Infinity]) {
      assert.throws(() => encodeUpgradeMessage({ type: 'upgraded', seq }), RangeError);
    }
  });
});

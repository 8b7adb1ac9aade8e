/**
 * The session-upgrade control messages (`probe`, `upgrade N`, `upgraded R`), decoded by
 * the server from a probed WebSocket and by the browser client from the server
 * (`src/protocol/session/upgrade-messages.ts`).
 *
 * Input: the text of one frame (UTF-8; a WebSocket text frame is valid UTF-8, so invalid
 * bytes are read as U+FFFD, as a lenient peer would see them).
 *
 * Properties:
 * - `decodeUpgradeMessage` throws nothing, and accepts exactly what a reference reading
 *   of the grammar accepts (written here with BigInt, so rounding cannot hide a number
 *   past 2^53 - 1);
 * - what it accepts encodes back to the same text (one spelling per message);
 * - `encodeUpgradeMessage` refuses, with a RangeError, a number no peer could decode.
 */
import { decodeUpgradeMessage, encodeUpgradeMessage, type UpgradeMessage } from '../../../src/protocol/session/upgrade-messages.js';
import { type Target, accepted, expect, expectEqual, text } from '../target.js';

const MAX_SEQ = (1n << 53n) - 1n;

function reference(message: string): UpgradeMessage | null {
  if (message === 'probe') return { type: 'probe' };
  for (const type of ['upgraded', 'upgrade'] as const) {
    const prefix = `${type} `;
    if (!message.startsWith(prefix)) continue;
    const digits = message.slice(prefix.length);
    if (digits.length === 0 || [...digits].some((c) => c < '0' || c > '9')) return null;
    const value = BigInt(digits);
    if (value > MAX_SEQ || value.toString() !== digits) return null;
    return { type, seq: Number(value) };
  }
  return null;
}

export const upgradeMessages: Target = {
  name: 'upgrade-messages',
  about: 'decodeUpgradeMessage: never throws; accepts exactly the grammar; one spelling',
  seeds: () => [text('probe'), text('upgrade 0'), text('upgraded 9007199254740991'), text('upgrade 9007199254740992'), text('upgrade 01')],
  dictionary: ['probe', 'upgrade ', 'upgraded ', '9007199254740991', '9007199254740992', ' ', '0'],
  maxLength: 256,
  run(input) {
    const message = input.toString('utf8');
    const decoded = accepted(() => decodeUpgradeMessage(message), Error, 'decodeUpgradeMessage never throws', () => false);
    expectEqual(decoded, reference(message), 'accepts exactly the grammar');
    if (decoded !== null && decoded !== undefined) {
      expectEqual(encodeUpgradeMessage(decoded), message, 'what is accepted encodes back to the same text');
    }
    // A number that is not a sequence number (the input's length, made unsafe) is refused.
    const unsafe = Number.MAX_SAFE_INTEGER + 1 + input.length * 2;
    let threw = false;
    try {
      encodeUpgradeMessage({ type: 'upgrade', seq: unsafe });
    } catch (error) {
      threw = error instanceof RangeError;
    }
    expect(threw, 'encodeUpgradeMessage refuses an unsafe number', () => String(unsafe));
  },
};

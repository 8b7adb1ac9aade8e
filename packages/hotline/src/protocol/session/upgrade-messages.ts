/**
 * The control messages of a session upgrade: the text frames a client and the server
 * exchange over a new WebSocket before it carries an HTTP session (the exchange itself is
 * described in `session-socket.ts`). Shared by the server and the browser client, so pure
 * strings: no Node built-ins.
 *
 *     message  := 'probe' | 'upgrade ' seq | 'upgraded ' seq
 *     seq      := '0' | [1-9] [0-9]*          at most 2^53 - 1, the sequence numbers' range
 *
 * One spelling per value (no sign, no leading zero, one space), so that what a side
 * accepts is exactly what the other sends, and a number the other side could not have
 * sent (past the safe integers, where `Number` would round it) is refused, not rounded.
 */

export type UpgradeMessage =
  /** client → server, server → client: the WebSocket works end to end. */
  | { readonly type: 'probe' }
  /** client → server: `seq` is the last sequence number the client received over HTTP. */
  | { readonly type: 'upgrade'; readonly seq: number }
  /** server → client: `seq` is the last upstream sequence number the server has. */
  | { readonly type: 'upgraded'; readonly seq: number };

/**
 * Longest message: `upgraded ` and the 16 digits of 2^53 - 1. The messages are ASCII, so
 * this bounds their bytes too: a longer frame need not even be decoded as text.
 */
export const MAX_UPGRADE_MESSAGE_LENGTH = 'upgraded '.length + String(Number.MAX_SAFE_INTEGER).length;

const SEQUENCED = /^(upgrade|upgraded) (0|[1-9][0-9]*)$/;

export function encodeUpgradeMessage(message: UpgradeMessage): string {
  if (message.type === 'probe') return 'probe';
  if (!Number.isSafeInteger(message.seq) || message.seq < 0) throw new RangeError(`not a sequence number: ${message.seq}`);
  return `${message.type} ${message.seq}`;
}

/** The message `text` spells, or null when it spells none. */
export function decodeUpgradeMessage(text: string): UpgradeMessage | null {
  if (text === 'probe') return { type: 'probe' };
  // Bounded before the expression runs: a peer's long frame costs nothing here.
  if (text.length > MAX_UPGRADE_MESSAGE_LENGTH) return null;
  const match = SEQUENCED.exec(text);
  if (match === null) return null;
  const seq = Number(match[2]);
  if (!Number.isSafeInteger(seq)) return null;
  return { type: match[1] as 'upgrade' | 'upgraded', seq };
}

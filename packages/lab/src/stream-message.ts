/**
 * The messages of the event stream the lab pushes to every transport: `rate` messages a second on
 * average, at random moments (a Poisson process, like chat messages or price ticks: events
 * do not wait for a poll), each
 * `size` bytes of JSON carrying its sequence number and the server's send time, so that
 * a receiver can tell which messages it missed and how late each one came.
 *
 *     {"seq":42,"t":1732480000123.456,"pad":"……"}
 *
 * `t` is the server's clock (epoch ms, sub-millisecond) taken just before the message is
 * handed to the transports; the receiver subtracts it from its own clock, corrected by
 * the offset it measured against the server (see clock.ts).
 */

/** Bounds that keep a lab open to a network from becoming a traffic generator. */
export const STREAM_LIMITS = {
  minRate: 0.1,
  maxRate: 200,
  minSize: 48,
  maxSize: 16 * 1024,
} as const;

export interface StreamMessage {
  seq: number;
  t: number;
}

/** The server's clock: epoch ms with sub-millisecond resolution, monotonic within a run. */
export function serverNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Builds a message of exactly `size` bytes (ASCII), or the minimum that fits. */
export function buildMessage(seq: number, t: number, size: number): string {
  const head = `{"seq":${seq},"t":${t.toFixed(3)},"pad":"`;
  const tail = '"}';
  const padding = Math.max(0, size - head.length - tail.length);
  return head + 'x'.repeat(padding) + tail;
}

/** Reads seq and t from a message; null when it is not one of ours. */
export function parseMessage(text: string): StreamMessage | null {
  // A regular expression on the head is enough and ignores the padding.
  const match = /^\{"seq":(\d+),"t":(\d+(?:\.\d+)?),/.exec(text);
  if (match === null) return null;
  return { seq: Number(match[1]), t: Number(match[2]) };
}

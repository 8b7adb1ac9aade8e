import type { Payload, SendOptions } from '../types.js';
import { checkOptions, invalidArgument, shown } from '../errors.js';

/** Turns anything `send` accepts into a Buffer, copying only strings. */
export function toBuffer(data: Payload): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  throw invalidArgument('data must be a string, Buffer, ArrayBuffer or ArrayBufferView');
}

/** A Ping's payload. §5.5: "All control frames MUST have a payload length of 125 bytes or less". */
const MAX_CONTROL_PAYLOAD = 125;

export function toControlPayload(data: Payload): Buffer {
  const payload = toBuffer(data);
  if (payload.length > MAX_CONTROL_PAYLOAD) {
    throw invalidArgument(`ping data is ${payload.length} bytes; a control frame carries at most ${MAX_CONTROL_PAYLOAD} (RFC 6455 §5.5)`);
  }
  return payload;
}

/**
 * The optional arguments of `send` (and `publish`'s `isBinary`), checked only when given
 * something unusual: the common call (`send(data)`, `send(data, true)`) pays a compare.
 */
export function checkSendArguments(isBinary: unknown, options: SendOptions | undefined): void {
  if (isBinary !== undefined && typeof isBinary !== 'boolean') {
    throw invalidArgument(`isBinary must be a boolean or undefined (got ${shown(isBinary)})`);
  }
  if (options === undefined) return;
  checkOptions(options, SEND_KEYS, 'the send options');
  if (options.compress !== undefined && typeof options.compress !== 'boolean') {
    throw invalidArgument(`compress must be a boolean (got ${shown(options.compress)})`);
  }
}

const SEND_KEYS: readonly (keyof SendOptions)[] = ['compress'];

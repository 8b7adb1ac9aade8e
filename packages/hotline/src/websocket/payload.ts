import type { Payload } from '../types.js';
import { invalidArgument } from '../errors.js';

/** Turns anything `send` accepts into a Buffer, copying only strings. */
export function toBuffer(data: Payload): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  throw invalidArgument('data must be a string, Buffer, ArrayBuffer or ArrayBufferView');
}

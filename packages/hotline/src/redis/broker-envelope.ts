import { HotlineError } from '../errors.js';
import { EPOCH_PATTERN } from '../protocol/position.js';

/**
 * What travels on a topic's Redis channel: one publication, with its position and
 * origin, as the publish script (`scripts.ts`) writes it:
 *
 *     'h1 ' instanceId ' ' tag ' ' epoch ' ' offset ' ' ('t' | 'b') '\n' data
 *
 * `h1` is the envelope's version: a node that meets another version (a newer node during
 * a rolling deploy) refuses the message and fills the hole from history, which every
 * version reads. `tag` is the publisher's local number for the publish (0: none), so the
 * publishing node finds its `except`/`onDropped` when the message comes back. The same
 * origin (`instanceId ' ' tag`) is the stream entry's `o` field.
 */
export interface BrokerPublication {
  readonly instanceId: string;
  readonly tag: number;
  readonly epoch: string;
  readonly offset: number;
  readonly isBinary: boolean;
  readonly data: Buffer;
}

export const ENVELOPE_VERSION = 'h1';
const INSTANCE = /^[A-Za-z0-9_-]{8,16}$/;
const DECIMAL = /^(?:0|[1-9][0-9]{0,15})$/;
/** Longest header: version, two ids of at most 32, two 16-digit numbers, the flag, separators. */
const MAX_HEADER = 96;

/** The envelope's origin part (`instanceId ' ' tag`), as the script is passed it. */
export function origin(instanceId: string, tag: number): string {
  return `${instanceId} ${tag}`;
}

/** Parses an origin field of a stream entry; undefined when malformed. */
export function parseOrigin(text: string): { instanceId: string; tag: number } | undefined {
  const [instanceId, tag, ...rest] = text.split(' ');
  if (rest.length > 0 || instanceId === undefined || tag === undefined || !INSTANCE.test(instanceId) || !DECIMAL.test(tag)) return undefined;
  return { instanceId, tag: Number(tag) };
}

/** Strict decoder: throws `HL_ERR_INVALID_ENVELOPE` on any deviation. */
export function decodeBrokerPublication(bytes: Buffer): BrokerPublication {
  const end = bytes.indexOf(0x0a);
  if (end === -1 || end > MAX_HEADER) throw badEnvelope('no header line');
  const fields = bytes.toString('latin1', 0, end).split(' ');
  if (fields.length !== 6) throw badEnvelope(`${fields.length} header fields, 6 expected`);
  const [version, instanceId, tag, epoch, offset, flag] = fields as [string, string, string, string, string, string];
  if (version !== ENVELOPE_VERSION) throw badEnvelope(`version ${JSON.stringify(version)}, ${ENVELOPE_VERSION} expected`);
  if (!INSTANCE.test(instanceId)) throw badEnvelope('bad instance id');
  if (!DECIMAL.test(tag)) throw badEnvelope('bad tag');
  if (!EPOCH_PATTERN.test(epoch)) throw badEnvelope('bad epoch');
  if (!DECIMAL.test(offset) || offset === '0') throw badEnvelope('bad offset');
  if (flag !== 't' && flag !== 'b') throw badEnvelope('bad type flag');
  return { instanceId, tag: Number(tag), epoch, offset: Number(offset), isBinary: flag === 'b', data: bytes.subarray(end + 1) };
}

function badEnvelope(why: string): HotlineError {
  return new HotlineError('HL_ERR_INVALID_ENVELOPE', `a publication from Redis was refused: ${why}`);
}

/**
 * permessage-deflate negotiation (RFC 7692 §5, §7.1): pure functions from parsed
 * `Sec-WebSocket-Extensions` values to the agreed parameters and the header to answer
 * with. No zlib here; the codec that applies the parameters is
 * `websocket/permessage-deflate.ts`.
 *
 * Vocabulary (RFC 7692 §7.1): each end compresses with its own LZ77 window and may
 * keep it across messages ("context takeover"). The four parameters each constrain one
 * direction:
 *
 *   server_no_context_takeover   the server resets its compressor after every message
 *   client_no_context_takeover   the client resets its compressor after every message
 *   server_max_window_bits=N     the server compresses with a window of at most 2^N
 *   client_max_window_bits[=N]   the client compresses with a window of at most 2^N
 *                                (value-less in an offer: "I support this parameter")
 */
import { HandshakeError, invalidArgument } from '../errors.js';
import { Side } from './side.js';
import { formatExtensions, type ExtensionOffer, type ExtensionParam } from './extensions.js';

/** RFC 7692 §5: the registered extension name. */
export const PERMESSAGE_DEFLATE = 'permessage-deflate';

/**
 * Options for permessage-deflate, the same object on both sides. The four negotiation
 * options mean slightly different things to a server and to a client; each says how.
 *
 * Memory per connection, measured (`bench/deflate-memory.ts`: RSS after GC, Node 20,
 * 2,000 server-side codecs talking 100 at a time) once each has compressed and inflated
 * one ~1.5 KiB message:
 *   context takeover,     9-bit windows   113 KiB
 *   context takeover,    12-bit windows   130 KiB   (the defaults)
 *   context takeover,    15-bit windows   243 KiB   (zlib's defaults, memLevel 8: 247 KiB)
 *   no context takeover, any window        13 KiB   (streams freed after each message)
 *   negotiated, never used                  3 KiB   (streams are created on first use)
 * After 50 messages each way: 144 / 161 / 302 KiB with context takeover and ~30 KiB
 * without (allocator fragmentation from creating a stream per message). For scale, a
 * whole idle connection without compression costs the server ~10 KiB (`--real` mode of
 * the same bench: 134 KiB with the defaults after one message each way). Where it goes:
 * the compressor's window and chain table, 2 * 2^bits each; its hash table, 64 KiB
 * whatever the options (Node bundles Chromium's zlib, which never uses fewer than 15
 * hash bits); its block buffers, 7 * 2^(memLevel + 6) bytes, written only as far as
 * messages are long; the decompressor's window, 2^bits, plus ~7 KiB of state each.
 */
export interface PerMessageDeflateOptions {
  /**
   * Server: always answer `server_no_context_takeover` (reset the compressor after
   * every message: no memory held between messages, worse ratio on streams of similar
   * messages). A client's request for it is honoured whatever this says.
   * Client: request it in the offer; a response without it fails the handshake.
   * Default false: context takeover is where the compression ratio comes from.
   */
  serverNoContextTakeover?: boolean;
  /**
   * Server: always answer `client_no_context_takeover`, so the decompressor is freed
   * after every message. Client: offer it and reset the compressor after every message.
   * Default false, for the same reason as above.
   */
  clientNoContextTakeover?: boolean;
  /**
   * Server: the largest window the server compresses with (8..15). The answer always
   * carries it when it is below 15 (RFC 7692 §7.1.2.1 allows that even unrequested),
   * or the client's smaller request. Default 12.
   * Client: request `server_max_window_bits=N`; by default nothing is requested,
   * because a server that does not support the parameter must decline the whole offer.
   */
  serverMaxWindowBits?: number;
  /**
   * Server: the largest window the client may compress with (8..15), answered when the
   * client says it supports the parameter (browsers do); without that support the
   * decompressor takes 15 bits. Default 12.
   * Client: `true` (the default) offers the value-less form, as browsers and `ws` do,
   * and lets the server choose (15 if it does not). A number N offers
   * `client_max_window_bits=N` and compresses with at most 2^N; a server that answers a
   * larger value breaks RFC 7692 §7.1.2.2 and the connection fails (some do: Autobahn's
   * test server answers 15 to any offer).
   */
  clientMaxWindowBits?: number | true;
  /** zlib compression level, 0..9 (or -1 for zlib's default, 6). Default 6. */
  level?: number;
  /** zlib memLevel, 1..9: the compressor's block buffers are 7 * 2^(memLevel + 6) bytes. Default 5. */
  memLevel?: number;
  /** Messages shorter than this many bytes are sent uncompressed. Default 1024. */
  threshold?: number;
  /** This server's or client's own limit on concurrent zlib jobs; unset, the process-wide one (see `zlib-limiter.ts`). Default 10. */
  concurrency?: number;
}

/**
 * Defaults, each with its reason. Measured on a corpus of ~230-byte JSON chat messages
 * with context takeover: 15/8 compresses to 23.9% of the input, 12/5 to 27.4%,
 * 10/3 to 33.4%, 9/2 to 51.2%; time per message did not depend on the setting
 * (~70 µs, dominated by the thread-pool round trip).
 */
export const DEFLATE_DEFAULTS = {
  /** Context takeover on: without it, small messages barely compress (68% here). */
  serverNoContextTakeover: false,
  clientNoContextTakeover: false,
  /**
   * 12 bits: 130 KiB per used connection instead of 243 KiB at 15 bits, for output of
   * 27.4% of the input instead of 23.9%. 9 bits would save only 18 KiB more (the 64 KiB
   * hash table stays) and double the output (51.2%).
   */
  serverMaxWindowBits: 12,
  /** The server's cap on the client's window; a client offers the value-less form by default. */
  clientMaxWindowBits: 12,
  /** zlib's default level: on small messages the higher levels cost no measurable time. */
  level: 6,
  /**
   * memLevel 5: the compressor's block buffers are 14 KiB instead of 112 KiB at zlib's
   * 8 (large messages fill them), with no loss of ratio on small messages. (In Node's
   * zlib memLevel does not shrink the hash table, which stays at 64 KiB.)
   */
  memLevel: 5,
  /**
   * 1 KiB: a message below that fits in one TCP segment (MSS ~1460) either way, so
   * compressing it saves bytes but no packets, at the price of a thread-pool round trip
   * and, on a quiet connection, of creating the compressor at all.
   */
  threshold: 1024,
  /**
   * 10 concurrent zlib jobs: more than libuv's 4 pool threads, so the pool stays busy,
   * and few enough that bursts cannot fragment the heap with thousands of in-flight
   * zlib buffers (nodejs/node#8871, websockets/ws#1202).
   */
  concurrency: 10,
} as const;

/** Parameters agreed for a connection; the codec derives its own and the peer's side. */
export interface DeflateParams {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  /** 8..15: the server compresses with a window of at most 2^N bytes. */
  serverMaxWindowBits: number;
  /** 8..15: the client compresses with a window of at most 2^N bytes. */
  clientMaxWindowBits: number;
}

/** Options with every default applied, checked. */
export interface ResolvedDeflateOptions {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  /** Client side: `undefined` means "not requested". */
  serverMaxWindowBits: number | undefined;
  clientMaxWindowBits: number | true;
  level: number;
  memLevel: number;
  threshold: number;
  concurrency: number;
}

// Objects returned by `resolveDeflateOptions`: a server resolves its options once, not
// on every handshake, and may pass the result wherever options are taken.
const RESOLVED = new WeakSet<object>();

function checkInteger(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidArgument(`permessage-deflate option ${name} must be an integer in ${min}..${max}`);
  }
  return value;
}

/**
 * Applies defaults for `side` and checks every option; misuse throws at once
 * (`HL_ERR_INVALID_ARGUMENT`), never on the first handshake.
 */
export function resolveDeflateOptions(
  options: PerMessageDeflateOptions = {},
  side: Side,
): ResolvedDeflateOptions {
  const server = side === Side.SERVER;
  let serverMaxWindowBits: number | undefined;
  if (options.serverMaxWindowBits !== undefined) {
    serverMaxWindowBits = checkInteger('serverMaxWindowBits', options.serverMaxWindowBits, 8, 15);
  } else if (server) {
    serverMaxWindowBits = DEFLATE_DEFAULTS.serverMaxWindowBits;
  }
  // A client's default offer is value-less: a valued one is refused, or answered with a
  // larger value that RFC 7692 §7.1.2.2 forbids, by servers seen in the wild.
  let clientMaxWindowBits: number | true = server ? DEFLATE_DEFAULTS.clientMaxWindowBits : true;
  if (options.clientMaxWindowBits === true) {
    // For a server "true" (no value) can only mean "no cap".
    clientMaxWindowBits = server ? 15 : true;
  } else if (options.clientMaxWindowBits !== undefined) {
    clientMaxWindowBits = checkInteger('clientMaxWindowBits', options.clientMaxWindowBits, 8, 15);
  }
  const bool = (name: string, value: unknown): boolean => {
    if (value === undefined) return false;
    if (typeof value !== 'boolean') throw invalidArgument(`permessage-deflate option ${name} must be a boolean`);
    return value;
  };
  const level = options.level ?? DEFLATE_DEFAULTS.level;
  const threshold = options.threshold ?? DEFLATE_DEFAULTS.threshold;
  if (typeof threshold !== 'number' || !(threshold >= 0)) {
    throw invalidArgument('permessage-deflate option threshold must be a number >= 0');
  }
  const resolved: ResolvedDeflateOptions = {
    serverNoContextTakeover: bool('serverNoContextTakeover', options.serverNoContextTakeover),
    clientNoContextTakeover: bool('clientNoContextTakeover', options.clientNoContextTakeover),
    serverMaxWindowBits,
    clientMaxWindowBits,
    level: level === -1 ? 6 : checkInteger('level', level, 0, 9),
    memLevel: checkInteger('memLevel', options.memLevel ?? DEFLATE_DEFAULTS.memLevel, 1, 9),
    threshold,
    concurrency: checkInteger(
      'concurrency',
      options.concurrency ?? DEFLATE_DEFAULTS.concurrency,
      1,
      Number.MAX_SAFE_INTEGER,
    ),
  };
  RESOLVED.add(resolved);
  return resolved;
}

// ---- Reading parameters ---------------------------------------------------------------

const SERVER_NO_CONTEXT_TAKEOVER = 'server_no_context_takeover';
const CLIENT_NO_CONTEXT_TAKEOVER = 'client_no_context_takeover';
const SERVER_MAX_WINDOW_BITS = 'server_max_window_bits';
const CLIENT_MAX_WINDOW_BITS = 'client_max_window_bits';

/** What one offer or response says, before it is compared with anything. */
interface RawParams {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number | undefined;
  /** `true`: the value-less form, allowed in an offer only. */
  clientMaxWindowBits: number | true | undefined;
}

// RFC 7692 §7.1.2.1/§7.1.2.2: "a decimal integer value without leading zeroes between
// 8 to 15, inclusive". So "08", "010", "+9", " 9" and "9.0" are all invalid.
const WINDOW_BITS = /^(?:[89]|1[0-5])$/;

/**
 * Reads the parameters of one `permessage-deflate` element. Returns a reason string
 * when RFC 7692 §7 says the element is unacceptable: an unknown parameter, a
 * duplicate, or an invalid value.
 */
function readParams(params: readonly ExtensionParam[], isOffer: boolean): RawParams | string {
  const raw: RawParams = {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: undefined,
    clientMaxWindowBits: undefined,
  };
  const seen = new Set<string>();
  for (const [name, value] of params) {
    // §7: "multiple extension parameters with the same name" make it unacceptable.
    if (seen.has(name)) return `duplicate parameter ${name}`;
    seen.add(name);
    switch (name) {
      case SERVER_NO_CONTEXT_TAKEOVER:
      case CLIENT_NO_CONTEXT_TAKEOVER:
        // §7.1.1.1/§7.1.1.2: "This parameter has no value."
        if (value !== true) return `${name} must not have a value`;
        if (name === SERVER_NO_CONTEXT_TAKEOVER) raw.serverNoContextTakeover = true;
        else raw.clientNoContextTakeover = true;
        break;
      case SERVER_MAX_WINDOW_BITS:
        // §7.1.2.1: the value is mandatory, in offers and responses alike.
        if (value === true || !WINDOW_BITS.test(value)) return `invalid ${name} value`;
        raw.serverMaxWindowBits = Number(value);
        break;
      case CLIENT_MAX_WINDOW_BITS:
        // §7.1.2.2: value-less only in an offer; a response must carry a value.
        if (value === true) {
          if (!isOffer) return `${name} must have a value in a response`;
          raw.clientMaxWindowBits = true;
        } else if (WINDOW_BITS.test(value)) {
          raw.clientMaxWindowBits = Number(value);
        } else {
          return `invalid ${name} value`;
        }
        break;
      default:
        // §7: "an extension parameter not defined for use in an offer/response".
        return `unknown parameter ${name}`;
    }
  }
  return raw;
}

/** Canonical header form of agreed parameters, omitting what needs no saying. */
function responseParams(
  params: DeflateParams,
  includeServerBits: boolean,
  includeClientBits: boolean,
): ExtensionParam[] {
  const out: ExtensionParam[] = [];
  if (params.serverNoContextTakeover) out.push([SERVER_NO_CONTEXT_TAKEOVER, true]);
  if (params.clientNoContextTakeover) out.push([CLIENT_NO_CONTEXT_TAKEOVER, true]);
  if (includeServerBits) out.push([SERVER_MAX_WINDOW_BITS, String(params.serverMaxWindowBits)]);
  if (includeClientBits) out.push([CLIENT_MAX_WINDOW_BITS, String(params.clientMaxWindowBits)]);
  return out;
}

// ---- Server ---------------------------------------------------------------------------

/** What the server agreed to: the parameters and the header value to answer with. */
export interface ServerNegotiation {
  params: DeflateParams;
  /** The `Sec-WebSocket-Extensions` response value, e.g. `permessage-deflate; server_max_window_bits=12`. */
  response: string;
}

/**
 * Chooses the first `permessage-deflate` offer the server can accept (RFC 7692 §5.1:
 * offers are in the client's order of preference) and builds the response. Offers of
 * other extensions are ignored; unacceptable offers (§7: unknown parameters,
 * duplicates, invalid values) are declined one by one. `null` means every offer was
 * declined: the handshake goes on without compression, it does not fail.
 *
 * Every valid offer can be honoured: a window request is met by using a window as
 * small or smaller (§7.1.2.1), a no_context_takeover request by resetting. Window 8 is
 * honoured too; the codec explains how (`websocket/permessage-deflate.ts`).
 */
export function negotiateServer(
  offers: readonly ExtensionOffer[],
  options: PerMessageDeflateOptions | ResolvedDeflateOptions = {},
): ServerNegotiation | null {
  const opts = isResolved(options) ? options : resolveDeflateOptions(options, Side.SERVER);
  const serverCap = opts.serverMaxWindowBits ?? 15;
  const clientCap = opts.clientMaxWindowBits === true ? 15 : opts.clientMaxWindowBits;

  for (const offer of offers) {
    if (offer.name !== PERMESSAGE_DEFLATE) continue;
    const raw = readParams(offer.params, true);
    if (typeof raw === 'string') continue; // §7: decline this offer, try the next

    // §7.1.2.1: answer with the same or a smaller value than requested; unrequested,
    // the server MAY still announce its window so the client allocates less.
    const serverMaxWindowBits = Math.min(raw.serverMaxWindowBits ?? 15, serverCap);
    const includeServerBits = raw.serverMaxWindowBits !== undefined || serverMaxWindowBits < 15;

    // §7.1.2.2: without the parameter in the offer the response MUST NOT carry it, and
    // the client may use a full window. With it, answer a value no larger than the
    // offered one (a value-less offer accepts any value).
    let clientMaxWindowBits = 15;
    let includeClientBits = false;
    if (raw.clientMaxWindowBits !== undefined) {
      clientMaxWindowBits = raw.clientMaxWindowBits === true ? clientCap : Math.min(raw.clientMaxWindowBits, clientCap);
      // A value-less offer answered with 15 says nothing new; a valued one is echoed so
      // both ends record the same number.
      includeClientBits = raw.clientMaxWindowBits !== true || clientMaxWindowBits < 15;
    }

    const params: DeflateParams = {
      // §7.1.1.1: a request for it is accepted by including it; the server MAY also
      // include it unrequested.
      serverNoContextTakeover: raw.serverNoContextTakeover || opts.serverNoContextTakeover,
      // §7.1.1.2: the server MAY include it; echoing the client's own hint lets this
      // side free its decompressor between messages.
      clientNoContextTakeover: raw.clientNoContextTakeover || opts.clientNoContextTakeover,
      serverMaxWindowBits,
      clientMaxWindowBits,
    };
    const response = formatExtensions([
      { name: PERMESSAGE_DEFLATE, params: responseParams(params, includeServerBits, includeClientBits) },
    ]);
    return { params, response };
  }
  return null;
}

// ---- Client ---------------------------------------------------------------------------

/** The `Sec-WebSocket-Extensions` value a client sends, from its options. */
export function clientOffer(options: PerMessageDeflateOptions | ResolvedDeflateOptions = {}): string {
  const opts = isResolved(options) ? options : resolveDeflateOptions(options, Side.CLIENT);
  const params: ExtensionParam[] = [];
  if (opts.serverNoContextTakeover) params.push([SERVER_NO_CONTEXT_TAKEOVER, true]);
  if (opts.clientNoContextTakeover) params.push([CLIENT_NO_CONTEXT_TAKEOVER, true]);
  if (opts.serverMaxWindowBits !== undefined) {
    params.push([SERVER_MAX_WINDOW_BITS, String(opts.serverMaxWindowBits)]);
  }
  params.push([
    CLIENT_MAX_WINDOW_BITS,
    opts.clientMaxWindowBits === true ? true : String(opts.clientMaxWindowBits),
  ]);
  return formatExtensions([{ name: PERMESSAGE_DEFLATE, params }]);
}

function refuse(reason: string): HandshakeError {
  // The client fails the connection (RFC 6455 §4.1, RFC 7692 §5.1); the status is the
  // 101 that carried the bad answer, as for the other response checks.
  return new HandshakeError(
    'HL_ERR_HANDSHAKE_EXTENSIONS',
    101,
    `invalid Sec-WebSocket-Extensions response: ${reason}`,
  );
}

/**
 * Checks the server's parsed `Sec-WebSocket-Extensions` response against what
 * `clientOffer(options)` sent and returns the agreed parameters; `null` when the
 * response names no extension (the server declined: no compression). Anything the
 * client did not offer, or that RFC 7692 makes invalid, throws
 * `HandshakeError('HL_ERR_HANDSHAKE_EXTENSIONS')`: the client must fail the connection.
 */
export function acceptClientResponse(
  response: readonly ExtensionOffer[],
  options: PerMessageDeflateOptions | ResolvedDeflateOptions = {},
): DeflateParams | null {
  const opts = isResolved(options) ? options : resolveDeflateOptions(options, Side.CLIENT);
  if (response.length === 0) return null;
  // RFC 6455 §9.1: the server may only answer with extensions the client offered; this
  // client offers one, once (RFC 7692 §7: a server MUST NOT accept more than one offer).
  for (const ext of response) {
    if (ext.name !== PERMESSAGE_DEFLATE) throw refuse(`extension ${ext.name} was not offered`);
  }
  if (response.length > 1) throw refuse(`${PERMESSAGE_DEFLATE} accepted more than once`);

  const raw = readParams(response[0]!.params, false);
  if (typeof raw === 'string') throw refuse(raw);

  // §7.1.1.1: a server accepts a request for server_no_context_takeover by including
  // it; without it the response does not match the offer. Unrequested it is fine.
  if (opts.serverNoContextTakeover && !raw.serverNoContextTakeover) {
    throw refuse(`${SERVER_NO_CONTEXT_TAKEOVER} was requested but not accepted`);
  }

  // §7.1.2.1: a requested server window is accepted with the same or a smaller value.
  let serverMaxWindowBits = raw.serverMaxWindowBits ?? 15;
  if (opts.serverMaxWindowBits !== undefined) {
    if (raw.serverMaxWindowBits === undefined) {
      throw refuse(`${SERVER_MAX_WINDOW_BITS} was requested but not accepted`);
    }
    if (raw.serverMaxWindowBits > opts.serverMaxWindowBits) {
      throw refuse(
        `server answered ${SERVER_MAX_WINDOW_BITS}=${raw.serverMaxWindowBits} to a request of ${opts.serverMaxWindowBits} (RFC 7692 §7.1.2.1)`,
      );
    }
    serverMaxWindowBits = raw.serverMaxWindowBits;
  }

  // §7.1.2.2: the client always offers client_max_window_bits, so the server may answer
  // it; with a valued offer, no larger than that value. Without an answer the client
  // keeps to its own offered value (or 15 after a value-less offer).
  const offeredClientBits = opts.clientMaxWindowBits === true ? 15 : opts.clientMaxWindowBits;
  let clientMaxWindowBits = offeredClientBits;
  if (raw.clientMaxWindowBits !== undefined) {
    const answered = raw.clientMaxWindowBits as number; // readParams refuses `true` here
    if (answered > offeredClientBits) {
      throw refuse(`server answered ${CLIENT_MAX_WINDOW_BITS}=${answered} to an offer of ${offeredClientBits} (RFC 7692 §7.1.2.2)`);
    }
    clientMaxWindowBits = answered;
  }

  return {
    serverNoContextTakeover: raw.serverNoContextTakeover,
    // §7.1.1.2: a client that offered client_no_context_takeover keeps to it even if
    // the server does not repeat it; the server may also impose it unasked.
    clientNoContextTakeover: raw.clientNoContextTakeover || opts.clientNoContextTakeover,
    serverMaxWindowBits,
    clientMaxWindowBits,
  };
}

function isResolved(
  options: PerMessageDeflateOptions | ResolvedDeflateOptions,
): options is ResolvedDeflateOptions {
  return RESOLVED.has(options as object);
}

/**
 * The `Sec-WebSocket-Extensions` parser (RFC 6455 §9.1) and the permessage-deflate
 * negotiation on both sides (RFC 7692 §5, §7).
 *
 * Input: byte 0 options, then the header value (latin1, as Node hands header values over).
 *   bit 0      0: the value is a client's offer, negotiated by the server;
 *              1: the value is a server's response, checked by the client
 *   bits 1-2   serverNoContextTakeover, clientNoContextTakeover options
 *   bits 3-4   serverMaxWindowBits option: unset, 8, 12, 15
 *   bits 5-6   clientMaxWindowBits option: unset, true (value-less), 8, 15
 *
 * Properties:
 * - `parseExtensions` accepts exactly what the §9.1 grammar (a regular expression here)
 *   accepts, and refuses with a 400 `HL_ERR_HANDSHAKE_EXTENSIONS` otherwise;
 * - `formatExtensions` of what it accepts parses back to the same list, and is a fixed
 *   point (one canonical spelling);
 * - the server accepts the first offer RFC 7692 §7 makes acceptable, or none; its answer,
 *   parsed again, says exactly the agreed parameters and keeps within the offer;
 * - the client accepts a response exactly when RFC 7692 §7 allows it after its own
 *   offer, refuses with `HL_ERR_HANDSHAKE_EXTENSIONS` otherwise, and agrees on the same
 *   parameters as a server that answered its offer.
 */
import { HandshakeError } from '../../../src/errors.js';
import { type ExtensionOffer, type ExtensionParam, formatExtensions, parseExtensions } from '../../../src/protocol/extensions.js';
import {
  type DeflateParams,
  type PerMessageDeflateOptions,
  acceptClientResponse,
  clientOffer,
  negotiateServer,
} from '../../../src/protocol/permessage-deflate.js';
import { Side } from '../../../src/protocol/side.js';
import { PerMessageDeflate } from '../../../src/websocket/permessage-deflate.js';
import { type Target, accepted, bit, expect, expectEqual } from '../target.js';

// ---- The §9.1 grammar, as one regular expression ------------------------------------------

const TCHAR = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]";
const TOKEN = `${TCHAR}+`;
// A quoted-string whose unescaped value is a token: every character, escaped or not, a tchar.
const QUOTED = `"(?:\\\\?${TCHAR})+"`;
const PARAM = `${TOKEN}(?:[ \\t]*=[ \\t]*(?:${TOKEN}|${QUOTED}))?`;
const EXTENSION = `${TOKEN}(?:[ \\t]*;[ \\t]*${PARAM})*`;
// RFC 7230 §7: empty list elements (and the whitespace around them) are allowed.
const LIST = new RegExp(`^[ \\t,]*(?:${EXTENSION}(?:[ \\t]*,[ \\t,]*${EXTENSION})*[ \\t,]*)?$`);

// ---- RFC 7692 §7, read straight from the text ------------------------------------------------

interface Raw {
  snct: boolean;
  cnct: boolean;
  smwb: number | undefined;
  cmwb: number | true | undefined;
}

const BITS = /^(?:[89]|1[0-5])$/;

/** §7: an element is unacceptable with an unknown or repeated parameter or a bad value. */
function readParams(params: readonly ExtensionParam[], offer: boolean): Raw | null {
  const raw: Raw = { snct: false, cnct: false, smwb: undefined, cmwb: undefined };
  const names = params.map(([name]) => name);
  if (new Set(names).size !== names.length) return null;
  for (const [name, value] of params) {
    if (name === 'server_no_context_takeover' && value === true) raw.snct = true;
    else if (name === 'client_no_context_takeover' && value === true) raw.cnct = true;
    else if (name === 'server_max_window_bits' && value !== true && BITS.test(value)) raw.smwb = Number(value);
    else if (name === 'client_max_window_bits' && value === true && offer) raw.cmwb = true;
    else if (name === 'client_max_window_bits' && value !== true && BITS.test(value)) raw.cmwb = Number(value);
    else return null;
  }
  return raw;
}

function options(byte: number): PerMessageDeflateOptions {
  const server = [undefined, 8, 12, 15][(byte >> 3) & 3];
  const client = [undefined, true, 8, 15][(byte >> 5) & 3] as number | true | undefined;
  return {
    serverNoContextTakeover: bit(byte, 1),
    clientNoContextTakeover: bit(byte, 2),
    ...(server !== undefined && { serverMaxWindowBits: server }),
    ...(client !== undefined && { clientMaxWindowBits: client }),
  };
}

function isExtensionsError(error: HandshakeError, status: number): boolean {
  return error.code === 'HL_ERR_HANDSHAKE_EXTENSIONS' && error.status === status;
}

// ---- Server side ------------------------------------------------------------------------------

function checkServer(list: ExtensionOffer[], opts: PerMessageDeflateOptions): void {
  const negotiation = negotiateServer(list, opts);
  const chosen = list.find((e) => e.name === 'permessage-deflate' && readParams(e.params, true) !== null);
  expectEqual(negotiation !== null, chosen !== undefined, 'the server accepts an offer exactly when one is acceptable');
  if (negotiation === null || chosen === undefined) return;

  const answer = parseExtensions(negotiation.response);
  expectEqual(answer.length, 1, 'the server answers one extension');
  expectEqual(answer[0]!.name, 'permessage-deflate', 'the server answers permessage-deflate');
  const said = readParams(answer[0]!.params, false);
  expect(said !== null, 'the answer is a valid response', () => negotiation.response);
  const agreed: DeflateParams = {
    serverNoContextTakeover: said!.snct,
    clientNoContextTakeover: said!.cnct,
    serverMaxWindowBits: said!.smwb ?? 15,
    clientMaxWindowBits: (said!.cmwb as number | undefined) ?? 15,
  };
  expectEqual(agreed, negotiation.params, 'the answer, parsed again, says the agreed parameters');

  const offer = readParams(chosen.params, true)!;
  const serverCap = opts.serverMaxWindowBits ?? 12;
  if (offer.snct) expect(said!.snct, '§7.1.1.1: a server_no_context_takeover request is accepted');
  if (offer.smwb !== undefined) expect(said!.smwb !== undefined && said!.smwb <= offer.smwb, '§7.1.2.1: the server window is at most the requested one');
  expect(agreed.serverMaxWindowBits <= serverCap, 'the server window is at most its own cap');
  if (offer.cmwb === undefined) expect(said!.cmwb === undefined, '§7.1.2.2: no client_max_window_bits unless offered');
  if (typeof offer.cmwb === 'number') expect(agreed.clientMaxWindowBits <= offer.cmwb, '§7.1.2.2: the client window is at most the offered one');
}

/** A client with these options and a server with the same ones agree on every parameter. */
function checkAgreement(opts: PerMessageDeflateOptions): void {
  const offer = clientOffer(opts);
  const negotiation = negotiateServer(parseExtensions(offer), opts);
  expect(negotiation !== null, "the server accepts this client's offer", () => offer);
  const params = acceptClientResponse(parseExtensions(negotiation!.response), opts);
  expectEqual(params, negotiation!.params, 'client and server agree on the parameters');
}

// ---- Client side ------------------------------------------------------------------------------

/** §7 and §9.1 as the client applies them to a response to `clientOffer(opts)`. */
function clientAccepts(list: readonly ExtensionOffer[], opts: PerMessageDeflateOptions): DeflateParams | null | 'refuse' {
  if (list.length === 0) return null;
  if (list.length > 1 || list[0]!.name !== 'permessage-deflate') return 'refuse';
  const raw = readParams(list[0]!.params, false);
  if (raw === null) return 'refuse';
  if (opts.serverNoContextTakeover && !raw.snct) return 'refuse';
  if (opts.serverMaxWindowBits !== undefined && (raw.smwb === undefined || raw.smwb > opts.serverMaxWindowBits)) return 'refuse';
  // The client's default offer is the value-less client_max_window_bits (as browsers send).
  const offered = opts.clientMaxWindowBits === true || opts.clientMaxWindowBits === undefined ? 15 : opts.clientMaxWindowBits;
  if (typeof raw.cmwb === 'number' && raw.cmwb > offered) return 'refuse';
  return {
    serverNoContextTakeover: raw.snct,
    clientNoContextTakeover: raw.cnct || (opts.clientNoContextTakeover ?? false),
    serverMaxWindowBits: raw.smwb ?? 15,
    clientMaxWindowBits: (raw.cmwb as number | undefined) ?? offered,
  };
}

function checkClient(list: ExtensionOffer[], opts: PerMessageDeflateOptions): void {
  let refused = false;
  const params = accepted(
    () => acceptClientResponse(list, opts),
    HandshakeError,
    'acceptClientResponse throws only HL_ERR_HANDSHAKE_EXTENSIONS',
    (error) => {
      refused = true;
      return isExtensionsError(error, 101);
    },
  );
  expectEqual(refused ? 'refuse' : params, clientAccepts(list, opts), 'the client accepts exactly what RFC 7692 allows');
  // What the client accepted, its codec takes.
  if (params) new PerMessageDeflate(params, Side.CLIENT, { maxPayload: 1 }).close();
}

// ---- The target ---------------------------------------------------------------------------------

function run(input: Buffer): void {
  const byte = input[0] ?? 0;
  const header = input.toString('latin1', 1);
  const list = accepted(
    () => parseExtensions(header),
    HandshakeError,
    'parseExtensions throws only a 400 HL_ERR_HANDSHAKE_EXTENSIONS',
    (error) => isExtensionsError(error, 400),
  );
  expectEqual(list !== undefined, LIST.test(header), 'parseExtensions accepts exactly the §9.1 grammar');
  if (list === undefined) return;

  const formatted = formatExtensions(list);
  expectEqual(parseExtensions(formatted), list, 'formatExtensions parses back to the same list');
  expectEqual(formatExtensions(parseExtensions(formatted)), formatted, 'formatExtensions is canonical');

  const opts = options(byte);
  if (bit(byte, 0)) {
    checkClient(list, opts);
  } else {
    checkServer(list, opts);
    checkAgreement(opts);
  }
}

const OFFER = 0;
const RESPONSE = 1;
const seed = (mode: number, value: string): Buffer => Buffer.concat([Buffer.from([mode]), Buffer.from(value, 'latin1')]);

export const extensions: Target = {
  name: 'extensions',
  about: 'parseExtensions against the §9.1 grammar, format round trip, permessage-deflate negotiation both sides',
  headerBytes: 1,
  maxLength: 1024,
  seeds: () => [
    seed(OFFER, 'permessage-deflate; client_max_window_bits'),
    seed(OFFER, 'permessage-deflate; server_max_window_bits=10; client_max_window_bits=9, permessage-deflate'),
    seed(OFFER | (1 << 1) | (3 << 3), 'x-webkit-deflate-frame, permessage-deflate;server_no_context_takeover;client_no_context_takeover'),
    seed(OFFER, 'permessage-deflate; client_max_window_bits="12" ; foo , ,bar;baz="q\\u"'),
    seed(RESPONSE, 'permessage-deflate; server_max_window_bits=12; client_max_window_bits=12'),
    seed(RESPONSE | (1 << 1) | (2 << 5), 'permessage-deflate; server_no_context_takeover; client_max_window_bits=8'),
    seed(RESPONSE, 'permessage-deflate, permessage-deflate'),
  ],
  dictionary: [
    'permessage-deflate', 'server_no_context_takeover', 'client_no_context_takeover', 'server_max_window_bits',
    'client_max_window_bits', '=', ';', ',', ' ', '\t', '"', '\\', '8', '9', '10', '15', '16', '08', '=""', '="1"',
  ],
  run,
};

/**
 * The `Sec-WebSocket-Extensions` header (RFC 6455 §9.1): a comma-separated list of
 * extensions, each a token followed by `;`-separated parameters, each parameter a
 * token with an optional value that is a token or a quoted-string.
 *
 *   Sec-WebSocket-Extensions = extension-list
 *   extension-list   = 1#extension
 *   extension        = extension-token *( ";" extension-param )
 *   extension-token  = registered-token
 *   registered-token = token
 *   extension-param  = token [ "=" (token | quoted-string) ]
 *     ; When using the quoted-string syntax variant, the value after
 *     ; quoted-string unescaping MUST conform to the 'token' ABNF.
 *
 * Pure: strings in, values out. Malformed input throws a `HandshakeError` with status
 * 400 (a server answers it with 400; a client fails the connection).
 */
import { HandshakeError, invalidArgument } from '../errors.js';

/** One parameter: `[name, value]`, where `true` stands for a parameter without a value. */
export type ExtensionParam = [name: string, value: string | true];

/** One element of the list: an extension name and its parameters, in header order. */
export interface ExtensionOffer {
  name: string;
  params: ExtensionParam[];
}

// RFC 7230 §3.2.6: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
// "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA. A lookup table: the parser is run on
// every handshake.
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;

const SP = 0x20;
const HTAB = 0x09;
const COMMA = 0x2c;
const SEMICOLON = 0x3b;
const EQUALS = 0x3d;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;

function isTchar(code: number): boolean {
  return code < 128 && TCHAR[code] === 1;
}

/** Whether `s` is a non-empty RFC 7230 token. */
export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    if (!isTchar(s.charCodeAt(i))) return false;
  }
  return true;
}

function malformed(header: string, at: number, what: string): HandshakeError {
  const shown = at < header.length ? JSON.stringify(header[at]) : 'end of header';
  return new HandshakeError(
    'HL_ERR_HANDSHAKE_EXTENSIONS',
    400,
    `Invalid Sec-WebSocket-Extensions header: ${what}, found ${shown} at offset ${at}`,
  );
}

/**
 * Parses a `Sec-WebSocket-Extensions` value. Several header lines may be passed as an
 * array: RFC 7230 §3.2.2 makes them equivalent to one line joined with commas.
 *
 * Whitespace (SP, HTAB) is allowed around every separator, including `=` (RFC 6455
 * uses RFC 2616's implied *LWS). Empty list elements (`a, , b`) are skipped, as
 * RFC 7230 §7 requires of a recipient. An empty value yields an empty list.
 * Duplicate extensions and duplicate parameters are kept: whether they are allowed
 * is the extension's business (RFC 7692 §7 declines them).
 */
export function parseExtensions(value: string | readonly string[]): ExtensionOffer[] {
  const header = typeof value === 'string' ? value : value.join(',');
  const n = header.length;
  const list: ExtensionOffer[] = [];
  let i = 0;

  const skipWhitespace = (): void => {
    while (i < n) {
      const c = header.charCodeAt(i);
      if (c !== SP && c !== HTAB) break;
      i++;
    }
  };
  const readToken = (what: string): string => {
    const start = i;
    while (i < n && isTchar(header.charCodeAt(i))) i++;
    if (i === start) throw malformed(header, i, `expected ${what}`);
    return header.slice(start, i);
  };
  const readQuoted = (): string => {
    // RFC 7230 §3.2.6: quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE.
    i++; // opening DQUOTE
    let out = '';
    for (;;) {
      if (i >= n) throw malformed(header, i, 'unterminated quoted-string');
      const c = header.charCodeAt(i);
      if (c === DQUOTE) {
        i++;
        break;
      }
      if (c === BACKSLASH) {
        i++;
        if (i >= n) throw malformed(header, i, 'unterminated quoted-pair');
        out += header[i];
        i++;
        continue;
      }
      out += header[i];
      i++;
    }
    // RFC 6455 §9.1: after unescaping, the value MUST be a token. This also rejects
    // control characters and the empty string.
    if (!isToken(out)) {
      throw malformed(header, i - 1, 'a quoted value that is not a token after unescaping');
    }
    return out;
  };

  for (;;) {
    // Skip empty list elements and the whitespace around them.
    skipWhitespace();
    while (i < n && header.charCodeAt(i) === COMMA) {
      i++;
      skipWhitespace();
    }
    if (i >= n) break;

    const offer: ExtensionOffer = { name: readToken('an extension name'), params: [] };
    list.push(offer);
    skipWhitespace();

    while (i < n && header.charCodeAt(i) === SEMICOLON) {
      i++;
      skipWhitespace();
      const name = readToken('a parameter name');
      skipWhitespace();
      let paramValue: string | true = true;
      if (i < n && header.charCodeAt(i) === EQUALS) {
        i++;
        skipWhitespace();
        paramValue =
          i < n && header.charCodeAt(i) === DQUOTE ? readQuoted() : readToken('a parameter value');
        skipWhitespace();
      }
      offer.params.push([name, paramValue]);
    }

    if (i < n && header.charCodeAt(i) !== COMMA) {
      throw malformed(header, i, 'expected ";", "," or the end of the header');
    }
  }
  return list;
}

/**
 * Serializes a list back into a header value, canonically: `name; a; b=1, other`.
 * Values are written as bare tokens (RFC 6455 §9.1 only allows token values, so quoting
 * would add nothing). Misuse (a name or value that is not a token) throws at once.
 */
export function formatExtensions(list: readonly ExtensionOffer[]): string {
  const parts: string[] = [];
  for (const offer of list) {
    if (!isToken(offer.name)) {
      throw invalidArgument(`Extension name ${JSON.stringify(offer.name)} is not a token`);
    }
    let s = offer.name;
    for (const [name, value] of offer.params) {
      if (!isToken(name) || (value !== true && !isToken(value))) {
        throw invalidArgument(
          `Extension parameter ${JSON.stringify(name)}=${JSON.stringify(value)} is not a token`,
        );
      }
      s += value === true ? `; ${name}` : `; ${name}=${value}`;
    }
    parts.push(s);
  }
  return parts.join(', ');
}

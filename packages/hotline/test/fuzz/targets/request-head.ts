/**
 * The request-head reader (`findEndOfHead`, `parseRequestHead`) and the handshake
 * validator (`validateRequest`), differentially against Node's own llhttp.
 *
 * Input: the first bytes a client sends (a head, maybe frame bytes after it).
 *
 * Properties:
 * - `findEndOfHead` finds the first blank line, and a prefix of the input finds the
 *   same one or none (the server calls it on whatever arrived);
 * - `parseRequestHead` never throws, and a head it accepts is accepted by llhttp with
 *   the same method, target, version and fields (it is never more lenient than the
 *   parser it stands in for);
 * - `validateRequest` throws nothing but a `HandshakeError` with a 4xx status (405 with
 *   Allow, 426 with Sec-WebSocket-Version), on the fast reader's output and on Node's
 *   alike, and decides the same on both;
 * - what the server then writes parses as HTTP: a 101 with the right accept key, or a
 *   refusal with the error's status and an exact Content-Length.
 */
import { HandshakeError } from '../../../src/errors.js';
import {
  type ClientHandshakeRequest,
  type ValidatedRequest,
  acceptKey,
  acceptResponse,
  rejectResponse,
  validateRequest,
} from '../../../src/protocol/handshake.js';
import { findEndOfHead, isWebSocketUpgrade, parseRequestHead } from '../../../src/protocol/request-head.js';
import { type ParsedHead, parseHead } from '../llhttp.js';
import { type Target, describe, expect, expectEqual, text } from '../target.js';

const END = Buffer.from('\r\n\r\n');

type Verdict = { ok: ValidatedRequest } | { status: number; code: string };

function validate(request: ClientHandshakeRequest, which: string): Verdict {
  try {
    return { ok: validateRequest(request) };
  } catch (error) {
    expect(error instanceof HandshakeError, `validateRequest throws only HandshakeError (${which})`, () => describe(error));
    const { status, code, headers } = error as HandshakeError;
    expect(status >= 400 && status < 500, `validateRequest refuses with a 4xx (${which})`, () => `${code} ${status}`);
    if (status === 405) expect(headers['Allow'] === 'GET', '405 names the allowed method');
    if (status === 426) expect(headers['Sec-WebSocket-Version'] === '13', '426 names the version');
    checkRefusal(error as HandshakeError);
    return { status, code };
  }
}

/** The refusal the server writes to the socket is one well-formed HTTP response. */
function checkRefusal(error: HandshakeError): void {
  const response = Buffer.from(rejectResponse(error.status, error.message, error.headers));
  const end = response.indexOf(END);
  const parsed = parseHead(response.subarray(0, end + 4), 'response');
  expect(typeof parsed !== 'string', 'the refusal parses as HTTP', () => String(parsed));
  const head = parsed as ParsedHead;
  expectEqual(head.statusCode, error.status, 'the refusal carries the status');
  expectEqual(Number(head.headers['content-length']), response.length - end - 4, 'the refusal has an exact Content-Length');
}

function checkAccept(validated: ValidatedRequest): void {
  const response = Buffer.from(acceptResponse({ key: validated.key, protocol: validated.protocols[0] ?? '', extensions: '' }));
  const parsed = parseHead(response, 'response');
  expect(typeof parsed !== 'string', 'the 101 parses as HTTP', () => String(parsed));
  const head = parsed as ParsedHead;
  expectEqual(head.statusCode, 101, 'the answer is a 101');
  expectEqual(head.headers['sec-websocket-accept'], acceptKey(validated.key), 'the 101 carries the accept key');
}

function run(input: Buffer): void {
  const end = findEndOfHead(input);
  expectEqual(end, input.indexOf(END), 'findEndOfHead finds the first blank line');
  for (const length of [input.length - 1, end + 3, end + 1, input.length >> 1]) {
    if (length < 0 || length > input.length) continue;
    const prefix = findEndOfHead(input.subarray(0, length));
    expect(prefix === -1 || prefix === end, 'a prefix finds the same end or none', () => `${length}: ${prefix} vs ${end}`);
  }

  let head;
  try {
    head = parseRequestHead(input, end);
  } catch (error) {
    expect(false, 'parseRequestHead never throws', () => describe(error));
  }
  const node = end === -1 ? 'incomplete' : parseHead(input.subarray(0, end + 4), 'request');
  let nodeVerdict: Verdict | null = null;
  if (typeof node !== 'string') {
    nodeVerdict = validate({ method: node.method, httpVersion: node.httpVersion, headers: node.headers }, 'on llhttp output');
    if ('ok' in nodeVerdict) checkAccept(nodeVerdict.ok);
  }
  if (head === null || head === undefined) return;
  const verdict = validate(head, 'on parseRequestHead output');
  if ('ok' in verdict && isWebSocketUpgrade(head)) checkAccept(verdict.ok);
  expect(typeof node !== 'string', 'llhttp accepts what parseRequestHead accepts', () => String(node));
  const parsed = node as ParsedHead;
  expectEqual(
    { method: head.method, url: head.url, httpVersion: head.httpVersion },
    { method: parsed.method, url: parsed.url, httpVersion: parsed.httpVersion },
    'the request line reads as llhttp reads it',
  );
  const fields: Array<[string, string]> = [];
  for (let i = 0; i < parsed.rawHeaders.length; i += 2) fields.push([parsed.rawHeaders[i]!.toLowerCase(), parsed.rawHeaders[i + 1]!]);
  // Sorted: an object lists integer-like keys ("6") first, whatever the order sent.
  const byName = (a: [string, string], b: [string, string]) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
  expectEqual(Object.entries(head.headers).sort(byName), fields.sort(byName), 'the fields read as llhttp reads them');
  const nodeHeaders = { ...parsed.headers };
  expectEqual(head.headers, nodeHeaders, 'the fields are what IncomingMessage.headers holds');
  expectEqual(verdict, nodeVerdict, 'validateRequest decides the same on both parsers');
}

const HANDSHAKE = [
  'GET /chat?room=1 HTTP/1.1',
  'Host: server.example.com',
  'Upgrade: websocket',
  'Connection: Upgrade',
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
  'Origin: http://example.com',
  'Sec-WebSocket-Protocol: chat, superchat',
  'Sec-WebSocket-Version: 13',
];

function head(lines: readonly string[], after = ''): Buffer {
  return text(`${lines.join('\r\n')}\r\n\r\n${after}`);
}

export const requestHead: Target = {
  name: 'request-head',
  about: 'findEndOfHead/parseRequestHead against llhttp, validateRequest on both, the answers parse as HTTP',
  maxLength: 2048,
  seeds: () => [
    head(HANDSHAKE),
    head(HANDSHAKE, '\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58'),
    head(['GET / HTTP/1.0', 'Host: a', 'Upgrade: WebSocket', 'Connection: keep-alive, Upgrade', 'Sec-WebSocket-Version: 8']),
    head(['POST /x HTTP/1.1', 'Host: a', 'Content-Length: 0']),
    head(['GET / HTTP/1.1', 'Host: a', 'X: a,', ' folded', 'Upgrade:\twebsocket\t', 'Connection: upgrade']),
    head([...HANDSHAKE.slice(0, 4), 'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits', 'Host: again']),
    head(['GET /?q=%41#f HTTP/1.1', 'host:', 'upgrade: websocket', 'connection: Upgrade', 'sec-websocket-key: AAAAAAAAAAAAAAAAAAAAAA==', 'sec-websocket-version:  13 ']),
  ],
  dictionary: [
    'GET ', ' HTTP/1.1\r\n', ' HTTP/1.0\r\n', 'HTTP/2.0', '\r\n', '\r\n\r\n', ': ', ':', ' ', '\t', ',', '\n', '\r', '\x00',
    text('\x7f'), text('\xff'), text('\x80'), 'Host: a\r\n', 'Upgrade: websocket\r\n', 'Connection: Upgrade\r\n',
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n', 'Sec-WebSocket-Version: 13\r\n', 'Sec-WebSocket-Protocol: a, b\r\n',
    'Sec-WebSocket-Extensions: permessage-deflate\r\n', 'Content-Length: 0\r\n', 'Transfer-Encoding: chunked\r\n',
    'Set-Cookie: a=b\r\n', '__proto__', 'constructor', 'POST', 'get', 'CONNECT', 'OPTIONS * ', 'http://h/p', '/?a=b#c',
    '%00', '"', '==', 'upgrade', 'keep-alive',
  ],
  run,
};

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MAX_HEAD_BYTES,
  type RequestHead,
    findEndOfHead,
  isWebSocketUpgrade,
  parseRequestHead,
} from '../../src/protocol/request-head.js';

function parse(text: string) {
  const data = Buffer.from(text, 'latin1');
  return parseRequestHead(data, findEndOfHead(data));
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
].join('\r\n');

describe('parseRequestHead', () => {
  it('reads the RFC 6455 §1.2 handshake, names lowercased, frame bytes after the head untouched', () => {
    const data = Buffer.from(`${HANDSHAKE}\r\n\r\n\x81\x85`, 'latin1');
    const end = findEndOfHead(data);
    assert.equal(data.subarray(end + 4).toString('latin1'), '\x81\x85');
    const head = parseRequestHead(data, end);
    assert.deepEqual(head, {
      method: 'GET',
      url: '/chat?room=1',
      httpVersion: '1.1',
      headers: {
        host: 'server.example.com',
        upgrade: 'websocket',
        connection: 'Upgrade',
        'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        origin: 'http://example.com',
        'sec-websocket-protocol': 'chat, superchat',
        'sec-websocket-version': '13',
      },
    });
    assert.ok(isWebSocketUpgrade(head!));
  });

  it('trims optional whitespace around values and keeps it inside; empty values are values', () => {
    const head = parse('GET / HTTP/1.0\r\nA:  x  y \t\r\nB:\r\nC:\t\r\n\r\n');
    assert.deepEqual(head?.headers, { a: 'x  y', b: '', c: '' });
    assert.equal(head?.httpVersion, '1.0');
  });

  it('keeps obs-text (bytes 0x80-0xFF) in values, as latin1', () => {
    assert.equal(parse('GET / HTTP/1.1\r\nX: caf\xe9\r\n\r\n')?.headers['x'], 'caf\xe9');
  });

  const leftToAFullParser: Array<[string, string]> = [
    ['a lowercase version', 'GET / http/1.1\r\n\r\n'],
    ['HTTP/2.0', 'GET / HTTP/2.0\r\n\r\n'],
    ['two spaces in the request line', 'GET  / HTTP/1.1\r\n\r\n'],
    ['no request-target', 'GET HTTP/1.1\r\n\r\n'],
    ['a space in the target', 'GET /a b HTTP/1.1\r\n\r\n'],
    ['a method that is not a token', 'G(T / HTTP/1.1\r\n\r\n'],
    ['a line without a colon', 'GET / HTTP/1.1\r\nHost\r\n\r\n'],
    ['whitespace before the colon (RFC 9112 §5.1)', 'GET / HTTP/1.1\r\nHost : x\r\n\r\n'],
    ['an empty field name', 'GET / HTTP/1.1\r\n: x\r\n\r\n'],
    ['obs-fold (RFC 9112 §5.2)', 'GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n'],
    ['a repeated field', 'GET / HTTP/1.1\r\nX: a\r\nx: b\r\n\r\n'],
    ['a field named __proto__', 'GET / HTTP/1.1\r\n__proto__: x\r\n\r\n'],
    ['a control character in a value', 'GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n'],
    ['DEL in a value', 'GET / HTTP/1.1\r\nX: a\x7fb\r\n\r\n'],
    ['a bare LF', 'GET / HTTP/1.1\r\nX: a\nY: b\r\n\r\n'],
    ['a bare CR', 'GET / HTTP/1.1\r\nX: a\rb\r\n\r\n'],
    ['a Content-Length', 'GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n'],
    ['a Transfer-Encoding', 'GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n'],
    ['no end of head yet', 'GET / HTTP/1.1\r\nHost: x\r\n'],
    // What a handshake never sends goes to the full parser, so that a head gets the same
    // answer in one read or several.
    ['a method other than GET', 'FOO / HTTP/1.1\r\n\r\n'],
    ['a target not in origin-form', 'GET f HTTP/1.1\r\n\r\n'],
    ['an absolute-form target', 'GET http://x/ HTTP/1.1\r\n\r\n'],
    ['a Set-Cookie field (Node keeps it as a list)', 'GET / HTTP/1.1\r\nSet-Cookie: a=1\r\n\r\n'],
    ['more than 1,000 fields (what an http.Server keeps)', `GET / HTTP/1.1\r\n${Array.from({ length: 1001 }, (_, i) => `X${i}: v\r\n`).join('')}\r\n`],
  ];
  for (const [what, text] of leftToAFullParser) {
    it(`gives up on ${what}`, () => {
      assert.equal(parse(text), null);
    });
  }

  it(`gives up on a head longer than ${MAX_HEAD_BYTES} bytes`, () => {
    const long = `GET / HTTP/1.1\r\nX: ${'a'.repeat(MAX_HEAD_BYTES)}\r\n\r\n`;
    assert.equal(parse(long), null);
    const fits = `GET / HTTP/1.1\r\nX: ${'a'.repeat(MAX_HEAD_BYTES - 40)}\r\n\r\n`;
    assert.notEqual(parse(fits), null);
  });
});

describe('isWebSocketUpgrade', () => {
  const head = (upgrade?: string, connection = 'Upgrade'): RequestHead => ({
    method: 'GET',
    url: '/',
    httpVersion: '1.1',
    headers: upgrade === undefined ? { connection } : { upgrade, connection },
  });
  it('finds the websocket and upgrade tokens in any case, among others', () => {
    for (const value of ['websocket', 'WebSocket', 'h2c, websocket', 'websocket , foo']) assert.ok(isWebSocketUpgrade(head(value)), value);
    for (const value of ['upgrade', 'keep-alive, Upgrade', 'UPGRADE']) assert.ok(isWebSocketUpgrade(head('websocket', value)), value);
  });
  it('does not see them where they are not', () => {
    for (const value of [undefined, '', 'websockets', 'h2c', 'web socket']) assert.ok(!isWebSocketUpgrade(head(value)), String(value));
    for (const value of ['', 'keep-alive', 'upgrades', 'close']) assert.ok(!isWebSocketUpgrade(head('websocket', value)), value);
  });
});

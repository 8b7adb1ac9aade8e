import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ErrorCode, HandshakeError } from '../../src/errors.js';
import {
  type ClientHandshakeRequest,
  type Headers,
  acceptKey,
  acceptResponse,
  generateKey,
  rejectResponse,
  requestHeaders,
  validateRequest,
  validateResponse,
} from '../../src/protocol/handshake.js';

/** RFC 6455 §1.3: the sample nonce and the accept value it yields. */
const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

/** The RFC 6455 §1.2 sample request, as Node's http parser hands it over (lower-case names). */
function request(headers: Record<string, string | string[] | undefined> = {}, rest: Partial<ClientHandshakeRequest> = {}): ClientHandshakeRequest {
  const base: Record<string, string | string[] | undefined> = {
    host: 'server.example.com',
    upgrade: 'websocket',
    connection: 'Upgrade',
    'sec-websocket-key': KEY,
    origin: 'http://example.com',
    'sec-websocket-version': '13',
  };
  const merged: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries({ ...base, ...headers })) if (value !== undefined) merged[name] = value;
  return { method: 'GET', httpVersion: '1.1', headers: merged, ...rest };
}

function refused(fn: () => unknown, code: ErrorCode, status: number, headers: Record<string, string> = {}): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof HandshakeError, String(error));
    assert.equal(error.code, code);
    assert.equal(error.status, status);
    assert.deepEqual(error.headers, headers);
    return true;
  });
}

describe('acceptKey', () => {
  it('gives the RFC 6455 §1.3 example', () => {
    assert.equal(acceptKey(KEY), ACCEPT);
  });
});

describe('generateKey', () => {
  it('gives base64 of 16 random bytes that validateRequest accepts', () => {
    const keys = new Set<string>();
    for (let i = 0; i < 100; i++) {
      const key = generateKey();
      assert.equal(Buffer.from(key, 'base64').length, 16);
      assert.equal(validateRequest(request({ 'sec-websocket-key': key })).key, key);
      keys.add(key);
    }
    assert.equal(keys.size, 100);
  });
});

describe('validateRequest', () => {
  it('accepts the RFC 6455 §1.2 sample request', () => {
    assert.deepEqual(validateRequest(request()), { key: KEY, protocols: [], extensions: '' });
  });

  it('returns the subprotocols offered in order and the raw extensions offer', () => {
    const validated = validateRequest(
      request({
        'sec-websocket-protocol': 'chat, superchat',
        'sec-websocket-extensions': 'permessage-deflate; client_max_window_bits',
      }),
    );
    assert.deepEqual(validated.protocols, ['chat', 'superchat']);
    assert.equal(validated.extensions, 'permessage-deflate; client_max_window_bits');
  });

  it('reads subprotocols from repeated headers as one list', () => {
    assert.deepEqual(validateRequest(request({ 'sec-websocket-protocol': ['chat', 'v2.json, mqtt'] })).protocols, [
      'chat',
      'v2.json',
      'mqtt',
    ]);
  });

  it('accepts HTTP/1.x versions above 1.1', () => {
    validateRequest(request({}, { httpVersion: '1.2' }));
  });

  for (const httpVersion of ['2.0', '3.0']) {
    it(`refuses an HTTP/${httpVersion} request line on HTTP/1.1 with 505`, () => {
      refused(() => validateRequest(request({}, { httpVersion })), 'HL_ERR_HANDSHAKE_HTTP_VERSION', 505);
    });
  }

  for (const method of ['POST', 'HEAD', 'PUT', 'OPTIONS', 'get']) {
    it(`refuses ${method} with 405 and Allow: GET`, () => {
      refused(() => validateRequest(request({}, { method })), 'HL_ERR_HANDSHAKE_METHOD', 405, { Allow: 'GET' });
    });
  }

  for (const httpVersion of ['1.0', '0.9']) {
    it(`refuses HTTP/${httpVersion} with 400`, () => {
      refused(() => validateRequest(request({}, { httpVersion })), 'HL_ERR_HANDSHAKE_HTTP_VERSION', 400);
    });
  }

  it('refuses a request without Host with 400', () => {
    refused(() => validateRequest(request({ host: undefined })), 'HL_ERR_HANDSHAKE_HOST', 400);
    refused(() => validateRequest(request({ host: '' })), 'HL_ERR_HANDSHAKE_HOST', 400);
  });

  for (const upgrade of [undefined, '', 'h2c', 'websockets', 'web socket']) {
    it(`refuses Upgrade: ${JSON.stringify(upgrade)} with 400`, () => {
      refused(() => validateRequest(request({ upgrade })), 'HL_ERR_HANDSHAKE_UPGRADE', 400);
    });
  }

  for (const upgrade of ['WebSocket', 'WEBSOCKET', 'h2c, websocket']) {
    it(`accepts Upgrade: ${upgrade}`, () => {
      validateRequest(request({ upgrade }));
    });
  }

  for (const connection of [undefined, '', 'keep-alive', 'close', 'upgraded', 'keep-alive upgrade']) {
    it(`refuses Connection: ${JSON.stringify(connection)} with 400`, () => {
      refused(() => validateRequest(request({ connection })), 'HL_ERR_HANDSHAKE_CONNECTION', 400);
    });
  }

  for (const connection of ['upgrade', 'UPGRADE', 'keep-alive, Upgrade', 'Upgrade ,keep-alive', 'keep-alive,upgrade']) {
    it(`accepts Connection: ${connection}`, () => {
      validateRequest(request({ connection }));
    });
  }

  for (const version of [undefined, '', '8', '12', '14', '13, 8', 'thirteen']) {
    it(`refuses Sec-WebSocket-Version: ${JSON.stringify(version)} with 426 and Sec-WebSocket-Version: 13`, () => {
      refused(() => validateRequest(request({ 'sec-websocket-version': version })), 'HL_ERR_HANDSHAKE_VERSION', 426, {
        'Sec-WebSocket-Version': '13',
      });
    });
  }

  it('refuses a repeated Sec-WebSocket-Version header with 426', () => {
    refused(() => validateRequest(request({ 'sec-websocket-version': ['13', '8'] })), 'HL_ERR_HANDSHAKE_VERSION', 426, {
      'Sec-WebSocket-Version': '13',
    });
  });

  for (const [what, key] of [
    ['a missing key', undefined],
    ['an empty key', ''],
    ['a key of 15 bytes', Buffer.alloc(15, 1).toString('base64')],
    ['a key of 17 bytes', Buffer.alloc(17, 1).toString('base64')],
    ['a key without its padding', KEY.slice(0, 22)],
    ['a key with a character outside base64', 'dGhlIHNhbXBsZSBub25j*Q=='],
    ['a base64url key', 'dGhlIHNhbXBsZSBub25j-_=='],
    ['a key repeated (joined by the HTTP parser)', `${KEY}, ${KEY}`],
    ['a key repeated (as a list)', [KEY, KEY]],
  ] as const) {
    it(`refuses ${what} with 400`, () => {
      refused(
        () => validateRequest(request({ 'sec-websocket-key': key as string | string[] | undefined })),
        'HL_ERR_HANDSHAKE_KEY',
        400,
      );
    });
  }

  it('accepts a key surrounded by whitespace', () => {
    assert.equal(validateRequest(request({ 'sec-websocket-key': ` ${KEY} ` })).key, KEY);
  });

  for (const protocol of ['chat, a b', 'a/b', 'chat, [x]', 'sub"protocol', 'a=b', 'é']) {
    it(`refuses the subprotocol list ${JSON.stringify(protocol)} with 400`, () => {
      refused(() => validateRequest(request({ 'sec-websocket-protocol': protocol })), 'HL_ERR_HANDSHAKE_PROTOCOL', 400);
    });
  }
});

describe('acceptResponse', () => {
  it('writes the RFC 6455 §1.3 101 response', () => {
    assert.equal(
      acceptResponse({ key: KEY, protocol: '', extensions: '' }),
      'HTTP/1.1 101 Switching Protocols\r\n' +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${ACCEPT}\r\n` +
        '\r\n',
    );
  });

  it('adds the selected subprotocol, the extensions and extra headers', () => {
    assert.equal(
      acceptResponse({ key: KEY, protocol: 'chat', extensions: 'permessage-deflate', headers: { 'Set-Cookie': 'a=b' } }),
      'HTTP/1.1 101 Switching Protocols\r\n' +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${ACCEPT}\r\n` +
        'Sec-WebSocket-Protocol: chat\r\n' +
        'Sec-WebSocket-Extensions: permessage-deflate\r\n' +
        'Set-Cookie: a=b\r\n' +
        '\r\n',
    );
  });

  it('refuses extra headers that would inject a line', () => {
    const cases: Record<string, string>[] = [{ 'X-A': 'b\r\nX-Injected: 1' }, { 'X-A': 'b\nc' }, { 'X-A\r\nX-B': 'c' }, { 'X A': 'c' }];
    for (const headers of cases) {
      refused(() => acceptResponse({ key: KEY, protocol: '', extensions: '', headers }), 'HL_ERR_HANDSHAKE_REJECTED', 500);
    }
  });
});

describe('rejectResponse', () => {
  it('writes a complete plain-text response that closes the connection', () => {
    assert.equal(
      rejectResponse(426, 'Upgrade required: version 13', { 'Sec-WebSocket-Version': '13' }),
      'HTTP/1.1 426 Upgrade Required\r\n' +
        'Connection: close\r\n' +
        'Content-Type: text/plain; charset=utf-8\r\n' +
        'Content-Length: 29\r\n' +
        'Sec-WebSocket-Version: 13\r\n' +
        '\r\n' +
        'Upgrade required: version 13\n',
    );
  });

  it('counts Content-Length in bytes and sends no body for an empty message', () => {
    assert.match(rejectResponse(403, 'interdit €'), /Content-Length: 13\r\n/);
    assert.ok(rejectResponse(405, '', { Allow: 'GET' }).endsWith('Content-Length: 0\r\nAllow: GET\r\n\r\n'));
  });

  it('names unknown statuses "Error"', () => {
    assert.ok(rejectResponse(418, '').startsWith('HTTP/1.1 418 Error\r\n'));
  });

  for (const [what, headers] of [
    ['a CR LF in a value', { 'X-Reason': 'no\r\nSet-Cookie: session=stolen' }],
    ['a lone LF in a value', { 'X-Reason': 'no\nSet-Cookie: x' }],
    ['a lone CR in a value', { 'X-Reason': 'no\rSet-Cookie: x' }],
    ['a CR LF in a name', { 'X-Reason\r\nSet-Cookie': 'x' }],
    ['a colon in a name', { 'X-Reason: x': 'y' }],
    ['an empty name', { '': 'y' }],
  ] as const) {
    it(`refuses header injection: ${what}`, () => {
      refused(() => rejectResponse(400, 'bad', headers), 'HL_ERR_HANDSHAKE_REJECTED', 500);
    });
  }
});

describe('requestHeaders', () => {
  it('writes the client\'s opening handshake headers', () => {
    assert.deepEqual(requestHeaders({ key: KEY, protocols: [], extensions: '' }), {
      Connection: 'Upgrade',
      Upgrade: 'websocket',
      'Sec-WebSocket-Key': KEY,
      'Sec-WebSocket-Version': '13',
    });
  });

  it('offers subprotocols in order and extensions', () => {
    const headers = requestHeaders({ key: KEY, protocols: ['chat', 'superchat'], extensions: 'permessage-deflate' });
    assert.equal(headers['Sec-WebSocket-Protocol'], 'chat, superchat');
    assert.equal(headers['Sec-WebSocket-Extensions'], 'permessage-deflate');
  });
});

/** The RFC 6455 §1.3 sample answer, as Node's http parser hands it over. */
function response(headers: Record<string, string | string[] | undefined> = {}, status = 101): { status: number; headers: Headers } {
  const base: Record<string, string | string[] | undefined> = {
    upgrade: 'websocket',
    connection: 'Upgrade',
    'sec-websocket-accept': ACCEPT,
  };
  const merged: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries({ ...base, ...headers })) if (value !== undefined) merged[name] = value;
  return { status, headers: merged };
}

describe('validateResponse', () => {
  const offer = { key: KEY, protocols: ['chat', 'superchat'] };

  it('accepts the RFC 6455 §1.3 sample answer', () => {
    assert.deepEqual(validateResponse(response(), offer), { protocol: '', extensions: '' });
  });

  it('returns the subprotocol selected from the offer and the raw extensions', () => {
    assert.deepEqual(
      validateResponse(response({ 'sec-websocket-protocol': 'superchat', 'sec-websocket-extensions': 'permessage-deflate' }), offer),
      { protocol: 'superchat', extensions: 'permessage-deflate' },
    );
  });

  it('compares Upgrade and Connection case-insensitively', () => {
    validateResponse(response({ upgrade: 'WebSocket', connection: 'upgrade' }), offer);
  });

  for (const status of [200, 301, 400, 403, 426, 500]) {
    it(`fails on status ${status}, reporting it`, () => {
      refused(() => validateResponse(response({}, status), offer), 'HL_ERR_HANDSHAKE_STATUS', status);
    });
  }

  for (const [what, accept] of [
    ['a missing Sec-WebSocket-Accept', undefined],
    ['an accept for another key', acceptKey(generateKey())],
    ['the key itself as accept', KEY],
    ['the accept repeated', [ACCEPT, ACCEPT]],
  ] as const) {
    it(`fails on ${what}`, () => {
      assert.throws(
        () => validateResponse(response({ 'sec-websocket-accept': accept as string | string[] | undefined }), offer),
        { code: 'HL_ERR_HANDSHAKE_ACCEPT' },
      );
    });
  }

  for (const upgrade of [undefined, 'h2c']) {
    it(`fails on Upgrade: ${JSON.stringify(upgrade)}`, () => {
      assert.throws(() => validateResponse(response({ upgrade }), offer), { code: 'HL_ERR_HANDSHAKE_UPGRADE' });
    });
  }

  for (const connection of [undefined, 'keep-alive']) {
    it(`fails on Connection: ${JSON.stringify(connection)}`, () => {
      assert.throws(() => validateResponse(response({ connection }), offer), { code: 'HL_ERR_HANDSHAKE_CONNECTION' });
    });
  }

  it('fails when the server selects a subprotocol that was not offered', () => {
    assert.throws(() => validateResponse(response({ 'sec-websocket-protocol': 'mqtt' }), offer), {
      code: 'HL_ERR_HANDSHAKE_PROTOCOL',
    });
    assert.throws(() => validateResponse(response({ 'sec-websocket-protocol': 'chat' }), { key: KEY, protocols: [] }), {
      code: 'HL_ERR_HANDSHAKE_PROTOCOL',
    });
  });

  it('fails when the server selects two subprotocols', () => {
    assert.throws(() => validateResponse(response({ 'sec-websocket-protocol': 'chat, superchat' }), offer), {
      code: 'HL_ERR_HANDSHAKE_PROTOCOL',
    });
    assert.throws(() => validateResponse(response({ 'sec-websocket-protocol': ['chat', 'chat'] }), offer), {
      code: 'HL_ERR_HANDSHAKE_PROTOCOL',
    });
  });
});

describe('opening handshake, both sides together', () => {
  it('a client request passes the server checks and the server answer passes the client checks', () => {
    const key = generateKey();
    const sent = requestHeaders({ key, protocols: ['v1', 'v2'], extensions: '' });
    const received: Record<string, string> = { host: 'localhost:8080' };
    for (const [name, value] of Object.entries(sent)) received[name.toLowerCase()] = value;
    const validated = validateRequest({ method: 'GET', httpVersion: '1.1', headers: received });
    assert.deepEqual(validated.protocols, ['v1', 'v2']);

    const raw = acceptResponse({ key: validated.key, protocol: 'v2', extensions: '' });
    const [statusLine, ...lines] = raw.split('\r\n');
    assert.equal(statusLine, 'HTTP/1.1 101 Switching Protocols');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      if (line === '') continue;
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    assert.deepEqual(validateResponse({ status: 101, headers }, { key, protocols: ['v1', 'v2'] }), {
      protocol: 'v2',
      extensions: '',
    });
  });
});

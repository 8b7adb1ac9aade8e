/**
 * Bad input over HTTP/2 (RFC 9113, RFC 8441), sent frame by frame by a raw client: every
 * malformed or hostile exchange gets its precise answer (a status, a RST_STREAM code, a
 * GOAWAY code), the `close` hook runs once with 1006 when a stream is cut under a
 * WebSocket, and after each case another stream on the same connection (where it lives
 * on) and another connection are still served.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Server } from '../../src/server/server.js';
import type { Peer } from '../../src/types.js';
import { decodeFrames, type DecodedFrame } from '../support/bytes.js';
import { clientFrame, closePayload } from '../support/raw.js';
import { Recorder } from '../support/server.js';
import { cert, key } from '../support/tls.js';
import { eventually, withTimeout } from '../support/timing.js';
import {
  ErrorCode,
  FrameType,
  H2Client,
  Setting,
  dataFrame,
  errorCodeOf,
  headersFrame,
  rstStreamFrame,
  settingsFrame,
  webSocketConnect,
  windowUpdateFrame,
} from '../support/h2-frames.js';

interface Tagged {
  readonly tag: string;
}

/** The server's own bound on what one peer may have waiting (kept small: a test fills it). */
const MAX_BUFFERED = 256 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 0x61);
/** How long the server waits for the end of a closing handshake (short: a test waits it out). */
const CLOSE_TIMEOUT = 1000;

const recorder = new Recorder();
const sendResults: string[] = [];
let server: Server;
let port = 0;

before(async () => {
  server = new Server({ maxBufferedAmount: MAX_BUFFERED, closeTimeout: CLOSE_TIMEOUT });
  const upgrade = (request: { query: URLSearchParams }) => ({ data: { tag: request.query.get('case') ?? '' } });
  server.route(
    '/ws',
    recorder.echo<Tagged>({
      upgrade,
      message(peer, data) {
        if (data.toString() === 'close-me') peer.close(1000, 'asked');
      },
    }),
  );
  // Pushes far more than the peer's flow-control window lets through.
  server.route(
    '/flood',
    recorder.handler<Tagged>({
      upgrade,
      open(peer) {
        for (let i = 0; i < 64; i++) sendResults.push(peer.send(CHUNK, true));
      },
    }),
  );
  const address = await server.listen({ port: 0, host: '127.0.0.1', tls: { key, cert } });
  port = address.port;
});

after(async () => {
  await server.close({ timeout: 500 });
});

/** Opens a WebSocket on a new stream (RFC 8441 §5) and waits for its 200. */
async function openWebSocket(client: H2Client, tag: string, path = '/ws'): Promise<number> {
  const id = client.streamId();
  client.write(headersFrame(id, webSocketConnect(port, `${path}?case=${tag}`)));
  const answer = await client.answer(id);
  assert.equal(answer.status, 200, `extended CONNECT on ${path}: ${JSON.stringify(answer)}`);
  return id;
}

/** The WebSocket frames the server sent on a stream, once `count` of them are complete. */
async function serverFrames(client: H2Client, id: number, count: number): Promise<DecodedFrame[]> {
  let frames: DecodedFrame[] = [];
  await eventually(
    () => {
      try {
        frames = decodeFrames(client.dataOf(id));
      } catch {
        return false; // a frame cut across DATA frames: more to come
      }
      return frames.length >= count;
    },
    3000,
    `${count} WebSocket frame(s) on stream ${id}`,
  );
  return frames;
}

/** A text message echoed on a new WebSocket stream of `client`. */
async function assertEchoOn(client: H2Client, tag: string): Promise<void> {
  const id = await openWebSocket(client, tag);
  client.write(dataFrame(id, clientFrame({ opcode: 0x1, payload: `still here: ${tag}` })));
  const [echoed] = await serverFrames(client, id, 1);
  assert.equal(echoed!.payload.toString(), `still here: ${tag}`);
}

/** Another stream on the same connection (unless it is gone) and another connection are served. */
async function assertStillServes(client: H2Client | null, tag: string): Promise<void> {
  if (client !== null) await assertEchoOn(client, `${tag}-same-connection`);
  const fresh = await H2Client.connect(port);
  try {
    await assertEchoOn(fresh, `${tag}-new-connection`);
  } finally {
    fresh.close();
  }
}

function peersTagged(tag: string): Array<Peer<Tagged>> {
  return recorder.of('open').map((e) => e.peer as Peer<Tagged>).filter((peer) => peer.data.tag === tag);
}

function closesTagged(tag: string): Array<{ code: number }> {
  return recorder.of('close').filter((e) => (e.peer as Peer<Tagged>).data.tag === tag);
}

describe('HTTP/2: malformed and refused extended CONNECTs', { timeout: 20_000 }, () => {
  let client: H2Client;
  before(async () => {
    client = await H2Client.connect(port);
  });
  after(() => client.close());

  it('advertises SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 (RFC 8441 §3)', () => {
    assert.equal(client.serverSettings.get(Setting.ENABLE_CONNECT_PROTOCOL), 1);
  });

  it('answers a CONNECT with :path and :scheme but no :protocol as malformed (RFC 9113 §8.5: RST_STREAM PROTOCOL_ERROR or 400)', async () => {
    const id = client.streamId();
    client.write(headersFrame(id, [[':method', 'CONNECT'], [':scheme', 'https'], [':path', '/ws'], [':authority', `127.0.0.1:${port}`], ['sec-websocket-version', '13']]));
    const answer = await client.answer(id);
    assert.ok(answer.reset === ErrorCode.PROTOCOL_ERROR || answer.status === 400, JSON.stringify(answer));
    await assertStillServes(client, 'connect-no-protocol');
  });

  it('refuses a :protocol it does not speak ("chat") with 400 or 501, never 200', async () => {
    const id = client.streamId();
    client.write(headersFrame(id, [[':method', 'CONNECT'], [':protocol', 'chat'], [':scheme', 'https'], [':path', '/ws'], [':authority', `127.0.0.1:${port}`], ['sec-websocket-version', '13']]));
    const answer = await client.answer(id);
    assert.ok(answer.status === 400 || answer.status === 501, JSON.stringify(answer));
    await assertStillServes(client, 'unknown-protocol');
  });

  for (const [name, extra] of [
    ['no sec-websocket-version', []],
    ['sec-websocket-version: 8', [['sec-websocket-version', '8']]],
  ] as const) {
    it(`refuses :protocol websocket with ${name}: 426 or 400, with sec-websocket-version: 13 (RFC 6455 §4.4)`, async () => {
      const id = client.streamId();
      client.write(headersFrame(id, webSocketConnect(port, '/ws', extra)));
      const answer = await client.answer(id);
      // Over HTTP/2, 426's Upgrade has no meaning (RFC 9113 §8.6): 400 with the version is as good.
      assert.ok(answer.status === 426 || answer.status === 400, JSON.stringify(answer));
      assert.equal(answer.headers!.get('sec-websocket-version'), '13', 'the versions the server speaks');
      await assertStillServes(client, `version-${extra.length}`);
    });
  }

  it('answers an extended CONNECT on a path with no route with 404', async () => {
    const id = client.streamId();
    client.write(headersFrame(id, webSocketConnect(port, '/nowhere')));
    const answer = await client.answer(id);
    assert.equal(answer.status, 404, JSON.stringify(answer));
    await assertStillServes(client, 'no-route');
  });
});

describe('HTTP/2: a WebSocket stream cut or abused', { timeout: 20_000 }, () => {
  let client: H2Client;
  before(async () => {
    client = await H2Client.connect(port);
  });
  after(() => client.close());

  it('resets or ignores DATA sent after the WebSocket closed and its stream ended (RFC 9113 §5.1: STREAM_CLOSED), and goes on', async () => {
    const id = await openWebSocket(client, 'data-after-close');
    // RFC 8441 §6: END_STREAM is the WebSocket's TCP FIN; the client closes and ends its side.
    client.write(dataFrame(id, clientFrame({ opcode: 0x8, payload: closePayload(1000) }), true));
    const frames = await serverFrames(client, id, 1);
    assert.equal(frames[0]!.opcode, 0x8);
    assert.equal(frames[0]!.payload.readUInt16BE(0), 1000);
    await eventually(() => closesTagged('data-after-close').length > 0, 2000, 'the close hook');
    client.write(dataFrame(id, clientFrame({ opcode: 0x1, payload: 'too late' })));
    await assertStillServes(client, 'data-after-close');
    const reset = client.frames.find((f) => f.streamId === id && f.type === FrameType.RST_STREAM);
    if (reset !== undefined) assert.equal(errorCodeOf(reset), ErrorCode.STREAM_CLOSED);
    assert.equal(recorder.of('message').filter((e) => (e.peer as Peer<Tagged>).data.tag === 'data-after-close').length, 0, 'nothing after the close reaches `message`');
    assert.deepEqual(closesTagged('data-after-close').map((c) => c.code), [1000], 'close ran once');
  });

  it('ends the stream after the close handshake, even when the client never sends END_STREAM (within closeTimeout)', async () => {
    const id = await openWebSocket(client, 'close-no-end-stream');
    client.write(dataFrame(id, clientFrame({ opcode: 0x8, payload: closePayload(1000) })));
    await serverFrames(client, id, 1);
    // RFC 6455 §7.1.1: the server closes the transport first; here, END_STREAM (RFC 8441 §6).
    await client.waitFor((f) => f.streamId === id && ((f.type === FrameType.DATA && (f.flags & 0x1) !== 0) || f.type === FrameType.RST_STREAM), 'END_STREAM or RST_STREAM from the server');
    await eventually(() => closesTagged('close-no-end-stream').length > 0, CLOSE_TIMEOUT + 1000, 'the close hook');
    assert.deepEqual(closesTagged('close-no-end-stream').map((c) => c.code), [1000]);
    await assertStillServes(client, 'close-no-end-stream');
  });

  it('survives a RST_STREAM sent with the HEADERS, before the 200: no peer left open', async () => {
    const id = client.streamId();
    client.write(headersFrame(id, webSocketConnect(port, '/ws?case=rst-before-200')), rstStreamFrame(id, ErrorCode.CANCEL));
    await assertStillServes(client, 'rst-before-200');
    const opened = peersTagged('rst-before-200').length;
    assert.equal(closesTagged('rst-before-200').length, opened, 'every peer that opened closed');
    for (const c of closesTagged('rst-before-200')) assert.equal(c.code, 1006);
  });

  for (const [tag, cut] of [
    ['rst-after-200', async (_id: number) => {}],
    ['rst-mid-frame', async (id: number) => client.write(dataFrame(id, clientFrame({ opcode: 0x2, payload: Buffer.alloc(1000) }).subarray(0, 100)))],
    [
      'rst-during-close',
      async (id: number) => {
        // The server starts the close handshake; the client cuts the stream instead of answering.
        client.write(dataFrame(id, clientFrame({ opcode: 0x1, payload: 'close-me' })));
        const frames = await serverFrames(client, id, 2);
        assert.equal(frames[1]!.opcode, 0x8, 'the server sent its Close');
      },
    ],
  ] as const) {
    it(`closes the peer with 1006, once, on a RST_STREAM ${tag.slice(4).replace(/-/g, ' ')}`, async () => {
      const id = await openWebSocket(client, tag);
      await eventually(() => peersTagged(tag).length === 1, 2000, 'the peer to open');
      await cut(id);
      client.write(rstStreamFrame(id, ErrorCode.CANCEL));
      await eventually(() => closesTagged(tag).length > 0, 2000, `the close hook (${tag})`);
      await assertStillServes(client, tag);
      assert.deepEqual(closesTagged(tag).map((c) => c.code), [1006]);
    });
  }
});

describe('HTTP/2: floods', { timeout: 20_000 }, () => {
  it('refuses the streams past its SETTINGS_MAX_CONCURRENT_STREAMS with REFUSED_STREAM (RFC 9113 §5.1.2)', {
    todo: 'server: stream 129 of 128 ends the whole connection, its 128 WebSockets with it, without GOAWAY (RST_STREAM INTERNAL_ERROR first when the streams come one by one); expected RST_STREAM REFUSED_STREAM (or PROTOCOL_ERROR) on that stream only',
  }, async () => {
    const client = await H2Client.connect(port);
    try {
      const max = client.serverSettings.get(Setting.MAX_CONCURRENT_STREAMS);
      assert.ok(max !== undefined && max <= 1000, `the server bounds concurrent streams (advertised: ${max})`);
      const ids = Array.from({ length: max + 1 }, () => client.streamId());
      client.write(...ids.map((id) => headersFrame(id, webSocketConnect(port, '/ws?case=concurrent'))));
      const last = await client.answer(ids.at(-1)!);
      assert.equal(last.reset, ErrorCode.REFUSED_STREAM, JSON.stringify(last));
      // The stream limit is no reason to drop the streams within it.
      await assertStillServes(client, 'concurrent');
    } finally {
      client.close();
    }
  });

  /** 5000 streams opened and reset at once, as CVE-2023-44487's clients do. */
  function rapidReset(client: H2Client): void {
    const frames: Buffer[] = [];
    for (let i = 0; i < 5000; i++) {
      const id = client.streamId();
      frames.push(headersFrame(id, webSocketConnect(port, '/ws?case=rapid-reset')), rstStreamFrame(id, ErrorCode.CANCEL));
    }
    client.write(...frames);
  }

  it('answers thousands of streams opened and reset at once (rapid reset, CVE-2023-44487) with GOAWAY, and serves others', async () => {
    const client = await H2Client.connect(port);
    try {
      rapidReset(client);
      const goaway = await client.goaway(5000);
      // nghttp2 stops the flood and Node ends the session with INTERNAL_ERROR (the code of
      // every nghttp2 session error in node:http2); ENHANCE_YOUR_CALM would say it better.
      assert.ok(errorCodeOf(goaway) === ErrorCode.ENHANCE_YOUR_CALM || errorCodeOf(goaway) === ErrorCode.INTERNAL_ERROR, `GOAWAY code ${errorCodeOf(goaway)}`);
      assert.ok(goaway.payload.readUInt32BE(0) < 5000 * 2, 'the last stream processed is short of the flood');
      await assertStillServes(null, 'rapid-reset');
      await eventually(() => closesTagged('rapid-reset').length === peersTagged('rapid-reset').length, 3000, 'every peer of the flood to close');
    } finally {
      client.close();
    }
  });

  it('closes the TCP connection after its GOAWAY for a rapid reset (RFC 9113 §5.4.1)', {
    todo: 'server: GOAWAY INTERNAL_ERROR arrives ~250 ms in, but the TCP connection is still open 8 s later; expected closed right after the GOAWAY',
  }, async () => {
    const client = await H2Client.connect(port);
    try {
      rapidReset(client);
      await client.goaway(5000);
      await withTimeout(client.closed, 2000, 'the server to close TCP');
    } finally {
      client.close();
    }
  });

  it('answers a flood of SETTINGS frames without growing: each acknowledged, or GOAWAY ENHANCE_YOUR_CALM', async () => {
    const client = await H2Client.connect(port);
    try {
      client.write(...Array.from({ length: 10_000 }, () => settingsFrame([[Setting.MAX_FRAME_SIZE, 16384]])));
      await eventually(
        () => client.ended || client.frames.some((f) => f.type === FrameType.GOAWAY) || client.frames.filter((f) => f.type === FrameType.SETTINGS && f.flags === 1).length >= 10_001,
        5000,
        'the SETTINGS flood to be answered',
      );
      const goaway = client.frames.find((f) => f.type === FrameType.GOAWAY);
      // nghttp2 counts the ACKs it owes (a flood, past 1000); Node ends such a session with INTERNAL_ERROR.
      if (goaway !== undefined) assert.ok(errorCodeOf(goaway) === ErrorCode.ENHANCE_YOUR_CALM || errorCodeOf(goaway) === ErrorCode.INTERNAL_ERROR, `GOAWAY code ${errorCodeOf(goaway)}`);
      if (goaway !== undefined) await withTimeout(client.closed, 2000, 'TCP to close after the GOAWAY');
      await assertStillServes(goaway === undefined ? client : null, 'settings-flood');
    } finally {
      client.close();
    }
  });

  for (const [name, setting, code] of [
    ['SETTINGS_ENABLE_PUSH = 2', [Setting.ENABLE_PUSH, 2], ErrorCode.PROTOCOL_ERROR],
    ['SETTINGS_INITIAL_WINDOW_SIZE = 2^31', [Setting.INITIAL_WINDOW_SIZE, 2 ** 31], ErrorCode.FLOW_CONTROL_ERROR],
    ['SETTINGS_MAX_FRAME_SIZE = 2^24', [Setting.MAX_FRAME_SIZE, 2 ** 24], ErrorCode.PROTOCOL_ERROR],
  ] as const) {
    it(`ends the connection on ${name} with GOAWAY (RFC 9113 §6.5.2)`, async () => {
      const client = await H2Client.connect(port);
      try {
        client.write(settingsFrame([setting]));
        const goaway = await client.goaway();
        // RFC 9113 names the code; node:http2 ends every session nghttp2 finds in error with
        // INTERNAL_ERROR (node:internal/http2/core, onSessionInternalError), which the
        // server cannot change. Either way the connection must end.
        assert.ok(errorCodeOf(goaway) === code || errorCodeOf(goaway) === ErrorCode.INTERNAL_ERROR, `GOAWAY code ${errorCodeOf(goaway)}`);
        await withTimeout(client.closed, 2000, 'TCP to close after the GOAWAY');
        await assertStillServes(null, `settings-${setting[0]}`);
      } finally {
        client.close();
      }
    });
  }

  it('drops what a peer behind a closed flow-control window cannot take, past maxBufferedAmount', async () => {
    // INITIAL_WINDOW_SIZE 0 (RFC 9113 §6.9.2) and no WINDOW_UPDATE: the stream never reads.
    const client = await H2Client.connect(port, { settings: [[Setting.INITIAL_WINDOW_SIZE, 0]], windowUpdates: false });
    try {
      await openWebSocket(client, 'window-zero', '/flood');
      await eventually(() => sendResults.length === 64, 2000, 'the server to send');
      // Nothing reaches the peer: past maxBufferedAmount every send is dropped (uWebSockets' policy).
      const accepted = sendResults.filter((result) => result !== 'dropped').length;
      assert.ok(accepted >= 1 && accepted <= MAX_BUFFERED / CHUNK.length + 1, `sends accepted: ${sendResults.join(',')}`);
      assert.equal(sendResults.at(-1), 'dropped');
      const [peer] = peersTagged('window-zero');
      assert.ok(peer!.bufferedAmount <= MAX_BUFFERED + CHUNK.length, `bufferedAmount ${peer!.bufferedAmount} stays near ${MAX_BUFFERED}`);
      // Another stream of the same connection opens; its echo needs credit of its own.
      const id = await openWebSocket(client, 'window-zero-same-connection');
      client.write(windowUpdateFrame(id, 1024), dataFrame(id, clientFrame({ opcode: 0x1, payload: 'beside a stalled stream' })));
      assert.equal((await serverFrames(client, id, 1))[0]!.payload.toString(), 'beside a stalled stream');
      await assertStillServes(null, 'window-zero');
    } finally {
      client.close();
    }
  });
});

// The HTTP/2 frame decoder sorts every byte: field blocks, payload, framing (RFC 9113 §4.1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CLIENT_PREFACE_LENGTH, type FrameCounts, FrameDecoder, emptyFrameCounts } from '../src/h2-frames.js';

/** A frame: 9-byte header (length 24, type 8, flags 8, R + stream 31) and payload. */
function frame(type: number, flags: number, stream: number, payload: number[]): Buffer {
  const length = payload.length;
  return Buffer.from([length >> 16, (length >> 8) & 0xff, length & 0xff, type, flags, (stream >>> 24) & 0x7f, (stream >> 16) & 0xff, (stream >> 8) & 0xff, stream & 0xff, ...payload]);
}

function decoder(clientToServer: boolean): { decoder: FrameDecoder; streams: Map<number, FrameCounts> } {
  const streams = new Map<number, FrameCounts>();
  const countsOf = (id: number) => {
    let counts = streams.get(id);
    if (counts === undefined) streams.set(id, (counts = emptyFrameCounts()));
    return counts;
  };
  return { decoder: new FrameDecoder(clientToServer, countsOf), streams };
}

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

test('the client preface and SETTINGS are framing; HEADERS payload is header bytes; DATA payload is data', () => {
  const { decoder: d, streams } = decoder(true);
  assert.equal(PREFACE.length, CLIENT_PREFACE_LENGTH);
  const bytes = Buffer.concat([
    PREFACE,
    frame(0x4, 0x0, 0, [0x00, 0x03, 0x00, 0x00, 0x00, 0x64]), // SETTINGS: MAX_CONCURRENT_STREAMS 100
    frame(0x1, 0x4, 1, [0x82, 0x86, 0x84, 0x41, 0x01, 0x61]), // HEADERS END_HEADERS: :method GET, :scheme http, :path /, :authority "a"
    frame(0x0, 0x1, 1, [0x68, 0x69]), // DATA END_STREAM "hi"
  ]);
  d.receive(bytes);
  assert.deepEqual(streams.get(0), { ...emptyFrameCounts(), framingBytes: 24 + 9 + 6, frames: 1, controlFrames: 1 });
  assert.deepEqual(streams.get(1), { ...emptyFrameCounts(), headerBytes: 6, dataBytes: 2, framingBytes: 18, frames: 2, headersFrames: 1, dataFrames: 1, streamsOpened: 1 });
});

test('padding, its length byte and the priority fields are framing, in frames split at every byte', () => {
  const { decoder: d, streams } = decoder(false);
  const bytes = Buffer.concat([
    // HEADERS PADDED|PRIORITY|END_HEADERS: pad length 2, 5 bytes of priority, 3 of block, 2 of padding
    frame(0x1, 0x8 | 0x20 | 0x4, 3, [2, 0, 0, 0, 0, 15, 0x88, 0x5f, 0x01, 0, 0]),
    // CONTINUATION: 4 more block bytes
    frame(0x9, 0x4, 3, [1, 2, 3, 4]),
    // DATA PADDED: pad length 3, 5 bytes of data, 3 of padding
    frame(0x0, 0x8, 3, [3, 10, 11, 12, 13, 14, 0, 0, 0]),
    // WINDOW_UPDATE on the stream: all framing
    frame(0x8, 0x0, 3, [0, 0, 0x10, 0]),
  ]);
  for (const byte of bytes) d.receive(Buffer.from([byte]));
  const s = streams.get(3)!;
  assert.equal(s.headerBytes, 3 + 4);
  assert.equal(s.dataBytes, 5);
  assert.equal(s.framingBytes, 4 * 9 + (1 + 5 + 2) + (1 + 3) + 4);
  assert.equal(s.headerBytes + s.dataBytes + s.framingBytes, bytes.length);
  assert.deepEqual([s.frames, s.headersFrames, s.dataFrames, s.controlFrames, s.streamsOpened], [4, 2, 1, 1, 1]);
});

test('a HEADERS frame on a stream already open (trailers) opens nothing new', () => {
  const { decoder: d, streams } = decoder(false);
  d.receive(Buffer.concat([frame(0x1, 0x4, 5, [0x88]), frame(0x0, 0x0, 5, [1]), frame(0x1, 0x5, 5, [0x40])]));
  assert.equal(streams.get(5)!.streamsOpened, 1);
  assert.equal(streams.get(5)!.headersFrames, 2);
});

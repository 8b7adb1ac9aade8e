/**
 * What HTTP/2 puts on a connection, one direction of its cleartext at a time: a decoder of
 * frame headers (RFC 9113 §4.1) that sorts every byte into header block, payload or
 * framing, so that "headers after HPACK" is counted from the frames themselves. No Node,
 * no sockets: bytes in, counts out (h2-tap.ts feeds it).
 *
 *   +-----------------------------------------------+
 *   |                 Length (24)                   |
 *   +---------------+---------------+---------------+
 *   |   Type (8)    |   Flags (8)   |
 *   +-+-------------+---------------+-------------------------------+
 *   |R|                 Stream Identifier (31)                      |
 *   +=+=============================================================+
 *   |                   Frame Payload (0...)                      ...
 *
 * - header bytes: the field block fragments of HEADERS and CONTINUATION frames, i.e. the
 *   HPACK-encoded fields (RFC 9113 §6.2, §6.10; RFC 7541);
 * - payload: the data of DATA frames (§6.1);
 * - framing: everything else — the 24-byte client preface (§3.4), every 9-byte frame
 *   header, padding and its length byte (§6.1, §6.2), a HEADERS frame's priority fields,
 *   and whole SETTINGS, PING, WINDOW_UPDATE, RST_STREAM, PRIORITY and GOAWAY frames.
 */

export const FRAME_TYPE = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;
export const FRAME_HEADER_LENGTH = 9;
/** RFC 9113 §3.4: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", sent by the client before its first frame. */
export const CLIENT_PREFACE_LENGTH = 24;

/** The bytes and frames of one direction (or of one stream in it). */
export interface FrameCounts {
  /** HPACK-encoded field blocks (HEADERS + CONTINUATION payloads, padding excluded). */
  headerBytes: number;
  /** DATA payloads (padding excluded). */
  dataBytes: number;
  /** Frame headers, padding, priority fields, preface and control frames. */
  framingBytes: number;
  frames: number;
  headersFrames: number;
  dataFrames: number;
  /** Frames on stream 0 or that are not HEADERS/CONTINUATION/DATA: SETTINGS, PING, WINDOW_UPDATE... */
  controlFrames: number;
  /** HEADERS frames that opened a stream (client to server: requests). */
  streamsOpened: number;
}

export function emptyFrameCounts(): FrameCounts {
  return { headerBytes: 0, dataBytes: 0, framingBytes: 0, frames: 0, headersFrames: 0, dataFrames: 0, controlFrames: 0, streamsOpened: 0 };
}

export function addFrameCounts(into: FrameCounts, from: FrameCounts): FrameCounts {
  into.headerBytes += from.headerBytes;
  into.dataBytes += from.dataBytes;
  into.framingBytes += from.framingBytes;
  into.frames += from.frames;
  into.headersFrames += from.headersFrames;
  into.dataFrames += from.dataFrames;
  into.controlFrames += from.controlFrames;
  into.streamsOpened += from.streamsOpened;
  return into;
}

/** Where the counts of a frame go: by its stream (0: the connection's own frames). */
export type CountsOf = (streamId: number) => FrameCounts;

const State = { PREFACE: 0, HEADER: 1, PAD_LENGTH: 2, PRIORITY: 3, BODY: 4, PADDING: 5 } as const;
type State = (typeof State)[keyof typeof State];

/**
 * One direction of one connection. `clientToServer` skips (and counts as framing) the
 * client preface first. Chunks may split frames anywhere, their headers included.
 */
export class FrameDecoder {
  private state: State;
  private prefaceLeft: number;
  private readonly header = new Uint8Array(FRAME_HEADER_LENGTH);
  private headerFill = 0;
  private type = 0;
  private flags = 0;
  private streamId = 0;
  /** Payload bytes of the current frame not yet consumed (pad length, priority, body, padding). */
  private left = 0;
  private padLength = 0;
  private priorityLeft = 0;
  private counts: FrameCounts | null = null;
  private readonly countsOf: CountsOf;
  /** Streams that a HEADERS frame has opened in this direction (to count each once). */
  private highestOpened = 0;

  constructor(clientToServer: boolean, countsOf: CountsOf) {
    this.prefaceLeft = clientToServer ? CLIENT_PREFACE_LENGTH : 0;
    this.state = clientToServer ? State.PREFACE : State.HEADER;
    this.countsOf = countsOf;
  }

  receive(chunk: Uint8Array): void {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      switch (this.state) {
        case State.PREFACE: {
          const take = Math.min(this.prefaceLeft, n - i);
          this.countsOf(0).framingBytes += take;
          this.prefaceLeft -= take;
          i += take;
          if (this.prefaceLeft === 0) this.state = State.HEADER;
          break;
        }
        case State.HEADER: {
          const take = Math.min(FRAME_HEADER_LENGTH - this.headerFill, n - i);
          this.header.set(chunk.subarray(i, i + take), this.headerFill);
          this.headerFill += take;
          i += take;
          if (this.headerFill === FRAME_HEADER_LENGTH) this.beginFrame();
          break;
        }
        case State.PAD_LENGTH: {
          this.padLength = chunk[i]!;
          i++;
          this.left--;
          this.counts!.framingBytes++;
          this.afterPadLength();
          break;
        }
        case State.PRIORITY: {
          const take = Math.min(this.priorityLeft, n - i);
          this.counts!.framingBytes += take;
          this.priorityLeft -= take;
          this.left -= take;
          i += take;
          if (this.priorityLeft === 0) this.toBody();
          break;
        }
        case State.BODY: {
          const take = Math.min(this.left - this.padLength, n - i);
          this.countBody(take);
          this.left -= take;
          i += take;
          if (this.left === this.padLength) this.toPadding();
          break;
        }
        case State.PADDING: {
          const take = Math.min(this.left, n - i);
          this.counts!.framingBytes += take;
          this.left -= take;
          i += take;
          if (this.left === 0) this.endFrame();
          break;
        }
      }
    }
  }

  private beginFrame(): void {
    const h = this.header;
    this.left = (h[0]! << 16) | (h[1]! << 8) | h[2]!;
    this.type = h[3]!;
    this.flags = h[4]!;
    // RFC 9113 §4.1: the reserved bit is ignored on receipt.
    this.streamId = ((h[5]! & 0x7f) << 24) | (h[6]! << 16) | (h[7]! << 8) | h[8]!;
    this.headerFill = 0;
    this.padLength = 0;
    const counts = this.countsOf(this.streamId);
    this.counts = counts;
    counts.frames++;
    counts.framingBytes += FRAME_HEADER_LENGTH;
    const carriesBlock = this.type === FRAME_TYPE.HEADERS || this.type === FRAME_TYPE.CONTINUATION;
    if (this.type === FRAME_TYPE.DATA) counts.dataFrames++;
    else if (carriesBlock) counts.headersFrames++;
    else counts.controlFrames++;
    if (this.type === FRAME_TYPE.HEADERS && this.streamId > this.highestOpened) {
      this.highestOpened = this.streamId;
      counts.streamsOpened++;
    }
    if ((this.type === FRAME_TYPE.DATA || this.type === FRAME_TYPE.HEADERS) && this.flags & FLAG_PADDED && this.left > 0) {
      this.state = State.PAD_LENGTH;
      return;
    }
    this.afterPadLength();
  }

  private afterPadLength(): void {
    // A pad length beyond the payload is the peer's PROTOCOL_ERROR (§6.1); count what is there.
    if (this.padLength > this.left) this.padLength = this.left;
    if (this.type === FRAME_TYPE.HEADERS && this.flags & FLAG_PRIORITY) {
      this.priorityLeft = Math.min(5, this.left - this.padLength);
      if (this.priorityLeft > 0) {
        this.state = State.PRIORITY;
        return;
      }
    }
    this.toBody();
  }

  private toBody(): void {
    if (this.left > this.padLength) this.state = State.BODY;
    else this.toPadding();
  }

  private toPadding(): void {
    if (this.left > 0) this.state = State.PADDING;
    else this.endFrame();
  }

  private countBody(bytes: number): void {
    const counts = this.counts!;
    if (this.type === FRAME_TYPE.DATA) counts.dataBytes += bytes;
    else if (this.type === FRAME_TYPE.HEADERS || this.type === FRAME_TYPE.CONTINUATION) counts.headerBytes += bytes;
    else counts.framingBytes += bytes;
  }

  private endFrame(): void {
    this.state = State.HEADER;
    this.counts = null;
  }
}

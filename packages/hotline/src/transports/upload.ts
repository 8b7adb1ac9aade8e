import { isUtf8 } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CloseCode, TransportError } from '../errors.js';
import { isApplicationCloseCode } from '../protocol/close-code.js';
import type { ResolvedHttpTransportOptions } from './options.js';
import type { HttpSession } from './session.js';
import { PacketCounter, TooManyPackets, WireError, decodeBatch } from '../protocol/session/wire.js';
import { closeAfterAnswer } from './connection-close.js';

/**
 * One upstream body (a POST of a session) being read: counted against `maxBody` as it
 * arrives, held to a deadline of its own and a minimum rate, decoded once it is whole —
 * with a limit on packets, counted while decoding, and UTF-8 checked by Node without a
 * string — then delivered in order.
 *
 * Module-level listeners and no timer: the registry's sweep checks every upload's
 * deadline on its tick.
 */

/** What an upload needs from its registry. */
export interface UploadHost {
  readonly options: ResolvedHttpTransportOptions;
  /** The upload is over (answered, failed or abandoned): stop sweeping it. */
  uploadDone(upload: Upload): void;
  /** The upload goes on after all (dropping the rest of a refused body): sweep it. */
  uploadStill(upload: Upload): void;
  /** Answers `response` with `error` (a TransportError's status and code). */
  fail(response: ServerResponse, error: unknown): void;
}

const kUpload = Symbol('hotline.upload');
const EMPTY_BODY = Buffer.alloc(0);
type UploadRequest = IncomingMessage & { [kUpload]?: Upload };

/** The first allocation of a body of unknown length (a batch of a few small messages). */
const FIRST_CAPACITY = 16 * 1024;

/** Where an upload is: reading its body, dropping the rest of a refused one, or over. */
const UploadState = { READING: 0, DISCARDING: 1, DONE: 2 } as const;
type UploadState = (typeof UploadState)[keyof typeof UploadState];

export class Upload {
  /**
   * The body so far, copied in as it arrives: the copies spread over the chunks (a list
   * joined at the end would copy 16 MiB at once), and growth by doubling keeps memory
   * under twice what arrived — never what a Content-Length merely claims.
   */
  private body: Buffer | null = null;
  private size = 0;
  /** Packets so far, counted as the bytes arrive: a body of too many stops early. */
  private readonly packets: PacketCounter;
  private state: UploadState = UploadState.READING;
  private readonly started = Date.now();

  constructor(
    private readonly request: IncomingMessage,
    private readonly response: ServerResponse,
    private readonly session: HttpSession<any>,
    private readonly ack: number,
    private readonly host: UploadHost,
  ) {
    this.packets = new PacketCounter(host.options.maxPackets);
  }

  /** Starts reading; the session counts the request as in progress until it is answered. */
  start(): void {
    this.session.core.requestBegan();
    const request = this.request as UploadRequest;
    request[kUpload] = this;
    request.on('data', onUploadData);
    request.on('end', onUploadEnd);
    request.on('error', onUploadGone);
    request.on('close', onUploadGone);
  }

  /**
   * The body's deadline: `bodyTimeout` to begin with, and every byte received buys the
   * time it takes at `minBodyRate` — a body must keep up the rate on average, so a
   * client that trickles a byte now and then cannot hold the connection for ever. The
   * rest of a refused body is held to the same deadline.
   */
  sweep(now: number): void {
    const { bodyTimeout, minBodyRate } = this.host.options;
    if (this.state === UploadState.DONE || now - this.started <= bodyTimeout + (this.size / minBodyRate) * 1000) return;
    if (this.state === UploadState.DISCARDING) {
      this.request.socket.destroy();
      this.forget();
      return;
    }
    // The rest of the body is not worth reading: the connection closes after the answer.
    closeAfterAnswer(this.response);
    this.answered(new TransportError('HL_ERR_BODY_TIMEOUT', 408, 'the request body arrived too slowly'));
  }

  /** @internal */
  data(chunk: Buffer): void {
    if (this.state === UploadState.DONE) return;
    this.size += chunk.length;
    const { maxBody, maxPackets } = this.host.options;
    if (this.state === UploadState.DISCARDING) {
      // What is left of a body refused for its packets is at most maxBody, or not ours.
      if (this.size > maxBody) {
        this.request.socket.destroy();
        this.forget();
      }
      return;
    }
    if (this.size > maxBody) {
      closeAfterAnswer(this.response);
      this.answered(new TransportError('HL_ERR_BODY_TOO_LARGE', 413, `body over ${maxBody} bytes`));
      // Read on and drop the rest, so that the answer is not stuck behind it.
      this.request.resume();
      return;
    }
    this.packets.feed(chunk);
    if (this.packets.count > maxPackets) {
      // Refused at this chunk, before the rest is read or anything decoded. The rest
      // (maxBody at most) is read and dropped, so that the client, still sending, gets
      // to read the answer rather than a reset.
      this.answered(tooManyPackets(maxPackets));
      this.state = UploadState.DISCARDING;
      this.host.uploadStill(this);
      return;
    }
    const start = this.size - chunk.length;
    let body = this.body;
    if (body === null || this.size > body.length) {
      const grown = Buffer.allocUnsafe(Math.min(maxBody, Math.max(this.size, 2 * (body?.length ?? FIRST_CAPACITY / 2))));
      if (body !== null) body.copy(grown, 0, 0, start);
      this.body = body = grown;
    }
    chunk.copy(body, start);
  }

  /** @internal The whole body arrived. */
  complete(): void {
    if (this.state !== UploadState.READING) {
      this.forget();
      return;
    }
    const body = this.body === null ? EMPTY_BODY : this.body.subarray(0, this.size);
    this.answered(null);
    try {
      this.deliver(body);
    } catch (failure) {
      this.host.fail(this.response, failure);
    }
  }

  /** @internal The client went away (or the request failed) before the end. */
  gone(): void {
    if (this.state === UploadState.READING) this.answered(null);
    else this.forget();
  }

  /** The request is over for the session: answered now with `error`, or about to be. */
  private answered(error: unknown): void {
    this.forget();
    this.session.core.requestEnded(this.session.host.now());
    if (error !== null) this.host.fail(this.response, error);
  }

  private forget(): void {
    this.state = UploadState.DONE;
    this.body = null;
    this.host.uploadDone(this);
  }

  private deliver(body: Buffer): void {
    const session = this.session;
    let batch;
    try {
      batch = decodeBatch(body, { validateText: isUtf8, maxPackets: this.host.options.maxPackets });
    } catch (failure) {
      if (failure instanceof TooManyPackets) throw tooManyPackets(this.host.options.maxPackets);
      if (failure instanceof WireError) throw new TransportError('HL_ERR_MALFORMED_BODY', 400, failure.message);
      throw failure;
    }
    // Upstream order: a batch must start at or before the next expected number. The
    // answer names no number: the client knows what it sent.
    if (!session.core.follows(batch.firstSeq)) {
      throw new TransportError('HL_ERR_MALFORMED_BODY', 400, 'sequence gap: the batch does not follow what the server has');
    }
    for (const packet of batch.packets) {
      if (packet.kind === 'c' && !validClientClose(packet.code)) {
        throw new TransportError('HL_ERR_MALFORMED_BODY', 400, `invalid close code ${packet.code}`);
      }
    }
    session.acknowledge(this.ack);
    session.receive(batch.firstSeq, batch.packets);
    this.response.writeHead(204);
    this.response.end();
  }
}

function tooManyPackets(limit: number): TransportError {
  return new TransportError('HL_ERR_TOO_MANY_PACKETS', 413, `more than ${limit} packets in one body`);
}

/**
 * What a client's close packet may carry: what the WebSocket API lets a script close
 * with, 1001 (a page going away), and 1005, how a reasonless close reads (§7.1.5).
 */
function validClientClose(code: number): boolean {
  return isApplicationCloseCode(code) || code === CloseCode.GOING_AWAY || code === CloseCode.NO_STATUS;
}

function onUploadData(this: UploadRequest, chunk: Buffer): void {
  this[kUpload]?.data(chunk);
}

function onUploadEnd(this: UploadRequest): void {
  this[kUpload]?.complete();
}

function onUploadGone(this: UploadRequest): void {
  this[kUpload]?.gone();
}

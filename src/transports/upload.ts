import { isUtf8 } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { TransportError } from '../errors.js';
import type { ResolvedHttpTransportOptions } from './options.js';
import type { HttpSession } from './session.js';
import { TooManyPackets, WireError, decodeBatch } from './wire.js';

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
  /** Answers `response` with `error` (a TransportError's status and code). */
  fail(response: ServerResponse, error: unknown): void;
}

const kUpload = Symbol('hotline.upload');
type UploadRequest = IncomingMessage & { [kUpload]?: Upload };

export class Upload {
  private chunks: Buffer[] = [];
  private size = 0;
  private done = false;
  private readonly started = Date.now();

  constructor(
    private readonly request: IncomingMessage,
    private readonly response: ServerResponse,
    private readonly session: HttpSession<any>,
    private readonly ack: number,
    private readonly host: UploadHost,
  ) {}

  /** Starts reading; the session counts the request as in progress until it is over. */
  start(): void {
    this.session.begin();
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
   * client that trickles a byte now and then cannot hold the connection for ever.
   */
  sweep(now: number): void {
    if (this.done) return;
    const { bodyTimeout, minBodyRate } = this.host.options;
    if (now - this.started <= bodyTimeout + (this.size / minBodyRate) * 1000) return;
    // The rest of the body is not worth reading: the connection closes after the answer.
    this.response.setHeader('Connection', 'close');
    this.over(new TransportError('HL_ERR_BODY_TIMEOUT', 408, 'the request body arrived too slowly'));
  }

  /** @internal */
  data(chunk: Buffer): void {
    if (this.done) return;
    this.size += chunk.length;
    if (this.size > this.host.options.maxBody) {
      this.response.setHeader('Connection', 'close');
      this.over(new TransportError('HL_ERR_BODY_TOO_LARGE', 413, `body over ${this.host.options.maxBody} bytes`));
      // Read on and drop the rest, so that the answer is not stuck behind it.
      this.request.resume();
      return;
    }
    this.chunks.push(chunk);
  }

  /** @internal The whole body arrived. */
  complete(): void {
    if (this.done) return;
    const body = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size);
    this.over(null);
    try {
      this.deliver(body);
    } catch (failure) {
      this.host.fail(this.response, failure);
    }
  }

  /** @internal The client went away (or the request failed) before the end. */
  gone(): void {
    if (!this.done) this.over(null);
  }

  private over(error: unknown): void {
    this.done = true;
    this.chunks = [];
    this.session.end();
    this.host.uploadDone(this);
    if (error !== null) this.host.fail(this.response, error);
  }

  private deliver(body: Buffer): void {
    const session = this.session;
    let batch;
    try {
      batch = decodeBatch(body, { validateText: isUtf8, maxPackets: this.host.options.maxPackets });
    } catch (failure) {
      if (failure instanceof TooManyPackets) {
        throw new TransportError('HL_ERR_TOO_MANY_PACKETS', 413, `more than ${this.host.options.maxPackets} packets in one body`);
      }
      if (failure instanceof WireError) throw new TransportError('HL_ERR_MALFORMED_BODY', 400, failure.message);
      throw failure;
    }
    // Upstream order: a batch must start at or before the next expected number. The
    // answer names no number: the client knows what it sent.
    if (batch.firstSeq > session.expectedSeq || batch.firstSeq === 0) {
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

/** RFC 6455 §7.4: what a client may close with (1005 is how a reasonless close reads). */
function validClientClose(code: number): boolean {
  return code === 1000 || code === 1001 || code === 1005 || (code >= 3000 && code <= 4999);
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

import type { Socket } from 'node:net';
import { invalidArgument } from '../errors.js';
import { Side } from '../protocol/side.js';
import { ReadyState } from '../protocol/ready-state.js';
import { type ConnectionOptions, WebSocketConnection } from '../websocket/connection.js';
import { toBuffer } from '../websocket/payload.js';
import type { Sweep } from '../timers/sweep.js';
import type { MessageCodec } from '../websocket/codec.js';
import type { PubSubEngine } from '../pubsub/engine.js';
import type { Subscriber } from '../pubsub/topic-tree.js';
import type { Publication } from '../websocket/publication.js';
import type { ByteBudget } from '../resources/byte-budget.js';
import { type Handler, type Payload, type Peer, type SendOptions, type SendResult, Transport } from '../types.js';
import type { ResolvedServerOptions } from './options.js';

let nextId = 0;

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | undefined)?.then === 'function';
}

/** An error hook's own rejection has nowhere left to be reported. */
function ignoreRejection(result: unknown): void {
  if (isThenable(result)) result.then(undefined, ignore);
}

function ignore(): void {}

/** What a peer needs from its server: the topics, publishing, and a way to leave. */
export interface PeerHost {
  readonly topics: PubSubEngine<Publication>;
  /** The server-wide budget of bytes queued for peers (`maxOutboundBytes`). */
  readonly outbound: ByteBudget;
  /** The server-wide budget of bytes in incomplete messages (`maxPartialBytes`). */
  readonly partial: ByteBudget;
  publish(topic: string, data: Payload, isBinary?: boolean, options?: { except?: Subscriber<Publication> }): number;
  peerClosed(): void;
}

/** What every peer of one route shares: the route's handler and the server. */
export interface PeerContext<D = unknown> {
  readonly handler: Handler<D>;
  readonly host: PeerHost;
}

/** A server-side WebSocket peer: the connection shell plus the handler-style API. */
export class WebSocketPeer<D = unknown> extends WebSocketConnection implements Peer<D>, Subscriber<Publication> {
  /**
   * The id as a number until it is first read: a small integer lives in the field itself,
   * where its string would cost an idle peer 24 B more.
   */
  private serial: number | string;
  data: D;
  /** One reference to what the route's peers share, rather than a field for each. */
  private readonly context: PeerContext<D>;

  constructor(
    socket: Socket,
    sweep: Sweep,
    options: ResolvedServerOptions,
    context: PeerContext<D>,
    negotiated: { protocol: string; extensions: string; codec: MessageCodec | null; data: D },
  ) {
    const connection: ConnectionOptions = {
      side: Side.SERVER,
      maxPayload: options.maxPayload,
      maxFragments: options.maxFragments,
      closeTimeout: options.closeTimeout,
      idleTimeout: options.idleTimeout,
      sendPings: options.sendPings,
      maxBufferedAmount: options.maxBufferedAmount,
      partialBudget: context.host.partial,
      outboundBudget: context.host.outbound,
      codec: negotiated.codec,
      protocol: negotiated.protocol,
      extensions: negotiated.extensions,
    };
    super(socket, sweep, connection);
    this.serial = ++nextId;
    this.data = negotiated.data;
    this.context = context;
  }

  private get handler(): Handler<D> {
    return this.context.handler;
  }

  private get host(): PeerHost {
    return this.context.host;
  }

  /** Unique within the process. */
  get id(): string {
    if (typeof this.serial === 'number') this.serial = this.serial.toString(36);
    return this.serial;
  }

  get transport(): typeof Transport.WEBSOCKET {
    return Transport.WEBSOCKET;
  }

  /** @internal Runs `open`, then feeds the bytes that arrived with the upgrade request. */
  start(head: Buffer): void {
    const result = this.handler.open?.(this);
    if (isThenable(result)) this.watchHook(result);
    if (head.length > 0 && this.readyState !== ReadyState.CLOSED) this.receive(head);
  }

  send(data: Payload, isBinary?: boolean, options?: SendOptions): SendResult {
    return this.sendData(toBuffer(data), isBinary ?? typeof data !== 'string', options?.compress);
  }

  /** Streams one fragment; the last one has `fin` true (RFC 6455 §5.4). */
  sendFragment(data: Payload, isBinary: boolean, fin: boolean): SendResult {
    return this.sendFragmentData(toBuffer(data), isBinary, fin);
  }

  /** @internal Subscriber: the frame is built once per publication. */
  deliver(publication: Publication): SendResult {
    return this.sendShared(publication);
  }

  subscribe(topic: string): void {
    if (typeof topic !== 'string') throw invalidArgument('topic must be a string');
    if (this.readyState === ReadyState.CLOSED) return;
    this.host.topics.subscribe(this, topic);
  }

  unsubscribe(topic: string): void {
    this.host.topics.unsubscribe(this, topic);
  }

  isSubscribed(topic: string): boolean {
    return this.host.topics.isSubscribed(this, topic);
  }

  get topics(): readonly string[] {
    return this.host.topics.topicsOf(this);
  }

  publish(topic: string, data: Payload, isBinary?: boolean): void {
    this.host.publish(topic, data, isBinary, { except: this });
  }

  // The hooks' results go back to the shell, which handles a rejected promise as a throw.
  protected onMessage(data: Buffer, isBinary: boolean): unknown {
    return this.handler.message?.(this, data, isBinary);
  }

  protected override onDrain(): unknown {
    return this.handler.drain?.(this);
  }

  protected override onError(error: Error): unknown {
    return this.handler.error?.(this, error);
  }

  protected onClose(code: number, reason: string): void {
    this.host.topics.unsubscribeAll(this);
    this.host.peerClosed();
    // Socket errors, timeouts and user code that threw were not reported through the
    // protocol: report them now (and build the error only when there is a hook to receive
    // it). Failures with a close code were reported when they happened.
    const failure = this.handler.error === undefined ? null : this.failure;
    if (failure !== null && !(failure as { closeCode?: number }).closeCode) {
      try {
        ignoreRejection(this.handler.error!(this, failure));
      } catch {
        // already closing
      }
    }
    // A close hook that rejects is reported; the peer is closed already.
    const result = this.handler.close?.(this, code, reason);
    if (isThenable(result)) this.watchHook(result);
  }
}

import type { StreamSocket } from '../websocket/stream-socket.js';
import { invalidArgument } from '../errors.js';
import { Side } from '../protocol/side.js';
import { ReadyState } from '../protocol/ready-state.js';
import { WebSocketShell } from '../websocket/shell.js';
import type { ShellOptions } from '../websocket/shell-settings.js';
import type { ConnectionOwner } from '../websocket/owner.js';
import { checkSendArguments, toBuffer, toControlPayload } from '../websocket/payload.js';
import type { Sweep, Sweepable } from '../timers/sweep.js';
import type { MessageCodec } from '../websocket/codec.js';
import type { PubSubEngine } from '../pubsub/engine.js';
import type { Subscriber } from '../pubsub/topic-tree.js';
import { checkTopic } from '../pubsub/topic.js';
import { messagePrefix } from '../protocol/session/envelope.js';
import type { Publication } from '../websocket/publication.js';
import type { ByteBudget } from '../resources/byte-budget.js';
import { type Handler, type Payload, type Peer, type RouteParams, type SendOptions, type SendResult, Transport } from '../types.js';
import type { ResolvedServerOptions } from './options.js';
import type { RecoveryGate } from './recovery.js';

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
  /** The server's engine-warning path (a recovery the engine could not answer). */
  engineError(error: Error): void;
}

/**
 * The owner of every WebSocket peer of one route: one object per route and server, which
 * the route's shells share. It turns the shell's events into calls of the route's
 * `Handler`, with the peer (the shell's facade) as their argument.
 */
export class PeerContext<D = unknown> implements ConnectionOwner<WebSocketPeer<D>> {
  /**
   * Set only when the handler has the hook: the shell skips an absent one, so a route
   * without `ping`/`pong` pays nothing per control frame.
   */
  readonly ping?: (peer: WebSocketPeer<D>, data: Buffer) => unknown;
  readonly pong?: (peer: WebSocketPeer<D>, data: Buffer) => unknown;

  constructor(
    readonly handler: Handler<D>,
    readonly host: PeerHost,
  ) {
    if (handler.ping !== undefined) this.ping = forwardPing;
    if (handler.pong !== undefined) this.pong = forwardPong;
  }

  // What a hook returns goes back to the shell, which handles a rejected promise as a throw.
  message(peer: WebSocketPeer<D>, data: Buffer, isBinary: boolean): unknown {
    return this.handler.message?.(peer, data, isBinary);
  }

  drain(peer: WebSocketPeer<D>): unknown {
    return this.handler.drain?.(peer);
  }

  error(peer: WebSocketPeer<D>, error: Error): unknown {
    return this.handler.error?.(peer, error);
  }

  close(peer: WebSocketPeer<D>, code: number, reason: string): void {
    const { handler, host } = this;
    host.topics.unsubscribeAll(peer);
    host.peerClosed();
    const shell = peer.shell;
    // Socket errors, timeouts and hooks that threw were not reported through the protocol:
    // report them now (and build the error only when there is a hook to receive it).
    // Failures with a close code were reported when they happened.
    const failure = handler.error === undefined ? null : shell.failure;
    if (failure !== null && !(failure as { closeCode?: number }).closeCode) {
      try {
        ignoreRejection(handler.error!(peer, failure));
      } catch {
        // already closing
      }
    }
    // A close hook that rejects is reported; the peer is closed already.
    const result = handler.close?.(peer, code, reason);
    if (isThenable(result)) shell.watchHook(result);
  }
}

// Module-level, called as methods of the route's context: no closure per route or peer.
function forwardPing<D>(this: PeerContext<D>, peer: WebSocketPeer<D>, data: Buffer): unknown {
  return this.handler.ping!(peer, data);
}

function forwardPong<D>(this: PeerContext<D>, peer: WebSocketPeer<D>, data: Buffer): unknown {
  return this.handler.pong!(peer, data);
}

/**
 * A server-side WebSocket peer: the handler-style `Peer` API over its shell. The shell
 * does the protocol; the route's `PeerContext` is its owner.
 */
export class WebSocketPeer<D = unknown> implements Peer<D>, Subscriber<Publication> {
  /**
   * The id as a number until it is first read: a small integer lives in the field itself,
   * where its string would cost an idle peer 24 B more.
   */
  private serial: number | string;
  data: D;
  /** The params of the route pattern it connected on; one shared frozen object on a literal route. */
  readonly params: RouteParams;
  /** @internal The connection this peer speaks through. */
  readonly shell: WebSocketShell<WebSocketPeer<D>, PeerContext<D>>;
  /** @internal The envelope and recovery of a universal client (`envelope=1`); null for a plain peer. */
  readonly envelope: RecoveryGate | null;

  constructor(
    socket: StreamSocket,
    sweep: Sweep,
    options: ResolvedServerOptions,
    context: PeerContext<D>,
    negotiated: { params: RouteParams; protocol: string; extensions: string; codec: MessageCodec | null; data: D; envelope?: RecoveryGate | null },
  ) {
    this.serial = ++nextId;
    this.envelope = negotiated.envelope ?? null;
    this.data = negotiated.data;
    this.params = negotiated.params;
    this.shell = new WebSocketShell(socket, context, this, sweep, serverShellOptions(options, context.host, negotiated));
  }

  /** What the route's peers share: its handler and the server. */
  private get context(): PeerContext<D> {
    return this.shell.owner;
  }

  /** Unique within the process. */
  get id(): string {
    if (typeof this.serial === 'number') this.serial = this.serial.toString(36);
    return this.serial;
  }

  get transport(): typeof Transport.WEBSOCKET {
    return Transport.WEBSOCKET;
  }

  get remoteAddress(): string {
    return this.shell.remoteAddress;
  }

  get protocol(): string {
    return this.shell.protocol;
  }

  get extensions(): string {
    return this.shell.extensions;
  }

  get readyState(): ReadyState {
    return this.shell.readyState;
  }

  get bufferedAmount(): number {
    return this.shell.bufferedAmount;
  }

  /** @internal Runs `open`, then reads on, starting with the bytes that came with the upgrade request. */
  start(head: Buffer): void {
    const result = this.context.handler.open?.(this);
    if (isThenable(result)) this.shell.watchHook(result);
    if (this.shell.readyState !== ReadyState.CLOSED) this.shell.start(head);
  }

  /** @internal An `open` hook threw: 1011, details withheld. */
  failInternally(error: unknown): void {
    this.shell.failInternally(error);
  }

  send(data: Payload, isBinary?: boolean, options?: SendOptions): SendResult {
    checkSendArguments(isBinary, options);
    const bytes = toBuffer(data);
    return this.shell.send(this.envelope === null ? bytes : withMessagePrefix(bytes), isBinary ?? typeof data !== 'string', options?.compress);
  }

  /** Streams one fragment; the last one has `fin` true (RFC 6455 §5.4). Enveloped: the first fragment carries the prefix. */
  sendFragment(data: Payload, isBinary: boolean, fin: boolean): SendResult {
    const envelope = this.envelope;
    const bytes = toBuffer(data);
    if (envelope === null) return this.shell.sendFragment(bytes, isBinary, fin);
    const first = !envelope.streaming;
    const result = this.shell.sendFragment(first ? withMessagePrefix(bytes) : bytes, isBinary, fin);
    if (result !== 'dropped' || !first) envelope.streaming = !fin;
    return result;
  }

  /**
   * Sends a Ping (RFC 6455 §5.5.2); the peer's Pong is automatic and reaches the `pong`
   * hook. §5.5: a control frame's payload is at most 125 bytes, so more throws
   * `HL_ERR_INVALID_ARGUMENT`. Returns false, sending nothing, unless the peer is OPEN.
   */
  ping(data?: Payload): boolean {
    const payload = data === undefined ? undefined : toControlPayload(data);
    if (this.shell.readyState !== ReadyState.OPEN) return false;
    this.shell.ping(payload);
    return true;
  }

  /** Sends an unsolicited Pong (RFC 6455 §5.5.3: a unidirectional heartbeat). */
  pong(data?: Buffer): void {
    this.shell.pong(data);
  }

  close(code?: number, reason?: string): void {
    this.shell.close(code, reason);
  }

  terminate(): void {
    this.shell.terminate();
  }

  /**
   * @internal Subscriber: the frame is built once per publication (and once more for
   * the enveloped peers); held while its topic recovers for this peer.
   */
  deliver(publication: Publication): SendResult {
    const envelope = this.envelope;
    if (envelope === null) return this.shell.sendShared(publication);
    if (envelope.hold(publication)) return 'sent';
    return this.shell.sendShared(publication.enveloped);
  }

  /** @internal EnvelopedSink */
  get open(): boolean {
    return this.shell.readyState === ReadyState.OPEN;
  }

  /** @internal EnvelopedSink */
  sendNotice(message: string): void {
    this.shell.send(Buffer.from(message), false, undefined);
  }

  /** @internal EnvelopedSink: past the gate. */
  sendPublication(publication: Publication): SendResult {
    return this.shell.sendShared(publication.enveloped);
  }

  subscribe(topic: string): void {
    checkTopic(topic);
    if (this.readyState === ReadyState.CLOSED) return;
    const host = this.context.host;
    if (host.topics.subscribe(this, topic)) this.envelope?.subscribed(host, this, topic);
  }

  unsubscribe(topic: string): void {
    checkTopic(topic);
    this.context.host.topics.unsubscribe(this, topic);
  }

  isSubscribed(topic: string): boolean {
    checkTopic(topic);
    return this.context.host.topics.isSubscribed(this, topic);
  }

  get topics(): readonly string[] {
    return this.context.host.topics.topicsOf(this);
  }

  publish(topic: string, data: Payload, isBinary?: boolean): void {
    this.context.host.publish(topic, data, isBinary, { except: this });
  }
}

const MESSAGE_PREFIX = Buffer.from(messagePrefix());

/** An enveloped connection's own message (`peer.send`): `m` and the bytes. */
export function withMessagePrefix(bytes: Buffer): Buffer {
  return Buffer.concat([MESSAGE_PREFIX, bytes], bytes.length + 1);
}

/**
 * The shell options of a server-side connection: the server's limits and budgets, and
 * what its handshake negotiated. Peers and the sockets that carry HTTP sessions alike.
 */
export function serverShellOptions(
  options: ResolvedServerOptions,
  budgets: { readonly partial: ByteBudget; readonly outbound: ByteBudget },
  negotiated: { readonly protocol: string; readonly extensions: string; readonly codec: MessageCodec | null },
): ShellOptions {
  return {
    side: Side.SERVER,
    maxPayload: options.maxPayload,
    maxFragments: options.maxFragments,
    closeTimeout: options.closeTimeout,
    idleTimeout: options.idleTimeout,
    sendPings: options.sendPings,
    maxBufferedAmount: options.maxBufferedAmount,
    partialBudget: budgets.partial,
    outboundBudget: budgets.outbound,
    codec: negotiated.codec,
    protocol: negotiated.protocol,
    extensions: negotiated.extensions,
  };
}

/** The peer a member of the server's sweep speaks for, if it is a WebSocket peer's shell. */
export function peerOf(member: Sweepable): WebSocketPeer<unknown> | null {
  if (!(member instanceof WebSocketShell)) return null;
  const facade: unknown = member.facade;
  return facade instanceof WebSocketPeer ? facade : null;
}

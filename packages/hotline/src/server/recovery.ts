/**
 * The hold-and-replay gate of one enveloped connection (a WebSocket peer, or an HTTP
 * session, that asked for `envelope=1`): what makes a client that comes back with
 * positions (`since`) get what it missed, in order, then the live feed, without a
 * duplicate.
 *
 * When the application subscribes the connection to a topic it has a position for, the
 * engine subscription is made at once (nothing published from then on can be missed),
 * but the live publications of that topic are held here while the engine's history is
 * read (`recover`). Then go, in this order: the recovery notice (`r`), the recovered
 * publications, and the held live ones — less any whose offset the replay already sent
 * (the engine's recovery may overlap its live feed; the offset tells them apart).
 *
 * A position is used once: a topic the application unsubscribes and subscribes again is
 * not replayed a second time. A recovery the engine cannot answer (its broker is down)
 * is reported on the server's engine-warning path and told to the client as
 * `recovered: false, reason: 'epoch'`: a history that cannot be read is as good as lost,
 * and the application refetches its state.
 */
import { MAX_RECOVERY } from '../pubsub/engine-options.js';
import type { PubSubEngine, RecoveryResult } from '../pubsub/engine.js';
import type { Subscriber } from '../pubsub/topic-tree.js';
import type { StreamPosition } from '../protocol/position.js';
import { type RecoveryNotice, recoveryMessage } from '../protocol/session/envelope.js';
import type { Publication } from '../websocket/publication.js';
import type { SendResult } from '../types.js';

/** Most live publications held for one topic while it recovers; more are dropped (the client sees the gap). */
export const MAX_HELD = MAX_RECOVERY;

/** What the gate needs of the server: the engine and where its failures are reported. */
export interface RecoveryHost {
  readonly topics: PubSubEngine<Publication>;
  /** The server's engine-warning path. */
  engineError(error: Error): void;
}

/** How the gate writes to its connection, past the gate itself. */
export interface EnvelopedSink extends Subscriber<Publication> {
  /** False once the connection is closing or closed: nothing is sent any more. */
  readonly open: boolean;
  /** A recovery notice (Text, already enveloped). */
  sendNotice(message: string): void;
  /** A publication with its envelope, as a live one goes out. */
  sendPublication(publication: Publication): SendResult;
}

export class RecoveryGate {
  /** Live publications held per topic while its recovery runs. */
  private held: Map<string, Publication[]> | null = null;
  /**
   * A fragmented message (`peer.sendFragment`) is in progress on the connection: its
   * first fragment carried the `m` prefix, the others go as they are.
   */
  streaming = false;

  constructor(
    /** The positions the client came back with; each is used once. */
    private readonly since: Map<string, StreamPosition>,
  ) {}

  /**
   * The connection was just subscribed to `topic` in the engine: if the client has a
   * position for it, hold the topic's live publications and replay from history.
   */
  subscribed(host: RecoveryHost, sink: EnvelopedSink, topic: string): void {
    const position = this.since.get(topic);
    if (position === undefined) return;
    this.since.delete(topic);
    (this.held ??= new Map()).set(topic, []);
    let recovery: Promise<RecoveryResult<Publication>>;
    try {
      recovery = host.topics.recover(topic, position, MAX_RECOVERY);
    } catch (error) {
      recovery = Promise.reject(error);
    }
    recovery.then(
      (result) => this.replay(host, sink, topic, result),
      (error: unknown) => {
        host.engineError(error instanceof Error ? error : new Error(String(error)));
        this.replay(host, sink, topic, this.unavailable(topic, position));
      },
    );
  }

  /** A live publication: true when it is held (its topic is recovering), false to send it now. */
  hold(publication: Publication): boolean {
    const queue = this.held?.get(publication.topic);
    if (queue === undefined) return false;
    // Dropped past the bound: the client sees the jump in offsets.
    if (queue.length < MAX_HELD) queue.push(publication);
    return true;
  }

  /** Whether `topic` is recovering (for tests and diagnostics). */
  recovering(topic: string): boolean {
    return this.held?.has(topic) ?? false;
  }

  /**
   * The history could not be read: not recovered, reason `epoch`. The position told is
   * the one just before the first held publication, if any, else the client's own.
   */
  private unavailable(topic: string, position: StreamPosition): RecoveryResult<Publication> {
    const first = this.held?.get(topic)?.[0];
    const at = first === undefined ? position : { epoch: first.epoch, offset: first.offset - 1 };
    return { recovered: false, reason: 'epoch', epoch: at.epoch, offset: at.offset };
  }

  private replay(host: RecoveryHost, sink: EnvelopedSink, topic: string, result: RecoveryResult<Publication>): void {
    const queue = this.held?.get(topic) ?? [];
    this.held?.delete(topic);
    if (this.held?.size === 0) this.held = null;
    if (!sink.open || !host.topics.isSubscribed(sink, topic)) return;
    const { epoch } = result;
    let last = result.offset;
    let notice: RecoveryNotice;
    if (result.recovered) {
      const messages = result.messages.filter((message) => message.offset > result.offset);
      notice = { topic, recovered: true, epoch, offset: result.offset, missed: messages.length };
      sink.sendNotice(recoveryMessage(notice));
      for (const message of messages) {
        if (message.offset <= last) continue;
        sink.sendPublication(message);
        last = message.offset;
      }
    } else {
      notice = { topic, recovered: false, reason: result.reason, epoch, offset: result.offset };
      sink.sendNotice(recoveryMessage(notice));
    }
    for (const message of queue) {
      if (!sink.open) return;
      if (message.epoch === epoch && message.offset <= last) continue;
      sink.sendPublication(message);
      if (message.epoch === epoch) last = message.offset;
    }
  }
}

import type { ServerResponse } from 'node:http';
import type { ServerSession } from '../protocol/session/server-session.js';
import type { Handshake } from '../protocol/session/wire.js';
import type { ResolvedHttpTransportOptions } from './options.js';

/**
 * The live HTTP attachment of a session: what carries its queue to the client on the
 * transport it chose — the held long-poll and its answers (`long-poll.ts`), the poll
 * answers (`polling.ts`), the event stream (`sse.ts`). A session has exactly one until a
 * WebSocket carries it (`session-upgrade.ts`); which transport gets which attachment is
 * decided in `transport-choice.ts`. Each one owns its responses: it writes them, follows
 * their backpressure and deadlines, and ends them.
 */
export interface SessionLink {
  /** Whether a message queued now leaves at once (`send` answers `sent`, not `buffered`). */
  readonly ready: boolean;
  /** Whether a response is open that carries what is queued without a new request. */
  readonly open: boolean;
  /** Bytes written to this link's responses that the kernel has not taken yet. */
  responseBytes(): number;
  /** The answer to the handshake: the `open` packet (or `session` event) and what `open` queued. */
  answerHandshake(response: ServerResponse, handshake: Handshake): void;
  /** A GET of the session (after its `ack` was applied). */
  poll(response: ServerResponse): void;
  /** The queue grew or the session began to close: write what an open response can carry. */
  flush(): void;
  /**
   * A sweep tick with the deadlines the core found due (`SessionDeadline` bits); returns
   * whether the link holds responses, whose bytes count in the outbound budget.
   */
  sweep(now: number, due: number): boolean;
  /** The queue holds only the eviction's close packet: carry it at once where a response can. */
  evicted(): void;
  /**
   * The session ended (`closed`), or moved onto a WebSocket: let go of every response. An
   * answer still on its way is destroyed in the first case, left to finish in the second.
   */
  end(closed: boolean): void;
}

/** What a link needs of its session (the `Peer` facade in `session.ts`). */
export interface LinkedSession {
  /** Sequencing, acknowledgements, the close packet, deadlines. */
  readonly core: ServerSession;
  readonly host: LinkHost;
  /** States in the outbound budget what the session holds now (queue and responses). */
  reserve(): void;
  /** The client has the server's close packet: the session ends with the server's code. */
  closeAcknowledged(): void;
}

/** What a link needs of the registry. */
export interface LinkHost {
  readonly options: ResolvedHttpTransportOptions;
  /** The shared coarse clock. */
  now(): number;
  /** An answer left behind with bytes its client has not read: the registry follows it. */
  answered(response: ServerResponse): void;
}

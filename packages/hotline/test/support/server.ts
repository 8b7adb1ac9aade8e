/**
 * Servers for tests: a handler that records every hook call (and can wait for one), an
 * echo handler built on it, and a well-behaved `ws` client used as the bystander that
 * must keep working while another connection misbehaves.
 */
import assert from 'node:assert/strict';
import { WebSocket as WsClient } from 'ws';
import { Server } from '../../src/server/server.js';
import type { ServerOptions } from '../../src/server/options.js';
import type { Handler, Peer } from '../../src/types.js';
import { withTimeout } from './timing.js';
import type { RawPeer } from './raw.js';

export type HookEvent =
  | { kind: 'open'; peer: Peer<any> }
  | { kind: 'message'; peer: Peer<any>; data: Buffer; isBinary: boolean }
  | { kind: 'close'; peer: Peer<any>; code: number; reason: string }
  | { kind: 'error'; peer: Peer<any>; error: Error & { code?: string; closeCode?: number } }
  | { kind: 'drain'; peer: Peer<any> };

/** Records every hook call in order; `next` waits for a matching one. */
export class Recorder {
  readonly events: HookEvent[] = [];
  private waiters: Array<{ match: (e: HookEvent) => boolean; resolve: (e: HookEvent) => void }> = [];

  push(event: HookEvent): void {
    this.events.push(event);
    for (const waiter of [...this.waiters]) {
      if (waiter.match(event)) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve(event);
      }
    }
  }

  of<K extends HookEvent['kind']>(kind: K, peer?: Peer<any>): Extract<HookEvent, { kind: K }>[] {
    return this.events.filter((e) => e.kind === kind && (peer === undefined || e.peer === peer)) as Extract<HookEvent, { kind: K }>[];
  }

  /** The first recorded event (past or future) of `kind` for `peer` (any peer if omitted). */
  wait<K extends HookEvent['kind']>(kind: K, peer?: Peer<any>, ms = 2000): Promise<Extract<HookEvent, { kind: K }>> {
    const match = (e: HookEvent) => e.kind === kind && (peer === undefined || e.peer === peer);
    const seen = this.events.find(match);
    if (seen !== undefined) return Promise.resolve(seen as Extract<HookEvent, { kind: K }>);
    return withTimeout(
      new Promise<Extract<HookEvent, { kind: K }>>((resolve) => this.waiters.push({ match, resolve: resolve as (e: HookEvent) => void })),
      ms,
      `the "${kind}" hook`,
    );
  }

  /** The next peer to open (not yet seen by an earlier call). */
  async nextPeer(ms = 2000): Promise<Peer<any>> {
    const taken = this.taken;
    const match = (e: HookEvent) => e.kind === 'open' && !taken.has(e.peer);
    const seen = this.events.find(match);
    const event = seen ?? (await withTimeout(new Promise<HookEvent>((resolve) => this.waiters.push({ match, resolve })), ms, 'a peer to open'));
    taken.add(event.peer);
    return event.peer;
  }

  private readonly taken = new Set<Peer<any>>();

  /** Makes `nextPeer` ignore every peer opened so far. */
  skipOpened(): void {
    for (const event of this.of('open')) this.taken.add(event.peer);
  }

  /** A handler that records, then calls the given hooks. */
  handler<D = unknown>(hooks: Partial<Handler<D>> = {}): Handler<D> {
    return {
      ...(hooks.upgrade ? { upgrade: hooks.upgrade } : {}),
      open: (peer) => {
        this.push({ kind: 'open', peer });
        hooks.open?.(peer);
      },
      message: (peer, data, isBinary) => {
        this.push({ kind: 'message', peer, data, isBinary });
        hooks.message?.(peer, data, isBinary);
      },
      close: (peer, code, reason) => {
        this.push({ kind: 'close', peer, code, reason });
        hooks.close?.(peer, code, reason);
      },
      error: (peer, error) => {
        this.push({ kind: 'error', peer, error });
        hooks.error?.(peer, error);
      },
      drain: (peer) => {
        this.push({ kind: 'drain', peer });
        hooks.drain?.(peer);
      },
    };
  }

  /** A recording handler that echoes every message (text as text, binary as binary). */
  echo<D = unknown>(hooks: Partial<Handler<D>> = {}): Handler<D> {
    return this.handler<D>({
      ...hooks,
      message: (peer, data, isBinary) => {
        peer.send(data, isBinary);
        hooks.message?.(peer, data, isBinary);
      },
    });
  }
}

/** A server on 127.0.0.1 and an ephemeral port. */
export async function listening(options: ServerOptions, setup: (server: Server) => void): Promise<{ server: Server; port: number; url: string }> {
  const server = new Server(options);
  setup(server);
  const address = await server.listen(0, '127.0.0.1');
  return { server, port: address.port, url: `ws://127.0.0.1:${address.port}` };
}

/** Opens a `ws` client (an independent implementation) and waits for it to open. */
export function wsClient(url: string, protocols?: string | string[], options?: ConstructorParameters<typeof WsClient>[2]): Promise<WsClient> {
  const ws = new WsClient(url, protocols, options);
  return withTimeout(
    new Promise<WsClient>((resolve, reject) => {
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    }),
    2000,
    `ws to open ${url}`,
  );
}

let probe = 0;

/** The bystander check: `ws` still gets its own message echoed, unchanged. */
export async function assertEchoes(ws: WsClient, ms = 2000): Promise<void> {
  assert.equal(ws.readyState, WsClient.OPEN, 'the well-behaved connection is still open');
  const text = `probe ${++probe}`;
  const reply = withTimeout(
    new Promise<string>((resolve) => ws.once('message', (data: Buffer, isBinary: boolean) => resolve(isBinary ? '<binary>' : data.toString()))),
    ms,
    'the well-behaved connection to get its echo',
  );
  ws.send(text);
  assert.equal(await reply, text);
}

/** Closes a `ws` client and waits for its close event. */
export function closeWs(ws: WsClient, ms = 2000): Promise<void> {
  if (ws.readyState === WsClient.CLOSED) return Promise.resolve();
  const closed = withTimeout(new Promise<void>((resolve) => ws.once('close', () => resolve())), ms, 'ws to close');
  ws.close(1000);
  return closed;
}

/**
 * The end of a connection the server failed (RFC 6455 §7.1.7), seen from both sides:
 * `bytes` sent on `raw` draw a Close frame with `closeCode`; the `error` hook reports
 * `errorCode`; the server closes TCP first; `close` follows; nothing was delivered.
 * Returns the `close` event.
 */
export async function expectFailedConnection(
  raw: RawPeer,
  recorder: Recorder,
  peer: Peer<any>,
  bytes: Buffer | Buffer[],
  closeCode: number,
  errorCode: string,
  readTimeout = 2000,
): Promise<Extract<HookEvent, { kind: 'close' }>> {
  for (const chunk of Array.isArray(bytes) ? bytes : [bytes]) raw.write(chunk);
  const close = await raw.readClose(readTimeout);
  assert.equal(close.code, closeCode, `close code (reason: ${close.reason})`);
  const error = await recorder.wait('error', peer);
  assert.equal(error.error.code, errorCode);
  assert.equal(error.error.closeCode, closeCode);
  // §7.1.7: after failing, the server closes TCP without waiting for our Close.
  await raw.waitEnd(2000);
  assert.equal(raw.finSent, false, 'the server closed TCP first');
  const closed = await recorder.wait('close', peer);
  assert.equal(recorder.of('message', peer).length, 0, 'nothing was delivered from the bad connection');
  await raw.waitClosed(2000);
  return closed;
}

import { RESP_TYPES } from 'redis';
import { HotlineError } from '../errors.js';
import type { Script } from './scripts.js';

/** The bits of a node-redis client the engine uses (`redis` ≥ 6): any client or its duplicate. */
export interface RedisClientLike {
  readonly isOpen: boolean;
  readonly isReady: boolean;
  connect(): Promise<unknown>;
  close(): Promise<void>;
  destroy(): void;
  duplicate(): RedisClientLike;
  on(event: 'error' | 'ready' | 'end' | 'reconnecting', listener: (...args: any[]) => void): unknown;
  off(event: 'error' | 'ready' | 'end' | 'reconnecting', listener: (...args: any[]) => void): unknown;
  sendCommand(args: ReadonlyArray<string | Buffer>, options?: object): Promise<unknown>;
  subscribe(channels: string, listener: (message: Buffer, channel: Buffer) => void, bufferMode: true): Promise<void>;
  unsubscribe(channels: string, listener: (message: Buffer, channel: Buffer) => void, bufferMode: true): Promise<void>;
}

/** Replies with bulk strings as Buffers: publications are bytes, not text. */
const AS_BUFFERS = { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } };

/**
 * The engine's command connection: a script in full (`EVAL`, which also loads it) until
 * Redis ran it once, then by `EVALSHA`, sent again in full when Redis no longer has it (it
 * restarted, or `SCRIPT FLUSH`); and a deadline on every command so that a publish never
 * waits forever on a link that is down.
 *
 * Why not `EVALSHA` first, always: a refused one is sent again after its answer, behind
 * the commands sent meanwhile — a presence leave could then land after the join that
 * followed it. In full the first time, commands keep their order (but for a script that a
 * restarted Redis forgot: the caveat stays for that one command).
 */
export class Commands {
  /** Scripts Redis is known to hold (it ran them on this connection). */
  private readonly loaded = new Set<string>();

  constructor(
    readonly client: RedisClientLike,
    private readonly timeout: number,
  ) {}

  async run(script: Script, keys: readonly (string | Buffer)[], args: readonly (string | Buffer | number)[]): Promise<unknown> {
    const tail = [String(keys.length), ...keys, ...args.map((arg) => (typeof arg === 'number' ? String(arg) : arg))];
    if (!this.loaded.has(script.sha)) {
      const reply = await this.client.sendCommand(['EVAL', script.source, ...tail], this.options());
      this.loaded.add(script.sha);
      return reply;
    }
    try {
      return await this.client.sendCommand(['EVALSHA', script.sha, ...tail], this.options());
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return await this.client.sendCommand(['EVAL', script.source, ...tail], this.options());
    }
  }

  send(args: readonly string[]): Promise<unknown> {
    return this.client.sendCommand(args, this.options());
  }

  private options(): object {
    return { ...AS_BUFFERS, timeout: this.timeout, rejectInFlight: true };
  }
}

/** A broker failure as the engine reports it. */
export function unavailable(what: string, cause: unknown): HotlineError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new HotlineError('HL_ERR_ENGINE_UNAVAILABLE', `${what}: Redis did not answer (${why})`, { cause });
}

/** A reply field as text (bulk strings arrive as Buffers). */
export function text(value: unknown): string {
  return Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
}

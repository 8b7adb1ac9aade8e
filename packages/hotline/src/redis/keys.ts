/**
 * Where the Redis engine keeps things: every key and channel starts with the engine's
 * `prefix` (default `hotline:`), so that several applications share one Redis, and names
 * its topic after a one-letter kind. Topics are binary-safe in Redis keys and channels;
 * none needs escaping.
 *
 *     <prefix>m:<topic>        hash {epoch, seq}: the topic's epoch and its last offset
 *     <prefix>s:<topic>        stream: the history, entry id `<offset>-0`, fields d (data), b (t|b), o (origin)
 *     <prefix>i:<topic>:<id>   string: an idempotency key's offset, for `dedupWindow` ms
 *     <prefix>c:<topic>        channel: live publications (see `broker-envelope.ts`)
 *     <prefix>pm:<topic>       hash: presence member id → its data (JSON)
 *     <prefix>pe:<topic>       sorted set: presence member id → when it expires (ms, Redis' clock)
 *     <prefix>pc:<topic>       channel: presence joins and leaves
 *     <prefix>n:<instanceId>   string: a node's advertised URL, for `presenceTtl` ms
 */
export class Keys {
  constructor(readonly prefix: string) {}

  meta(topic: string): string {
    return `${this.prefix}m:${topic}`;
  }

  stream(topic: string): string {
    return `${this.prefix}s:${topic}`;
  }

  idempotency(topic: string, id: string): string {
    return `${this.prefix}i:${topic}:${id}`;
  }

  channel(topic: string): string {
    return `${this.prefix}c:${topic}`;
  }

  presenceMembers(topic: string): string {
    return `${this.prefix}pm:${topic}`;
  }

  presenceExpiries(topic: string): string {
    return `${this.prefix}pe:${topic}`;
  }

  presenceChannel(topic: string): string {
    return `${this.prefix}pc:${topic}`;
  }

  node(instanceId: string): string {
    return `${this.prefix}n:${instanceId}`;
  }
}

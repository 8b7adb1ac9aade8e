/**
 * Who a handshake comes from, for the limits per client: what `sessionKey` returns, and
 * how many sessions each key holds.
 */

/**
 * The key of a remote address: an IPv4 address as it is (an IPv4-mapped IPv6 address
 * too), an IPv6 address as its /64 prefix. RFC 6177 and RIPE-690 have every subscriber
 * get a /64 at least, so one client can pick among 2^64 addresses: the prefix is the
 * client, the rest is free for the taking.
 */
export function addressKey(address: string): string {
  if (!address.includes(':')) return address;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped !== null) return mapped[1]!;
  const zone = address.indexOf('%');
  const bare = zone === -1 ? address : address.slice(0, zone);
  const gap = bare.indexOf('::');
  let groups: string[];
  if (gap === -1) {
    groups = bare.split(':');
  } else {
    const head = gap === 0 ? [] : bare.slice(0, gap).split(':');
    const tail = gap + 2 === bare.length ? [] : bare.slice(gap + 2).split(':');
    groups = [...head, ...Array<string>(Math.max(0, 8 - head.length - tail.length)).fill('0'), ...tail];
  }
  // One spelling per prefix: "2001:DB8:0:0::" and "2001:db8::" are the same client.
  return groups.slice(0, 4).map((group) => (parseInt(group, 16) || 0).toString(16)).join(':') + '::/64';
}

interface KeyCount {
  /** Sessions (and handshakes in progress) that have not made their first request yet. */
  unconfirmed: number;
  /** Every session of the key, unconfirmed ones included. */
  live: number;
}

/** Sessions per key; a key is forgotten once it holds none. */
export class SessionKeys {
  private readonly counts = new Map<string, KeyCount>();

  unconfirmed(key: string): number {
    return this.counts.get(key)?.unconfirmed ?? 0;
  }

  live(key: string): number {
    return this.counts.get(key)?.live ?? 0;
  }

  /** A handshake of `key` started (it holds a place until it is confirmed or gone). */
  open(key: string): void {
    let count = this.counts.get(key);
    if (count === undefined) {
      count = { unconfirmed: 0, live: 0 };
      this.counts.set(key, count);
    }
    count.unconfirmed++;
    count.live++;
  }

  /** The session made its first request. */
  confirm(key: string): void {
    const count = this.counts.get(key);
    if (count !== undefined) count.unconfirmed--;
  }

  /** The session (or the handshake) is gone; `confirmed` says which count it was in. */
  close(key: string, confirmed: boolean): void {
    const count = this.counts.get(key);
    if (count === undefined) return;
    if (!confirmed) count.unconfirmed--;
    count.live--;
    if (count.live <= 0) this.counts.delete(key);
  }

  /** Keys holding sessions (diagnostics, tests). */
  get size(): number {
    return this.counts.size;
  }
}

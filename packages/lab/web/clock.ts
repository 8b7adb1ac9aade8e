/**
 * The offset from this page's clock to the server's, NTP style: ask the server for its
 * time, take the round trip with the least delay (least queueing, so the most symmetric),
 * and assume the server read its clock half-way through it. The error is at most half
 * that round trip, so the questions go over a WebSocket (a fraction of a millisecond on
 * the same machine) rather than HTTP (a few milliseconds in a browser), with `fetch` as
 * the fallback. On one machine the offset is near zero; across machines it corrects for
 * clocks that are not in step.
 */

export function pageNow(): number {
  return performance.timeOrigin + performance.now();
}

interface Sample {
  rtt: number;
  offset: number;
  at: number;
}

export class ServerClock {
  /** server clock − page clock (ms). */
  offset = 0;
  /** The round trip of the sample the offset comes from (the error bound is half of it). */
  rtt = Infinity;
  private samples: Sample[] = [];
  private socket: WebSocket | null = null;
  private waiting: ((now: number) => void) | null = null;

  private connectSocket(): Promise<WebSocket | null> {
    if (this.socket !== null && this.socket.readyState === WebSocket.OPEN) return Promise.resolve(this.socket);
    return new Promise((resolve) => {
      const url = new URL('/lab/time?transport=websocket', location.href);
      url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
      let ws: WebSocket;
      try {
        ws = new WebSocket(url.href);
      } catch {
        resolve(null);
        return;
      }
      const timer = setTimeout(() => resolve(null), 3000);
      ws.onopen = () => {
        clearTimeout(timer);
        this.socket = ws;
        resolve(ws);
      };
      ws.onerror = () => {
        clearTimeout(timer);
        resolve(null);
      };
      ws.onclose = () => {
        if (this.socket === ws) this.socket = null;
      };
      ws.onmessage = (event) => {
        const { now } = JSON.parse(String(event.data)) as { now: number };
        const waiting = this.waiting;
        this.waiting = null;
        waiting?.(now);
      };
    });
  }

  private async askSocket(ws: WebSocket): Promise<Sample> {
    const t0 = pageNow();
    const now = await new Promise<number>((resolve, reject) => {
      this.waiting = resolve;
      setTimeout(() => reject(new Error('no answer')), 2000);
      ws.send('t');
    });
    const t1 = pageNow();
    return { rtt: t1 - t0, offset: now - (t0 + t1) / 2, at: t1 };
  }

  private async askHttp(): Promise<Sample> {
    const t0 = pageNow();
    const response = await fetch('/lab/clock', { cache: 'no-store' });
    const { now } = (await response.json()) as { now: number };
    const t1 = pageNow();
    return { rtt: t1 - t0, offset: now - (t0 + t1) / 2, at: t1 };
  }

  async sync(rounds = 5): Promise<void> {
    const ws = await this.connectSocket();
    for (let i = 0; i < rounds; i++) {
      try {
        this.samples.push(ws !== null ? await this.askSocket(ws) : await this.askHttp());
      } catch {
        // a lost answer: the other rounds will do
      }
    }
    // Clocks drift: only the last few minutes of samples count.
    this.samples = this.samples.filter((s) => pageNow() - s.at < 300_000).slice(-60);
    if (this.samples.length === 0) return;
    const best = this.samples.reduce((a, b) => (b.rtt < a.rtt ? b : a));
    this.offset = best.offset;
    this.rtt = best.rtt;
  }

  /** Now, on the server's clock. */
  now(): number {
    return pageNow() + this.offset;
  }
}

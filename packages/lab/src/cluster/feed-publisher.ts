import type { PublishedMessage } from 'hotline';
import { RedisEngine } from 'hotline/redis';
import { FEED_TOPIC } from './cluster-protocol.js';

/**
 * The cluster lab's one publisher: its own `RedisEngine` (no server, no subscriber), one
 * acknowledged publish at a time, `rate` a second. What Redis acknowledged is what every
 * client must get once: the page compares each client's last position with `last`.
 */
export class FeedPublisher {
  acknowledged = 0;
  failed = 0;
  last: { epoch: string; offset: number } | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private n = 0;

  private constructor(
    private readonly engine: RedisEngine<PublishedMessage>,
    readonly rate: number,
  ) {}

  /** Connects to Redis; rejects (`HL_ERR_ENGINE_UNAVAILABLE`) if it cannot be reached. */
  static async connect(url: string, rate: number): Promise<FeedPublisher> {
    const engine = new RedisEngine<PublishedMessage>({ url, commandTimeout: 2000 });
    engine.bind({
      message: (topic, data, isBinary, epoch, offset) => ({ topic, data, isBinary, epoch, offset }),
      // A publish that fails is counted (`failed`); the link comes back by itself.
      error: () => undefined,
    });
    try {
      await engine.connect();
    } catch (error) {
      await engine.close().catch(() => undefined);
      throw error;
    }
    return new FeedPublisher(engine, rate);
  }

  start(): void {
    const every = 1000 / this.rate;
    let due = Date.now();
    const tick = () => {
      this.running = this.publishOne().finally(() => {
        this.running = null;
        if (this.timer === null) return;
        // Due times, not the timers' firing: the long-run rate stays exact.
        due += every;
        this.timer = setTimeout(tick, Math.max(0, due - Date.now()));
      });
    };
    this.timer = setTimeout(tick, 0);
  }

  private async publishOne(): Promise<void> {
    const n = ++this.n;
    try {
      const ack = await this.engine.publishAcknowledged(FEED_TOPIC, Buffer.from(JSON.stringify({ n, t: Date.now() })), false);
      this.acknowledged++;
      this.last = { epoch: ack.epoch, offset: ack.offset };
    } catch {
      this.failed++;
    }
  }

  async close(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
    await this.engine.close();
  }
}

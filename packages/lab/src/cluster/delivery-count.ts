import type { EngineHost, PubSubEngine, PublishedMessage, RecoveryResult, StreamPosition } from 'hotline';

/**
 * What one node handed its clients, counted where the engine hands it to the server:
 * every publication the engine makes a message of is either live (then delivered to each
 * local subscriber of its topic) or part of a recovery's replay (then to one client).
 * Which of the two is known only when `recover` resolves, so each message waits for the
 * next `settle` (a later macrotask, after any recovery holding it has resolved).
 */
export class DeliveryCount {
  delivered = 0;
  replayed = 0;
  recovered = 0;
  unrecovered = 0;
  private readonly made: Array<{ message: PublishedMessage; subscribers: number }> = [];
  private readonly replaying = new WeakSet<PublishedMessage>();

  /** Wraps `engine`'s `bind` and `recover` in place; `subscribers(topic)` is the local count. */
  constructor(engine: PubSubEngine<PublishedMessage>, subscribers: (topic: string) => number) {
    const bind = engine.bind.bind(engine);
    const recover = engine.recover.bind(engine);
    engine.bind = (host: EngineHost<PublishedMessage>) =>
      bind({
        message: (topic, data, isBinary, epoch, offset) => {
          const message = host.message(topic, data, isBinary, epoch, offset);
          this.made.push({ message, subscribers: subscribers(topic) });
          return message;
        },
        error: (error) => host.error(error),
      });
    engine.recover = async (topic: string, since: StreamPosition, limit: number): Promise<RecoveryResult<PublishedMessage>> => {
      const result = await recover(topic, since, limit);
      if (result.recovered) {
        this.recovered++;
        for (const message of result.messages) this.replaying.add(message);
      } else this.unrecovered++;
      return result;
    };
  }

  /** Counts what was made since the last call. */
  settle(): void {
    for (const { message, subscribers } of this.made.splice(0)) {
      if (this.replaying.has(message)) this.replayed++;
      else this.delivered += subscribers;
    }
  }
}

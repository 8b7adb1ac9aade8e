/**
 * A node that joins a topic's presence, advertises itself, says so on stdout and waits to
 * be killed (`kill -9`): what a crashed node leaves behind in Redis.
 * argv: Redis URL, topic, presenceTtl (ms).
 */
import { RedisEngine } from '../../src/redis/index.js';

const [url, topic, ttl] = process.argv.slice(2) as [string, string, string];
const engine = new RedisEngine({ url, presenceTtl: Number(ttl) });
engine.bind({ message: (t, data, isBinary, epoch, offset) => ({ topic: t, data, isBinary, epoch, offset }), error: () => undefined });
await engine.connect();
engine.presence.join(topic, { id: `${engine.instanceId}.1`, data: { name: 'crashing' } });
engine.nodes.advertise('http://127.0.0.1:1');
// Both reached Redis once they are visible to a read behind them on the same connection.
while ((await engine.presence.count(topic)) < 1 || (await engine.nodes.lookup(engine.instanceId)) === undefined) await new Promise((r) => setTimeout(r, 10));
process.stdout.write(`${engine.instanceId}\n`);
setInterval(() => undefined, 1_000);

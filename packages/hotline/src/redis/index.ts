/**
 * `hotline/redis`: the pub/sub engine of servers that share a Redis. It needs the `redis`
 * package (an optional peer dependency of hotline: `npm install redis`).
 */
export { RedisEngine, type RedisEngineOptions } from './redis-engine.js';

// What the soak holds: the routes and topics the server serves, the traffic rates, and
// how the --ws and --http totals split into kinds of clients. Shared by every process
// of the soak, so that the server publishes to the topics the clients subscribe to.

export const ECHO_PATH = '/echo';
export const PUBSUB_PATH = '/pubsub';
/** The heavy topic: only slow and stalled readers and a few verifying readers take it. */
export const FIREHOSE = 'firehose';

/** Light topics t0..t(TOPICS-1): the server publishes one small message to each every `publishEvery`. */
export const TOPICS = 100;
export const topicName = (i) => `t${i % TOPICS}`;
export const isTopic = (name) => name === FIREHOSE || (/^t[0-9]{1,3}$/.test(name) && Number(name.slice(1)) < TOPICS);

/** The HTTP transports, in the order sessions are dealt to them. */
export const HTTP_TRANSPORTS = ['sse', 'long-polling', 'polling', 'interval-polling'];

/**
 * Rates and sizes. Each is a flag of soak.mjs; the reason for the default sits next to it.
 * "Modest" traffic: the point is hours of steady work on every code path, not a
 * throughput record (bench/run.mjs measures that).
 */
export const TRAFFIC_DEFAULTS = {
  // ms between two echoes of one client (±50 %): 10,000 clients make about 1,000 echoes/s,
  // a chatty application, well under what one core serves.
  echoEvery: 10_000,
  // ms between two publishes to each light topic: 100 topics, about 5,000 deliveries/s
  // at full scale; long-polling and polling clients get something on most requests.
  publishEvery: 1_000,
  // ms between two firehose publishes, and their size: 640 KiB/s per reader. A reader that
  // stops for 40 s is then 25 MiB behind: past what loopback's kernel buffers hold (up to
  // ~10 MiB a connection here), so past the server's maxBufferedAmount (8 MiB) and a
  // session's maxQueue (8 MiB) too — the soak reaches the server's limits, not only the
  // kernel's. An SSE session that is never read fills its maxQueue in ~13 s.
  firehoseEvery: 50,
  firehoseSize: 32 * 1024,
  // Slow readers stop for `slowPause` ms, then read for `slowRead` ms, all in step (see
  // `slowReaderPaused`): under the server's 60 s ping and the client's 55 s SSE liveness
  // limit, so that they are slow, not dead (stalled readers are dead).
  slowRead: 20_000,
  slowPause: 40_000,
  // A churning client lives this long (ms, uniform), then leaves and comes back.
  churnMin: 5_000,
  churnMax: 30_000,
};

const atLeast = (n, share, min = 1) => (n === 0 ? 0 : Math.max(min, Math.round(n * share)));

/**
 * How `ws` WebSocket clients and `http` sessions split into kinds. Everything not given
 * to a special kind is an echo or a light-topic subscriber, half and half.
 */
export function planClients(ws, http) {
  const deflate = atLeast(ws, 0.01);
  const slow = atLeast(ws, 0.01);
  const stalled = atLeast(ws, 0.002);
  const firehose = atLeast(ws, 0.002);
  const churn = atLeast(ws, 0.05);
  const rest = Math.max(0, ws - deflate - slow - stalled - firehose - churn);
  const raw = { echo: Math.ceil(rest / 2), sub: Math.floor(rest / 2), firehose, slow, stalled, churn };

  // An SSE session holds everything its client has not acknowledged, up to maxQueue (and
  // the SSE text of it too), until its reader reads again, or for ever for one that never
  // does: a few of them are enough to show it, and few enough that what they hold
  // (bounded) does not hide a leak in the rest.
  const sseSlow = atLeast(http, 0.005);
  const sseStalled = atLeast(http, 0.001);
  const httpChurn = atLeast(http, 0.05);
  const sessions = Math.max(0, http - sseSlow - sseStalled - httpChurn);
  const perTransport = {};
  HTTP_TRANSPORTS.forEach((transport, i) => {
    const share = Math.floor(sessions / 4) + (i < sessions % 4 ? 1 : 0);
    const churnShare = Math.floor(httpChurn / 4) + (i < httpChurn % 4 ? 1 : 0);
    perTransport[transport] = { echo: Math.ceil(share / 2), sub: Math.floor(share / 2), churn: churnShare };
  });
  return { raw, deflate, http: perTransport, sseSlow, sseStalled };
}

/** Splits `count` into `parts` shares that differ by at most one. */
export function split(count, parts) {
  return Array.from({ length: parts }, (_, i) => Math.floor(count / parts) + (i < count % parts ? 1 : 0));
}

/** Whether slow readers are stopped at `now`: the first `slowPause` ms of every cycle from `epoch`. */
export function slowReaderPaused(traffic, now) {
  return (now - traffic.epoch) % (traffic.slowPause + traffic.slowRead) < traffic.slowPause;
}

// A process of raw WebSocket clients (raw-websocket.mjs), thousands of them, each of one
// kind:
//   echo      sends an echo every `echoEvery` ms (±50 %); every reply must match, in order
//   sub       reads a light topic; one in ten also publishes to it every 10 × publishEvery
//   firehose  reads the firehose and checks that nothing is missing
//   slow      on the firehose, stops reading for `slowPause` ms, reads for `slowRead` ms,
//             again (all in step, on the soak's clock)
//   stalled   on the firehose, stops reading once open and never starts again
//   churn     on /echo or /pubsub, lives `churnMin`–`churnMax` ms, leaves (a Close, or
//             one time in five a reset), and comes back as a new connection
//
// Requests (ipc.mjs): `start` { port, kinds, traffic, base } connects them all and answers
// once every one has opened or failed; `stats` answers the tally; `leave` closes them all
// and answers once they are gone.
import { announceReady, openFilesLimit, serveRequests } from './ipc.mjs';
import { ECHO_PATH, FIREHOSE, PUBSUB_PATH, slowReaderPaused, topicName } from './plan.mjs';
import { RawWebSocket, State } from './raw-websocket.mjs';
import { Tally } from './tally.mjs';
import { echoText, publishText, Sequences } from './traffic.mjs';

// Handshakes in progress at once while connecting: enough to open 5,000 in a few
// seconds, few enough not to look like a flood to the kernel's accept queue.
const CONNECT_CONCURRENCY = 200;
// ms after which an echo that has not come back is reported as late (once).
const ECHO_LATE = 10_000;
// The clock of every client of the process: one timer, not one per connection.
const TICK = 100;

const tally = new Tally();
const live = new Set();
let config = null;
let leaving = false;
let clientIds = 0;

const random = (min, max) => min + Math.random() * (max - min);

// ---- Kinds ----------------------------------------------------------------------------------

/** What every kind does with an end, given whether the client asked for it. */
function ended(ws, end) {
  live.delete(ws);
  const kind = ws.data.kind;
  tally.add(kind, 'open', ws.data.wasOpen ? -1 : 0);
  if (!ws.data.wasOpen) {
    // A churning client told to leave while it was still connecting.
    if (ws.data.leaving) {
      ws.data.onEnd?.();
      return false;
    }
    tally.add(kind, 'connectFailed');
    tally.note(kind, `#${ws.data.id} did not open: ${end.detail}`);
    ws.data.onOpen?.(false);
    return false;
  }
  const label = `${end.code}${end.cause === 'clean' ? '' : ` ${end.cause}`}`;
  if (ws.data.leaving || allowed(kind, end)) {
    tally.bump(kind, 'closedExpected', label);
  } else {
    tally.bump(kind, 'closedUnexpected', label);
    tally.note(kind, `#${ws.data.id} closed ${label}${end.detail ? ` (${end.detail})` : ''}${end.reason ? ` "${end.reason}"` : ''}`);
  }
  if (end.cause === 'protocol') tally.bump(kind, 'errors', `protocol: ${end.detail}`);
  ws.data.onEnd?.();
  return true;
}

/**
 * Ends a kind may see without asking: a slow or stalled reader may be evicted by the
 * server's byte budget (maxOutboundBytes closes the largest holders with 1013 and destroys
 * their socket: a reader that is behind never reads that Close, and sees the connection
 * end), and a stalled one may also be dropped at the server's idle timeout.
 */
function allowed(kind, end) {
  if (kind === 'ws/slow' || kind === 'ws/stalled') return end.code === 1013 || end.cause === 'abnormal';
  return false;
}

function opened(ws) {
  ws.data.wasOpen = true;
  tally.add(ws.data.kind, 'opened');
  tally.add(ws.data.kind, 'open');
  ws.data.onOpen?.(true);
}

function checkEcho(ws, payload) {
  const d = ws.data;
  const text = payload.toString('latin1');
  tally.add(d.kind, 'received');
  const expected = d.pending.shift();
  d.pendingAt.shift();
  if (d.lateReported > 0) d.lateReported--;
  if (expected === text) tally.add(d.kind, 'echoOk');
  else {
    tally.add(d.kind, 'echoBad');
    tally.note(d.kind, `#${d.id} echo mismatch: sent ${JSON.stringify(expected?.slice(0, 24))}, got ${JSON.stringify(text.slice(0, 24))}`);
  }
}

function sendEcho(ws, now) {
  const d = ws.data;
  const text = echoText(d.n++);
  if (!ws.sendText(text)) return;
  d.pending.push(text);
  d.pendingAt.push(now);
  tally.add(d.kind, 'sent');
}

function lateEchoes(ws, now) {
  const d = ws.data;
  if (d.pendingAt.length > d.lateReported && now - d.pendingAt[d.lateReported] > ECHO_LATE) {
    d.lateReported = d.pendingAt.length;
    tally.add(d.kind, 'echoLate');
    tally.note(d.kind, `#${d.id} no echo after ${ECHO_LATE / 1000} s (${d.pending.length} outstanding)`);
  }
}

function readTopic(ws, payload) {
  const d = ws.data;
  tally.add(d.kind, 'received');
  if (!d.seqs.see(payload)) {
    tally.bump(d.kind, 'errors', 'not a topic message');
    tally.note(d.kind, `#${d.id} unexpected message ${JSON.stringify(payload.toString('latin1', 0, 24))}`);
  }
}

/** Moves what a reader's sequences saw into the tally (gaps are skips for a slow reader). */
function takeSequences(ws) {
  const d = ws.data;
  if (d.seqs === null) return;
  const { gaps, missed, disorder } = d.seqs.take();
  if (d.kind === 'ws/slow' || d.kind === 'ws/stalled') tally.add(d.kind, 'skipped', missed);
  else if (gaps > 0) {
    tally.add(d.kind, 'gaps', gaps);
    tally.add(d.kind, 'missed', missed);
    tally.note(d.kind, `#${d.id} missed ${missed} publishes`);
  }
  if (disorder > 0) {
    tally.add(d.kind, 'disorder', disorder);
    tally.note(d.kind, `#${d.id} ${disorder} publishes out of order or twice`);
  }
}

const echoKind = {
  open(ws) {
    opened(ws);
    ws.data.due = Date.now() + random(0, config.traffic.echoEvery);
  },
  message: checkEcho,
  close: ended,
  tick(ws, now) {
    lateEchoes(ws, now);
    if (now < ws.data.due) return;
    sendEcho(ws, now);
    ws.data.due = now + config.traffic.echoEvery * random(0.5, 1.5);
  },
};

const subKind = {
  open(ws) {
    opened(ws);
    ws.data.due = ws.data.publishes ? Date.now() + random(0, 10 * config.traffic.publishEvery) : Infinity;
  },
  message: readTopic,
  close: ended,
  tick(ws, now) {
    if (now < ws.data.due) return;
    if (ws.sendText(publishText(ws.data.id, ws.data.n++))) tally.add(ws.data.kind, 'sent');
    ws.data.due = now + 10 * config.traffic.publishEvery;
  },
};

const firehoseKind = { open: opened, message: readTopic, close: ended, tick() {} };

const slowKind = {
  open: opened,
  message: readTopic,
  close: ended,
  tick(ws, now) {
    if (slowReaderPaused(config.traffic, now)) ws.pause();
    else ws.resume();
  },
};

const stalledKind = {
  open(ws) {
    opened(ws);
    ws.pause();
  },
  message: readTopic,
  close(ws, end) {
    // Read again at the end (leaveAll), a stalled reader that finds its connection over
    // before we closed it was dropped by the server meanwhile.
    if (ws.data.stalledEnd && !ws.data.leaving) {
      tally.add(ws.data.kind, 'droppedByServer');
      ws.data.leaving = true;
    }
    ended(ws, end);
  },
  tick() {},
};

/** A churning client is an echo client with a lifetime. */
const churnKind = {
  open(ws) {
    opened(ws);
    ws.data.due = Date.now() + random(0, 2_000);
    ws.data.leaveAt = Date.now() + random(config.traffic.churnMin, config.traffic.churnMax);
  },
  message(ws, payload) {
    if (payload[0] === 0x65 /* e */) checkEcho(ws, payload);
    else readTopic(ws, payload);
  },
  close(ws, end) {
    // A client that could not connect tries again, as one that left comes back.
    if (ended(ws, end) && ws.data.leaving && !leaving) tally.add(ws.data.kind, 'cycles');
    if (!leaving) setTimeout(() => connect('churn'), random(0, 2_000)).unref();
  },
  tick(ws, now) {
    const d = ws.data;
    if (d.leaving) return;
    if (now >= d.leaveAt) {
      d.leaving = true;
      // A leaving client no longer waits for its echoes.
      d.pending.length = d.pendingAt.length = d.lateReported = 0;
      if (Math.random() < 0.2) ws.terminate();
      else ws.close(1000);
      return;
    }
    lateEchoes(ws, now);
    if (now >= d.due && ws.path === ECHO_PATH) {
      sendEcho(ws, now);
      d.due = now + 2_000;
    }
  },
};

const KINDS = { echo: echoKind, sub: subKind, firehose: firehoseKind, slow: slowKind, stalled: stalledKind, churn: churnKind };

function pathFor(kind, id) {
  switch (kind) {
    case 'echo':
      return ECHO_PATH;
    case 'sub':
      return `${PUBSUB_PATH}?topic=${topicName(id)}`;
    case 'churn':
      return id % 2 === 0 ? ECHO_PATH : `${PUBSUB_PATH}?topic=${topicName(id)}`;
    default:
      return `${PUBSUB_PATH}?topic=${FIREHOSE}`;
  }
}

function connect(kind, onOpen) {
  const id = config.base + clientIds++;
  const path = pathFor(kind, id);
  const data = {
    kind: `ws/${kind}`,
    id: `w${id}`,
    wasOpen: false,
    leaving: false,
    n: 0,
    due: Infinity,
    pending: [],
    pendingAt: [],
    lateReported: 0,
    seqs: path.startsWith(PUBSUB_PATH) ? new Sequences() : null,
    publishes: kind === 'sub' && id % 10 === 0,
    onOpen,
    leaveAt: Infinity,
  };
  const ws = new RawWebSocket(config.port, path, KINDS[kind], data);
  live.add(ws);
  return ws;
}

/** Opens `kinds` = { kind: count }, CONNECT_CONCURRENCY at a time. */
async function connectAll(kinds) {
  const queue = [];
  for (const [kind, count] of Object.entries(kinds)) for (let i = 0; i < count; i++) queue.push(kind);
  // Interleave the kinds, so that the slow ones are not all opened last.
  queue.sort(() => Math.random() - 0.5);
  let failed = 0;
  let next = 0;
  await new Promise((resolve) => {
    let inFlight = 0;
    const pump = () => {
      while (inFlight < CONNECT_CONCURRENCY && next < queue.length) {
        inFlight++;
        connect(queue[next++], (ok) => {
          if (!ok) failed++;
          inFlight--;
          if (next === queue.length && inFlight === 0) resolve();
          else pump();
        });
      }
      if (queue.length === 0) resolve();
    };
    pump();
  });
  for (const ws of live) ws.data.onOpen = null;
  return { opened: queue.length - failed, failed };
}

const clock = setInterval(() => {
  const now = Date.now();
  for (const ws of live) {
    ws.expire(now);
    if (ws.state === State.OPEN && !leaving) ws.behavior.tick(ws, now);
  }
}, TICK);

function collect() {
  for (const ws of live) takeSequences(ws);
  return tally.snapshot();
}

/**
 * Closes every client. A stalled reader first reads what piled up: if the server dropped
 * it meanwhile (idle timeout, budget) that shows now, as the end of the stream.
 */
async function leaveAll() {
  leaving = true;
  const ends = [];
  for (const ws of live) {
    ws.data.leaving = true;
    ws.data.pending.length = ws.data.pendingAt.length = ws.data.lateReported = 0;
    ends.push(new Promise((resolve) => (ws.data.onEnd = resolve)));
    if (ws.data.kind === 'ws/stalled') {
      ws.data.leaving = false;
      ws.data.stalledEnd = true;
      ws.resume();
      // Whatever the server queued arrives first; a connection still open after it is
      // closed by us.
      setTimeout(() => {
        if (ws.state !== State.OPEN) return;
        tally.add(ws.data.kind, 'stillOpen');
        ws.data.leaving = true;
        ws.close(1000);
      }, 5_000).unref();
    } else {
      ws.close(1000);
    }
  }
  await Promise.all(ends);
  clearInterval(clock);
  return collect();
}

serveRequests({
  async start(message) {
    config = message;
    return connectAll(message.kinds);
  },
  stats: collect,
  leave: leaveAll,
});

announceReady({ nofile: await openFilesLimit(), pid: process.pid });

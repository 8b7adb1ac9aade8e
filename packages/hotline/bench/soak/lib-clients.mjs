// A process of clients built on Hotline's own client code, so that the soak exercises it
// too: the universal client `connect` (src/browser/client.ts, over `fetch`) for the HTTP
// sessions, and the same client over Hotline's Node `WebSocket` with permessage-deflate.
// Kinds, per HTTP transport T (sse, long-polling, polling, interval-polling):
//   T/echo        an echo every `echoEvery` ms (±50 %); replies must match, in order
//   T/sub         reads a light topic; one in ten also publishes to it
//   T/churn       an echo client that closes after `churnMin`–`churnMax` ms and comes back
// and
//   sse/slow      the universal client on the firehose over SSE, with a `fetch` whose
//                 event stream stops being read for `slowPause` ms, then is read for
//                 `slowRead` ms, and so on (in step with the raw slow readers)
//   sse/stalled   a bare SSE request on the firehose that is never read once the session
//                 opened (the universal client would call the stream dead and reconnect);
//                 it posts its close at the end
//   deflate/echo, deflate/sub   WebSocket with permessage-deflate: JSON echoes, a light topic
//
// Requests: `start` { port, plan, traffic, base }, `stats`, `leave` (as ws-clients.mjs).
import http from 'node:http';

import { connect } from '../../dist/src/browser/client.js';
import { WebSocket } from '../../dist/src/client/websocket.js';
import { SseParser, decodeHandshake, encodeBatch } from '../../dist/src/protocol/session/wire.js';
import { announceReady, openFilesLimit, serveRequests } from './ipc.mjs';
import { ECHO_PATH, FIREHOSE, PUBSUB_PATH, slowReaderPaused, topicName } from './plan.mjs';
import { Tally } from './tally.mjs';
import { echoText, jsonEchoText, publishText, Sequences } from './traffic.mjs';

// Sessions being opened at once: each opening is one request.
const CONNECT_CONCURRENCY = 100;
// ms after which an echo that has not come back is reported as late (once). Long enough
// for a polling round trip under load (interval 1 s, plus the POST).
const ECHO_LATE = 15_000;
const TICK = 100;
// A failed request is retried (the client's own backoff) this many times before the
// session is given up: every retry is counted, so none goes unseen.
const RECONNECT = { retries: 5, minDelay: 200, maxDelay: 2_000 };

const tally = new Tally();
const live = new Set();
let config = null;
let leaving = false;
let clientIds = 0;
const random = (min, max) => min + Math.random() * (max - min);
const kState = Symbol('soak.client');

// ---- A fetch whose event streams can stop being read ------------------------------------------

/** Open or shut; readers wait while it is shut. */
class Gate {
  open = true;
  waiters = [];
  set(open) {
    this.open = open;
    if (open) for (const resolve of this.waiters.splice(0)) resolve();
  }
  wait(signal) {
    if (this.open) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiters.push(resolve);
      signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
  }
}

/**
 * `fetch`, except that an event stream's body is pulled through `gate`: while it is shut
 * nothing is read, so undici's buffer fills, then TCP's, then the server's — a reader that
 * stopped reading, as a busy browser tab does.
 */
function gatedFetch(gate) {
  return async (url, init) => {
    const response = await fetch(url, init);
    if (init?.headers?.Accept !== 'text/event-stream' || response.body === null) return response;
    const reader = response.body.getReader();
    const body = new ReadableStream(
      {
        async pull(controller) {
          try {
            await gate.wait(init.signal);
            const { done, value } = await reader.read();
            if (done) controller.close();
            else controller.enqueue(value);
          } catch (error) {
            controller.error(error);
          }
        },
        cancel(reason) {
          return reader.cancel(reason);
        },
      },
      { highWaterMark: 0 },
    );
    return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}

/** A stable name for what made a request fail: undici's cause code, the status, the error's name. */
function errorCode(error) {
  if (error == null) return 'error';
  if (error.status !== undefined) return `HTTP ${error.status}${error.code ? ` ${error.code}` : ''}`;
  const cause = error.cause;
  if (cause?.code) return `${error.name}: ${cause.code}`;
  if (error.code) return typeof error.code === 'number' ? error.name : error.code;
  return error.name || 'error';
}

/**
 * `inner` (fetch, or the gated one), counting every request that fails or is answered with
 * an error status, by cause, while the client is not closing (it aborts its own requests
 * then). The universal client retries them without saying why; this says why.
 */
function countingFetch(state, inner) {
  return (url, init) =>
    inner(url, init).then(
      (response) => {
        if (!response.ok && !state.leaving) tally.bump(state.kind, 'requestFailures', `HTTP ${response.status}`);
        return response;
      },
      (error) => {
        if (!state.leaving) {
          const code = errorCode(error);
          tally.bump(state.kind, 'requestFailures', `${init?.method ?? 'GET'} ${code}`);
          if (state.failuresNoted++ < 2) tally.note(state.kind, `#${state.id} ${init?.method ?? 'GET'} ${new URL(url).searchParams.get('transport')} failed: ${code} ${error.cause?.message ?? error.message}`);
        }
        throw error;
      },
    );
}

// ---- Universal clients ----------------------------------------------------------------------

function onOpen() {
  const s = this[kState];
  if (s.wasOpen) {
    // A new session after a lost one: what was in flight went with the old one.
    s.pending.length = s.pendingAt.length = s.lateReported = 0;
    s.seqs = s.seqs === null ? null : new Sequences();
  } else {
    s.wasOpen = true;
    tally.add(s.kind, 'opened');
    tally.add(s.kind, 'open');
    s.opened?.(true);
    s.opened = null;
  }
  s.due = Date.now() + random(0, s.every);
}

function onMessage(event) {
  const s = this[kState];
  // A client that is closing no longer counts its echoes (replies may still arrive).
  if (s.leaving) return;
  const text = event.data;
  tally.add(s.kind, 'received');
  if (typeof text !== 'string') {
    tally.bump(s.kind, 'errors', 'binary message');
    return;
  }
  const kind = text.charCodeAt(0);
  if (kind === 0x65 /* e */ || kind === 0x6a /* j */) {
    const expected = s.pending.shift();
    s.pendingAt.shift();
    if (s.lateReported > 0) s.lateReported--;
    if (expected === text) tally.add(s.kind, 'echoOk');
    else {
      tally.add(s.kind, 'echoBad');
      tally.note(s.kind, `#${s.id} echo mismatch: sent ${JSON.stringify(expected?.slice(0, 24))}, got ${JSON.stringify(text.slice(0, 24))}`);
    }
  } else if (s.seqs === null || !s.seqs.see(text)) {
    tally.bump(s.kind, 'errors', 'unexpected message');
    tally.note(s.kind, `#${s.id} unexpected message ${JSON.stringify(text.slice(0, 24))}`);
  }
}

/** undici's codes for a connection that closed or reset under a request (on loopback: a keep-alive race). */
const NETWORK_FAILURES = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE', 'UND_ERR_CLOSED']);

function onError(event) {
  const s = this[kState];
  const code = errorCode(event.error);
  if (NETWORK_FAILURES.has(event.error?.cause?.code)) {
    tally.bump(s.kind, 'transientErrors', code);
    return;
  }
  // A slow reader's session may be evicted by the server's byte budget (maxOutboundBytes):
  // its next request learns so (410), and the client reports 1013 and reconnects.
  if (s.slow && code.includes('HL_ERR_SESSION_EVICTED')) {
    tally.bump(s.kind, 'closedExpected', code);
    return;
  }
  tally.bump(s.kind, 'errors', code);
  tally.note(s.kind, `#${s.id} error ${code}: ${event.message}`);
}

function onReconnecting() {
  const s = this[kState];
  tally.add(s.kind, 'retries');
  if (s.retriesNoted++ < 2) tally.note(s.kind, `#${s.id} request failed, retrying`);
}

function onClose(event) {
  const s = this[kState];
  const label = `${event.code}${event.wasClean ? '' : ' unclean'}${event.willReconnect ? ' reconnecting' : ''}`;
  if (!s.wasOpen) {
    if (event.willReconnect) return;
    live.delete(this);
    if (!s.leaving) {
      tally.add(s.kind, 'connectFailed');
      tally.note(s.kind, `#${s.id} did not open: ${event.code} ${event.reason}`);
    }
    s.opened?.(false);
    s.ended?.();
    if (s.churn && !leaving) setTimeout(() => open(s.kind, s.transport, s.path), random(0, 2_000)).unref();
    return;
  }
  if (s.leaving || (s.slow && event.code === 1013)) tally.bump(s.kind, 'closedExpected', label);
  else {
    tally.bump(s.kind, 'closedUnexpected', label);
    tally.note(s.kind, `#${s.id} closed ${label} "${event.reason}"`);
  }
  if (event.willReconnect && !s.leaving) return;
  live.delete(this);
  tally.add(s.kind, 'open', -1);
  s.ended?.();
  if (s.churn && !leaving) {
    tally.add(s.kind, 'cycles');
    setTimeout(() => open(s.kind, s.transport, s.path), random(0, 2_000)).unref();
  }
}

/** Opens one universal client of `kind` on `path` over `transport`. */
function open(kind, transport, path, opened) {
  const id = config.base + clientIds++;
  const slow = kind === 'sse/slow';
  const gate = slow ? new Gate() : null;
  const state = {
    kind,
    transport,
    path,
    id: `h${id}`,
    wasOpen: false,
    leaving: false,
    churn: kind.endsWith('/churn'),
    slow,
    gate,
    echoes: path === ECHO_PATH,
    json: transport === 'websocket',
    publishes: path.startsWith(PUBSUB_PATH) && !path.endsWith(FIREHOSE) && id % 10 === 0,
    every: path === ECHO_PATH ? config.traffic.echoEvery : 10 * config.traffic.publishEvery,
    due: Infinity,
    leaveAt: kind.endsWith('/churn') ? Date.now() + random(config.traffic.churnMin, config.traffic.churnMax) : Infinity,
    n: 0,
    pending: [],
    pendingAt: [],
    lateReported: 0,
    retriesNoted: 0,
    failuresNoted: 0,
    seqs: path.startsWith(PUBSUB_PATH) ? new Sequences() : null,
    opened,
    ended: null,
  };
  const options = {
    transports: [transport],
    reconnect: RECONNECT,
    ...(transport === 'websocket'
      ? { WebSocket, webSocketOptions: { perMessageDeflate: true } }
      : {
          fetch: countingFetch(state, slow ? gatedFetch(gate) : fetch),
          // Every client here shares 127.0.0.1: it names itself, so that the server's
          // limits per client (sessionKey) see 2,000 clients, not one.
          headers: { 'x-soak-client': String(id) },
        }),
  };
  const client = connect(`http://127.0.0.1:${config.port}${path}`, options);
  client[kState] = state;
  client.addEventListener('open', onOpen);
  client.addEventListener('message', onMessage);
  client.addEventListener('error', onError);
  client.addEventListener('reconnecting', onReconnecting);
  client.addEventListener('close', onClose);
  live.add(client);
  return client;
}

function tick(client, now) {
  const s = client[kState];
  if (s.leaving || client.readyState !== 1) return;
  if (now >= s.leaveAt) {
    s.leaving = true;
    s.pending.length = s.pendingAt.length = s.lateReported = 0;
    client.close(1000);
    return;
  }
  s.gate?.set(!slowReaderPaused(config.traffic, now));
  if (s.pendingAt.length > s.lateReported && now - s.pendingAt[s.lateReported] > ECHO_LATE) {
    s.lateReported = s.pendingAt.length;
    tally.add(s.kind, 'echoLate');
    tally.note(s.kind, `#${s.id} no echo after ${ECHO_LATE / 1000} s (${s.pending.length} outstanding)`);
  }
  if (now < s.due) return;
  s.due = now + s.every * random(0.5, 1.5);
  if (s.echoes) {
    const text = s.json ? jsonEchoText(s.n++) : echoText(s.n++);
    s.pending.push(text);
    s.pendingAt.push(now);
    client.send(text);
    tally.add(s.kind, 'sent');
  } else if (s.publishes) {
    client.send(publishText(s.id, s.n++));
    tally.add(s.kind, 'sent');
  }
}

// ---- Stalled SSE readers ----------------------------------------------------------------------

/** A bare SSE session on the firehose: read up to the session event, then never again. */
function openStalled(opened) {
  const state = { kind: 'sse/stalled', sid: '', request: null, response: null, wasOpen: false, leaving: false, done: false, ended: null };
  const url = `http://127.0.0.1:${config.port}${PUBSUB_PATH}?topic=${FIREHOSE}&transport=sse`;
  const request = http.get(url, { agent: false, headers: { Accept: 'text/event-stream' } });
  state.request = request;
  live.add(state);
  const parser = new SseParser();
  const settle = (ok, why) => {
    if (opened === null) return;
    if (!ok) {
      tally.add(state.kind, 'connectFailed');
      tally.note(state.kind, `did not open: ${why}`);
      live.delete(state);
    }
    opened(ok);
    opened = null;
  };
  request.on('response', (response) => {
    state.response = response;
    if (response.statusCode !== 200) {
      response.resume();
      return settle(false, `HTTP ${response.statusCode}`);
    }
    response.on('data', (chunk) => {
      if (state.wasOpen) return;
      for (const event of parser.push(chunk)) {
        if (event.type !== 'session') continue;
        state.sid = decodeHandshake(event.data).sid;
        state.wasOpen = true;
        tally.add(state.kind, 'opened');
        tally.add(state.kind, 'open');
        response.pause();
        settle(true);
        return;
      }
    });
  });
  const gone = (why) => {
    if (state.done) return;
    state.done = true;
    live.delete(state);
    settle(false, why);
    if (state.wasOpen) tally.add(state.kind, 'open', -1);
    if (state.wasOpen && !state.leaving) {
      tally.bump(state.kind, 'closedUnexpected', why);
      tally.note(state.kind, `stream ended: ${why}`);
    }
    state.ended?.();
  };
  request.on('error', (error) => gone(error.code ?? error.message));
  request.on('close', () => gone('closed'));
}

/** Ends a stalled session the way a client must: a close packet (then the stream goes). */
async function leaveStalled(state) {
  state.leaving = true;
  const ended = state.done ? Promise.resolve() : new Promise((resolve) => (state.ended = resolve));
  if (state.sid !== '') {
    const status = await post(`${PUBSUB_PATH}?topic=${FIREHOSE}&transport=sse&sid=${state.sid}&ack=0`, encodeBatch(1, [{ kind: 'c', code: 1000, reason: '' }]));
    if (status === 204) {
      tally.add(state.kind, 'stillOpen');
      tally.bump(state.kind, 'closedExpected', '1000');
    } else {
      // The server let go of the session meanwhile.
      tally.add(state.kind, 'droppedByServer');
      tally.bump(state.kind, 'closedExpected', `HTTP ${status}`);
    }
  }
  state.request.destroy();
  await ended;
}

function post(path, body) {
  return new Promise((resolve) => {
    const request = http.request(`http://127.0.0.1:${config.port}${path}`, {
      method: 'POST',
      agent: false,
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length },
    });
    request.on('response', (response) => {
      response.resume();
      resolve(response.statusCode);
    });
    request.on('error', (error) => resolve(error.code ?? 'error'));
    request.end(body);
  });
}

// ---- Running -----------------------------------------------------------------------------------

/** Every client to open, as [open function] thunks taking the `opened(ok)` callback. */
function openers(plan) {
  const list = [];
  for (const [transport, kinds] of Object.entries(plan.http)) {
    for (let i = 0; i < kinds.echo; i++) list.push((done) => open(`${transport}/echo`, transport, ECHO_PATH, done));
    for (let i = 0; i < kinds.sub; i++) list.push((done) => open(`${transport}/sub`, transport, `${PUBSUB_PATH}?topic=${topicName(i)}`, done));
    for (let i = 0; i < kinds.churn; i++) list.push((done) => open(`${transport}/churn`, transport, ECHO_PATH, done));
  }
  for (let i = 0; i < plan.sseSlow; i++) list.push((done) => open('sse/slow', 'sse', `${PUBSUB_PATH}?topic=${FIREHOSE}`, done));
  for (let i = 0; i < plan.sseStalled; i++) list.push((done) => openStalled(done));
  for (let i = 0; i < plan.deflate; i++) {
    if (i % 2 === 0) list.push((done) => open('deflate/echo', 'websocket', ECHO_PATH, done));
    else list.push((done) => open('deflate/sub', 'websocket', `${PUBSUB_PATH}?topic=${topicName(i)}`, done));
  }
  return list.sort(() => Math.random() - 0.5);
}

async function connectAll(plan) {
  const list = openers(plan);
  let failed = 0;
  let next = 0;
  let inFlight = 0;
  await new Promise((resolve) => {
    const pump = () => {
      while (inFlight < CONNECT_CONCURRENCY && next < list.length) {
        inFlight++;
        list[next++]((ok) => {
          if (!ok) failed++;
          inFlight--;
          if (next === list.length && inFlight === 0) resolve();
          else pump();
        });
      }
    };
    if (list.length === 0) resolve();
    else pump();
  });
  return { opened: list.length - failed, failed };
}

const clock = setInterval(() => {
  if (leaving) return;
  const now = Date.now();
  for (const client of live) if (client[kState] !== undefined) tick(client, now);
}, TICK);

function takeSequences() {
  for (const client of live) {
    const s = client[kState];
    if (s?.seqs == null) continue;
    const { gaps, missed, disorder } = s.seqs.take();
    if (s.slow) tally.add(s.kind, 'skipped', missed);
    else if (gaps > 0) {
      tally.add(s.kind, 'gaps', gaps);
      tally.add(s.kind, 'missed', missed);
      tally.note(s.kind, `#${s.id} missed ${missed} publishes`);
    }
    if (disorder > 0) {
      tally.add(s.kind, 'disorder', disorder);
      tally.note(s.kind, `#${s.id} ${disorder} publishes out of order or twice`);
    }
  }
}

function collect() {
  takeSequences();
  return tally.snapshot();
}

// ms a client may take to close (a close packet waits behind a POST in flight, a slow
// reader's close behind what it has not read yet).
const LEAVE_TIMEOUT = 20_000;

async function leaveAll() {
  takeSequences();
  leaving = true;
  clearInterval(clock);
  const ends = [];
  for (const client of [...live]) {
    const s = client[kState];
    if (s === undefined) {
      ends.push(leaveStalled(client));
      continue;
    }
    s.leaving = true;
    s.gate?.set(true);
    ends.push(new Promise((resolve) => (s.ended = resolve)));
    client.close(1000);
  }
  let timer;
  const timeout = new Promise((resolve) => (timer = setTimeout(resolve, LEAVE_TIMEOUT, 'timeout')));
  const outcome = await Promise.race([Promise.all(ends), timeout]);
  clearTimeout(timer);
  if (outcome === 'timeout') {
    for (const client of live) {
      const kind = client[kState]?.kind ?? client.kind;
      tally.bump(kind, 'closedUnexpected', 'close timeout');
      tally.note(kind, `still open ${LEAVE_TIMEOUT / 1000} s after close()`);
    }
  }
  return tally.snapshot();
}

serveRequests({
  async start(message) {
    config = message;
    return connectAll(message.plan);
  },
  stats: collect,
  leave: leaveAll,
});

announceReady({ nofile: await openFilesLimit(), pid: process.pid });

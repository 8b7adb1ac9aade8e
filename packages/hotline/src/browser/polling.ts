/**
 * The downstream of the polling transports: long polling (ask again at once; the server
 * holds the request until it has something), short polling (ask, then wait `interval`
 * after each answer) and fixed-interval polling (a request on every tick of a clock,
 * answered or not). Every poll names the last sequence number received, so each answer
 * holds exactly what is missing; the session core drops what was already delivered.
 */
import type { SessionHost } from './session-host.js';

/** The handshake request; then the loop of the transport. */
export async function openPolling(host: SessionHost): Promise<void> {
  const session = host.session;
  let packets;
  try {
    const bytes = await host.request('GET', { transport: host.httpName, ...host.owner.handshakeParams?.() }, undefined, session.openTimeout);
    packets = session.receiveBatch(bytes);
    // The core has checked that the answer opens with the `o` packet.
    host.opening();
  } catch (error) {
    if (!host.stopped) host.owner.driverFailed(host, error as Error);
    return;
  }
  host.deliver(packets, 1);
  if (host.stopped || session.finished) return;
  if (host.httpName === 'interval-polling') startClock(host);
  else void pollLoop(host);
}

/** Long and short polling: one request at a time. */
async function pollLoop(host: SessionHost): Promise<void> {
  const session = host.session;
  while (!host.stopped && !session.finished) {
    await host.whilePaused();
    if (host.stopped || session.finished || host.carried) return;
    const ok = await pollOnce(host);
    if (host.stopped || session.finished) return;
    // Short polling: wait `interval` after each answer (long polling: 0).
    if (ok && host.httpName === 'polling') await host.sleep(session.pollDelay());
  }
}

/** Fixed-interval polling: the clock starts with the session and keeps its beat. */
export function startClock(host: SessionHost): void {
  host.session.startClock();
  tick(host);
}

function tick(host: SessionHost): void {
  host.clock = null;
  const session = host.session;
  if (host.stopped || session.finished || host.paused) return;
  if (session.mayPoll(host.backingOff)) void pollOnce(host);
  host.clock = host.timer(() => tick(host), session.nextTickDelay());
}

/** One poll; false when it failed (the failure is handled: backoff or the end). */
async function pollOnce(host: SessionHost): Promise<boolean> {
  const session = host.session;
  session.pollsInFlight++;
  try {
    const bytes = await host.request('GET', host.params(), undefined, session.pollTimeout());
    const packets = session.receiveBatch(bytes);
    host.succeeded();
    host.deliver(packets, 0);
    return true;
  } catch (error) {
    // Polls aborted for an upgrade are not failures.
    if (!host.paused) await host.failed(error as Error);
    return false;
  } finally {
    session.pollsInFlight--;
  }
}

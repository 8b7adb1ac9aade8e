/**
 * The downstream of the SSE transport: one `text/event-stream` response read as it
 * arrives (a streaming fetch, not `EventSource`: it can send our headers and credentials
 * mode, name the ack in its URL and be aborted), resumed with a new request after a
 * break. The session core parses the stream and orders its events; acknowledgements go
 * up as POSTs (`SessionDriver.flushUp`).
 */
import { WireError } from '../protocol/session/wire.js';
import { failureOf, transportUrl } from './driver.js';
import type { ResponseLike, TimerHandle } from './io.js';
import type { SessionHost } from './session-host.js';

export async function sseLoop(host: SessionHost): Promise<void> {
  const session = host.session;
  const { io, options, url } = host.owner;
  while (!host.stopped && !session.finished) {
    await host.whilePaused();
    if (host.stopped || session.finished || host.carried) return;
    const controller = new AbortController();
    host.track(controller, true);
    const opening = !session.opened;
    let openTimer: TimerHandle | null = opening ? host.timer(() => controller.abort(), session.openTimeout) : null;
    try {
      const response = await io.fetch(transportUrl(url, opening ? { transport: 'sse', ...host.owner.handshakeParams?.() } : host.params()), {
        method: 'GET',
        headers: { Accept: 'text/event-stream', ...options.headers },
        credentials: options.credentials,
        cache: 'no-store',
        signal: controller.signal,
      });
      if (!response.ok) throw await failureOf(response);
      if (!opening) host.succeeded();
      session.restartStream();
      await readStream(host, response, controller, () => {
        if (openTimer !== null) host.clearTimer(openTimer);
        openTimer = null;
      });
      if (host.stopped || session.finished) return;
      if (!session.opened) throw new WireError('stream ended before the open event');
      throw new Error('event stream ended');
    } catch (error) {
      if (openTimer !== null) host.clearTimer(openTimer);
      if (host.stopped || session.finished) return;
      if (host.paused) continue;
      if (!session.opened) {
        host.owner.driverFailed(host, error as Error);
        return;
      }
      await host.failed(error as Error);
    } finally {
      host.untrack(controller);
    }
  }
}

async function readStream(host: SessionHost, response: ResponseLike, controller: AbortController, onOpen: () => void): Promise<void> {
  const body = response.body;
  if (body === null) throw new WireError('no response body');
  const session = host.session;
  const reader = body.getReader();
  const now = host.owner.io.now;
  // A stream silent for two heartbeats is dead even if TCP has not noticed. One timer
  // checks the time of the last chunk: a chunk only notes the time (no timer per chunk).
  let lastRead = now();
  let live: TimerHandle | null = null;
  const check = () => {
    live = null;
    const timeout = session.streamTimeout();
    if (timeout < 0) return;
    const silent = now() - lastRead;
    if (silent >= timeout) controller.abort();
    else live = host.timer(check, timeout - silent);
  };
  // A resumed stream knows the heartbeat already; a new one learns it from its first event.
  check();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || host.stopped) return;
      lastRead = now();
      const wasOpen = session.opened;
      const packets = session.receiveStream(value);
      if (!wasOpen && session.opened) onOpen();
      if (live === null) check();
      host.deliver(packets, 0);
      if (host.stopped || session.finished) return;
    }
  } finally {
    if (live !== null) host.clearTimer(live);
    reader.cancel().catch(() => undefined);
  }
}

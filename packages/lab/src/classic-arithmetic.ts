/**
 * The page's "classic arithmetic" box: the 2010 estimate of what a poll costs (871 bytes
 * of HTTP headers, websocket.org's "A Quantum Leap in Scalability for the Web"), set
 * against the short polls measured here, piece by piece, so that the comparison says
 * the right word (lighter, heavier) and why the two figures differ. Pure: numbers in,
 * HTML out, for the page and for the tests.
 */
import type { PollAnatomy } from './snapshot.js';

/** The 2010 example's request and response headers of one poll, in bytes. */
export const CLASSIC_POLL_HEADER_BYTES = 871;
/** The request headers of that example (Firefox 3.5 and a Java application server). */
const CLASSIC_REQUEST_HEADERS = new Set(['host', 'user-agent', 'accept', 'accept-language', 'accept-encoding', 'accept-charset', 'keep-alive', 'connection', 'cache-control', 'referer', 'cookie']);

export interface ClassicInput {
  /** The last short poll, piece by piece; null before the first. */
  poll: PollAnatomy | null;
  /** Wire bytes per short poll over the window (all polls, empty or not). */
  averagePollBytes: number | null;
  /** Share of the window's short polls that came back empty, 0..1. */
  emptyShare: number | null;
  /** WebSocket bytes beyond the payload, per delivered message. */
  webSocketOverhead: number | null;
  /**
   * Over HTTP/2 (`serve --http2`): the short polls' HPACK-coded header bytes per request,
   * request and response (null before the first); undefined over HTTP/1.1.
   */
  http2HeaderBytes?: number | null;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function bytes(n: number): string {
  return `${Math.round(n).toLocaleString('en-US')} B`;
}

/** "lighter than", "heavier than" or "the same as": `measured` against `estimate`. */
export function comparison(measured: number, estimate: number): string {
  const diff = Math.round(measured) - estimate;
  if (diff === 0) return 'exactly the size of';
  return diff < 0 ? `${bytes(-diff)} lighter than` : `${bytes(diff)} heavier than`;
}

export function classicArithmetic(input: ClassicInput): string {
  const intro =
    `<p><strong>The classic arithmetic</strong> (websocket.org, 2010): a poll carries ${bytes(CLASSIC_POLL_HEADER_BYTES)} of HTTP headers ` +
    `(request and response, no body), a WebSocket frame 2 bytes. 1,000 clients polling once a second move 871,000 B/s (≈ 6.6 Mbit/s) of headers; ` +
    `on WebSocket, one message a second each, 2,000 B/s (≈ 0.015 Mbit/s).</p>`;
  const poll = input.poll;
  if (poll === null) return intro + '<p>Measured here: waiting for the first short poll.</p>';
  const headers = poll.requestBytes + poll.responseHeadBytes;
  const total = headers + poll.bodyBytes;
  const added = poll.requestHeaders.filter(([name]) => !CLASSIC_REQUEST_HEADERS.has(name));
  const addedBytes = added.reduce((sum, [, n]) => sum + n, 0);
  const largest = [...poll.requestHeaders].sort((a, b) => b[1] - a[1]).slice(0, 3);
  const list = (items: Array<[string, number]>) => items.map(([name, n]) => `<code>${escapeHtml(name)}</code> ${bytes(n)}`).join(', ');
  const why =
    `The 2010 figure counts headers only, those of Firefox 3.5 and a Java server: a long user agent, <code>Accept-Charset</code>, ` +
    `a session cookie, <code>Server</code> and <code>X-Powered-By</code> banners. ` +
    (added.length > 0
      ? `This browser sends ${added.length} header${added.length === 1 ? '' : 's'} that example did not have (${list(added)}: ${bytes(addedBytes)}), `
      : 'This browser sends no header that example did not have, ') +
    `no cookie reaches this server, and it sends no banner. The largest request headers here: ${list(largest)}.`;
  const average =
    input.averagePollBytes === null
      ? ''
      : ` Over the window a short poll averages ${bytes(input.averagePollBytes)}` +
        (input.emptyShare === null ? '' : `, and ${Math.round(input.emptyShare * 100)} % of them came back empty`) +
        ': the headers are paid on every poll, useful or not.';
  const ws =
    input.webSocketOverhead === null
      ? ''
      : ` A WebSocket message costs ${bytes(input.webSocketOverhead)} beyond its payload here (its 2–4 B frame header, and the upgrade ` +
        'request spread over the window\'s messages), paid only when there is a message.';
  const h2 =
    input.http2HeaderBytes === undefined
      ? ''
      : `<p>This server speaks <strong>HTTP/2</strong>: the poll above is counted as HTTP/1.1 would write its fields. On the wire they went ` +
        `HPACK-coded (RFC 7541), a field already sent on the connection as a one- or two-byte index: ` +
        (input.http2HeaderBytes === null
          ? 'the next short polls will show how many bytes that leaves.'
          : `<strong>${bytes(input.http2HeaderBytes)} of headers per short poll</strong>, request and response, ${comparison(input.http2HeaderBytes, CLASSIC_POLL_HEADER_BYTES)} the estimate.`) +
        '</p>';
  return (
    intro +
    h2 +
    `<p>Measured here, on the last short poll: its headers are <strong>${bytes(headers)}</strong> ` +
    `(request line and headers ${bytes(poll.requestBytes)}, response status line and headers ${bytes(poll.responseHeadBytes)}), ` +
    `<strong>${comparison(headers, CLASSIC_POLL_HEADER_BYTES)} the ${bytes(CLASSIC_POLL_HEADER_BYTES)} estimate</strong>; ` +
    `with its body (${bytes(poll.bodyBytes)}) the poll moved ${bytes(total)}.${average}${ws}</p>` +
    `<p class="note">${why}</p>`
  );
}

import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import type { FetchLike, RequestLike, ResponseLike } from '../browser/io.js';

/**
 * The fetch that `hotline connect --transport` gives the Hotline client. It does two
 * things the client does not need in a browser:
 *
 * - it counts the polls, so that the pipe rule can wait for one full receive cycle (a
 *   poll begun after the last acknowledgement, answered and read);
 * - it says why a request failed: Node's fetch rejects with "fetch failed" and hides the
 *   socket error (ECONNREFUSED, ENOTFOUND, a certificate error) in `cause`.
 *
 * With TLS options (`--ca`, `--no-check`) the requests go through node:https, whose agent
 * takes them: Node's global fetch has no `ca` option.
 */
export class TransportFetch {
  /** Polls begun (GETs of polling transports, the handshake included). */
  pollsStarted = 0;
  /** The highest number, in the order they began, of a poll whose answer has been read. */
  pollsCompletedUpTo = 0;
  private readonly base: FetchLike;

  constructor(tls?: https.AgentOptions) {
    this.base = tls === undefined ? globalFetch : agentFetch(tls);
  }

  readonly fetch: FetchLike = async (url, init) => {
    // SSE's GET is a stream, not a cycle; POSTs carry messages up.
    const poll = init.method === 'GET' && new URL(url).searchParams.get('transport') !== 'sse';
    const index = poll ? ++this.pollsStarted : 0;
    let response: ResponseLike;
    try {
      response = await this.base(url, init);
      if (!poll) return response;
      // Read here, so that "answered" means "its messages are in hand".
      const body = await response.arrayBuffer();
      this.pollsCompletedUpTo = Math.max(this.pollsCompletedUpTo, index);
      return new Response(body, { status: response.status });
    } catch (error) {
      throw explained(error);
    }
  };
}

function globalFetch(url: string, init: RequestLike): Promise<ResponseLike> {
  return fetch(url, init as RequestInit);
}

/** Statuses whose response has no body (Fetch: "null body status"). */
const NULL_BODY = new Set([101, 204, 205, 304]);

/** A fetch over node:http(s) with an agent: enough of fetch for the transports. */
export function agentFetch(tls: https.AgentOptions): FetchLike {
  const agent = new https.Agent({ ...tls, keepAlive: true });
  return (url, init) =>
    new Promise<ResponseLike>((resolve, reject) => {
      const target = new URL(url);
      const secure = target.protocol === 'https:';
      const request = (secure ? https : http).request(
        target,
        { method: init.method, headers: init.headers, ...(secure ? { agent } : {}), ...(init.signal ? { signal: init.signal } : {}) },
        (response) => {
          const status = response.statusCode ?? 0;
          if (NULL_BODY.has(status)) response.resume();
          const body = NULL_BODY.has(status) ? null : (Readable.toWeb(response) as ReadableStream<Uint8Array>);
          resolve(new Response(body, { status }));
        },
      );
      request.on('error', reject);
      request.end(init.body);
    });
}

/**
 * The socket error behind a failed request, as its own message ("connect ECONNREFUSED
 * 127.0.0.1:9001"), keeping `code`. Aborts (a timeout, a close) pass unchanged.
 */
export function explained(error: unknown): unknown {
  if (!(error instanceof Error) || error.name === 'AbortError') return error;
  const cause = (error as { cause?: unknown }).cause;
  const source = cause instanceof Error ? cause : error;
  let message = source.message;
  // Happy eyeballs (localhost: ::1 and 127.0.0.1) fails with every address's error.
  if (source instanceof AggregateError && source.errors.length > 0) {
    message = [...new Set(source.errors.map((e: Error) => e.message))].join('; ');
  }
  const code = (source as { code?: unknown }).code;
  if (source === error && typeof code !== 'string') return error;
  const explainedError = new Error(message || String(code), { cause: error });
  if (typeof code === 'string') (explainedError as { code?: string }).code = code;
  return explainedError;
}

import http, { type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import https from 'node:https';
import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import type { NodeDirectory } from '../pubsub/engine.js';
import type { UpgradeHead } from '../server/transport-contract.js';
import { sessionOwner } from './session-owner.js';

/**
 * Routing without sticky sessions: a request of an HTTP session this node does not hold
 * goes to the node that does. The session id names its owner (`session-owner.ts`), the
 * engine's `NodeDirectory` gives the owner's URL, and the request is proxied there:
 *
 * - a plain request (poll, long poll, SSE stream, upstream POST): method, target and
 *   end-to-end headers forwarded, both bodies streamed as they come — a held poll or an
 *   SSE stream passes every chunk at once — and either side going away tears down the
 *   other, so the owner sees its client leave;
 * - the WebSocket upgrade of a session: a TCP (or TLS) connection to the owner, the
 *   request head written again, then bytes piped both ways untouched: the owner runs the
 *   WebSocket itself, this node only relays.
 *
 * A forwarded request carries `hotline-forwarded: 1` and is never forwarded again: if the
 * owner does not have the session either (a stale directory, two nodes sharing an
 * instance id), it answers "unknown session" instead of bouncing the request around.
 */

/** Marks a forwarded request; its value is the number of hops made (one, the only one allowed). */
export const FORWARDED_HEADER = 'hotline-forwarded';

/**
 * A node on the same network connects within milliseconds; one that has not within this
 * is taken as unreachable, so that the client's retry comes soon, not after its own timeout.
 */
export const DEFAULT_CONNECT_TIMEOUT = 3_000;

/**
 * How long a node's advertised URL is reused without asking the directory again. Behind a
 * balancer without affinity most requests of a session land on another node, each a
 * lookup (a Redis round trip) without this; with it, about one per owner and period. A
 * URL kept too long cannot misroute: an instance id names one process, so a stale entry
 * points at a process that is gone — refused, and answered "unknown session", the
 * answer the directory would have given — or at another that answers the forwarded
 * request as an unknown session itself.
 */
export const DIRECTORY_CACHE_TTL = 2_000;
/** Owners remembered at most; a cluster has a handful of nodes, a stream of dead ones is bounded. */
const DIRECTORY_CACHE_SIZE = 256;

/**
 * Hop-by-hop fields (RFC 9110 §7.6.1): meaningful for one connection only, so never
 * forwarded — with any field that `Connection` names. `Proxy-Connection` and `Keep-Alive`
 * are the obsolete ones the RFC says to remove too.
 */
const HOP_BY_HOP: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/** The end-to-end fields of `headers` (lowercase names, as Node gives them). */
export function endToEndHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const named = new Set<string>();
  const connection = headers.connection;
  if (connection !== undefined) {
    for (const token of String(connection).split(',')) named.add(token.trim().toLowerCase());
  }
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    // HTTP/2's pseudo-header fields (RFC 9113 §8.3) are the request line's parts, not fields:
    // the request goes on over HTTP/1.1, its authority as Host (RFC 9113 §8.3.1).
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name) || name === FORWARDED_HEADER || name.startsWith(':')) continue;
    out[name] = value;
  }
  if (out.host === undefined && typeof headers[':authority'] === 'string') out.host = headers[':authority'];
  return out;
}

/** Whether `headers` come from another node (forwarded once already). */
export function wasForwarded(headers: IncomingHttpHeaders): boolean {
  return headers[FORWARDED_HEADER] !== undefined;
}

/** How the router answers what it cannot forward, in the transports' own words. */
export interface ForwardAnswers {
  /** A plain request: a JSON error answer (`{ code, message }`). */
  respond(response: ServerResponse, status: number, code: string, message: string): void;
  /** An upgrade: a refusal written on the socket, which then ends. */
  refuse(socket: Socket, status: number, message: string): void;
}

export interface SessionRouterOptions {
  /** ms to connect to the owner before it counts as unreachable. Default 3 s. */
  connectTimeout?: number;
  /** ms a looked-up owner URL is reused (`DIRECTORY_CACHE_TTL`); 0: a lookup per request. */
  directoryCacheTtl?: number;
}

/**
 * The routing of one node's foreign session requests. Owner found and reached: proxied.
 * Owner not in the directory (it died, or the id was never a session): the answer of an
 * unknown session, so the client opens a new one at once and recovers by position. Owner
 * listed but refusing connections: its process is gone (sessions live in the memory of
 * the process that made them, and a node listens until its last session ends, drains
 * included), so the session is too — answered as unknown at once, rather than after the
 * directory entry expires. Owner listed but not answering (reset, no connect within
 * `connectTimeout`), or the directory failing: 502 `HL_ERR_NODE_UNREACHABLE`, which the
 * client retries with backoff while the session may live — a brief partition costs a
 * delay, not the session; a node that stays away leaves the directory, and the retries
 * then get "unknown session" (or run out), and the client reconnects.
 */
export class SessionRouter {
  private readonly connectTimeout: number;
  /** Keep-alive connections to the other nodes, made on first use. */
  private httpAgent: http.Agent | null = null;
  private httpsAgent: https.Agent | null = null;
  /** What is being forwarded now, to end at shutdown. */
  private readonly live = new Set<{ destroy(): void }>();
  private closed = false;
  private readonly cacheTtl: number;
  /** Owners found, with when; and lookups in flight, shared by the requests that wait on them. */
  private readonly found = new Map<string, { url: URL; at: number }>();
  private readonly looking = new Map<string, Promise<URL | undefined>>();

  constructor(
    private readonly instanceId: string,
    private readonly nodes: NodeDirectory,
    private readonly answers: ForwardAnswers,
    options: SessionRouterOptions = {},
  ) {
    this.connectTimeout = options.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT;
    this.cacheTtl = options.directoryCacheTtl ?? DIRECTORY_CACHE_TTL;
  }

  /**
   * The node to ask for a session this node does not have: its owner, when that is
   * another node and the request was not forwarded already; else undefined (the request
   * is answered here, as an unknown session).
   */
  ownerElsewhere(sid: string, headers: IncomingHttpHeaders): string | undefined {
    if (this.closed || wasForwarded(headers)) return undefined;
    const owner = sessionOwner(sid);
    return owner === undefined || owner === this.instanceId ? undefined : owner;
  }

  /** Proxies `request` to the node `owner`, answering it in every case. */
  forwardRequest(request: IncomingMessage, response: ServerResponse, owner: string): void {
    this.locate(owner).then(
      (base) => {
        if (base === undefined) this.answers.respond(response, 400, 'HL_ERR_UNKNOWN_SESSION', 'unknown session id');
        else if (!response.destroyed) this.proxy(request, response, base);
      },
      () => this.answers.respond(response, 502, 'HL_ERR_NODE_UNREACHABLE', "the session's node cannot be looked up"),
    );
  }

  /** Tunnels the WebSocket upgrade `head` (and the bytes after it) to the node `owner`. */
  forwardUpgrade(head: UpgradeHead, socket: Socket, rest: Buffer, owner: string): void {
    socket.on('error', destroyOnError);
    this.locate(owner).then(
      (base) => {
        if (base === undefined) this.answers.refuse(socket, 400, 'unknown session id');
        else if (!socket.destroyed) this.tunnel(head, socket, rest, base);
      },
      () => this.answers.refuse(socket, 502, "the session's node cannot be looked up"),
    );
  }

  /** Ends every forwarded request and tunnel, and the idle connections to other nodes. */
  close(): void {
    this.closed = true;
    for (const forwarded of [...this.live]) forwarded.destroy();
    this.httpAgent?.destroy();
    this.httpsAgent?.destroy();
  }

  /**
   * The owner's URL: remembered for `cacheTtl`, else one lookup however many requests ask
   * at once (a storm of reconnecting clients costs the directory one read per owner).
   * Only owners found are remembered: one not found yet may be a node still starting.
   */
  private locate(owner: string): Promise<URL | undefined> {
    const known = this.found.get(owner);
    if (known !== undefined && Date.now() - known.at < this.cacheTtl) return Promise.resolve(known.url);
    let lookup = this.looking.get(owner);
    if (lookup === undefined) {
      lookup = this.lookup(owner).finally(() => this.looking.delete(owner));
      this.looking.set(owner, lookup);
    }
    return lookup;
  }

  private async lookup(owner: string): Promise<URL | undefined> {
    const advertised = await this.nodes.lookup(owner);
    if (advertised === undefined) {
      this.found.delete(owner);
      return undefined;
    }
    const url = new URL(advertised);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`node ${owner} advertised ${advertised}`);
    if (this.cacheTtl > 0) {
      this.found.delete(owner);
      if (this.found.size >= DIRECTORY_CACHE_SIZE) this.found.delete(this.found.keys().next().value!);
      this.found.set(owner, { url, at: Date.now() });
    }
    return url;
  }

  /** The owner refused a connection: its process is gone; ask the directory next time. */
  private forget(base: URL): void {
    for (const [owner, known] of this.found) if (known.url.href === base.href) this.found.delete(owner);
  }

  private proxy(request: IncomingMessage, response: ServerResponse, base: URL, retried = false): void {
    const secure = base.protocol === 'https:';
    const headers = endToEndHeaders(request.headers);
    headers[FORWARDED_HEADER] = '1';
    headers.forwarded = withForwarded(request.headers.forwarded, request.socket);
    const upstream = (secure ? https : http).request({
      protocol: base.protocol,
      hostname: base.hostname.replace(/^\[|\]$/g, ''),
      port: base.port === '' ? (secure ? 443 : 80) : Number(base.port),
      method: request.method,
      path: request.url,
      headers,
      agent: secure ? (this.httpsAgent ??= new https.Agent({ keepAlive: true })) : (this.httpAgent ??= new http.Agent({ keepAlive: true })),
    });
    const entry = { destroy: () => end() };
    this.live.add(entry);
    let connected = false;
    let over = false;
    const timer = setTimeout(() => {
      if (!connected) upstream.destroy(new Error('connect timeout'));
    }, this.connectTimeout);
    const end = (): void => {
      if (over) return;
      over = true;
      clearTimeout(timer);
      this.live.delete(entry);
      upstream.destroy();
      if (!response.writableFinished) response.destroy();
    };
    upstream.on('socket', (socket: Socket) => {
      socket.setNoDelay(true);
      if (!socket.connecting) connected = true;
      else socket.once('connect', () => (connected = true));
    });
    upstream.on('error', (error) => {
      if (over) return;
      if (!response.headersSent) {
        over = true;
        clearTimeout(timer);
        this.live.delete(entry);
        // A kept-alive connection the owner closed as it was reused: a GET has no body
        // consumed yet, and goes again once on a fresh connection.
        if (upstream.reusedSocket && !retried && request.method === 'GET' && !response.destroyed) {
          this.proxy(request, response, base, true);
          return;
        }
        if (refused(error)) {
          this.forget(base);
          this.answers.respond(response, 400, 'HL_ERR_UNKNOWN_SESSION', 'unknown session id');
        } else this.answers.respond(response, 502, 'HL_ERR_NODE_UNREACHABLE', "the session's node cannot be reached");
        return;
      }
      end();
    });
    upstream.on('response', (answer: IncomingMessage) => {
      connected = true;
      clearTimeout(timer);
      // The owner's answer replaces whatever this node had set (CORS, Cache-Control): it has its own.
      for (const name of response.getHeaderNames()) response.removeHeader(name);
      response.writeHead(answer.statusCode ?? 502, answer.statusMessage, endToEndHeaders(answer.headers));
      // A held poll or an SSE stream may send nothing for a while: the head goes now.
      response.flushHeaders();
      answer.pipe(response);
      answer.on('aborted', end);
      answer.on('error', end);
      answer.on('end', () => {
        over = true;
        this.live.delete(entry);
      });
    });
    // The client going away (an aborted long poll, a closed EventSource) ends the request upstream.
    response.on('close', () => {
      if (!response.writableFinished) end();
    });
    request.on('error', end);
    request.pipe(upstream);
  }

  private tunnel(head: UpgradeHead, socket: Socket, rest: Buffer, base: URL): void {
    const secure = base.protocol === 'https:';
    const host = base.hostname.replace(/^\[|\]$/g, '');
    const port = base.port === '' ? (secure ? 443 : 80) : Number(base.port);
    const upstream = secure ? tls.connect({ host, port, servername: net.isIP(host) === 0 ? host : undefined }) : net.connect({ host, port });
    let open = false;
    const entry = {
      destroy: () => {
        upstream.destroy();
        socket.destroy();
      },
    };
    this.live.add(entry);
    const timer = setTimeout(() => upstream.destroy(new Error('connect timeout')), this.connectTimeout);
    upstream.once(secure ? 'secureConnect' : 'connect', () => {
      open = true;
      clearTimeout(timer);
      upstream.setNoDelay(true);
      socket.setNoDelay(true);
      upstream.write(requestHead(head, withForwarded(head.headers.forwarded, socket)));
      if (rest.length > 0) upstream.write(rest);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on('error', (error) => {
      clearTimeout(timer);
      if (!open) {
        this.live.delete(entry);
        if (refused(error)) {
          this.forget(base);
          this.answers.refuse(socket, 400, 'unknown session id');
        } else this.answers.refuse(socket, 502, "the session's node cannot be reached");
      } else socket.destroy();
    });
    upstream.on('close', () => {
      this.live.delete(entry);
      if (open) socket.destroy();
    });
    socket.on('close', () => {
      clearTimeout(timer);
      this.live.delete(entry);
      upstream.destroy();
    });
  }
}

/** The request head again, as the owner must read it, marked forwarded. */
function requestHead(head: UpgradeHead, forwarded: string): string {
  let text = `${head.method ?? 'GET'} ${head.url ?? '/'} HTTP/1.1\r\n`;
  for (const [name, value] of Object.entries(head.headers)) {
    if (value === undefined || name === FORWARDED_HEADER || name === 'forwarded') continue;
    for (const one of Array.isArray(value) ? value : [value]) text += `${name}: ${one}\r\n`;
  }
  return text + `forwarded: ${forwarded}\r\n${FORWARDED_HEADER}: 1\r\n\r\n`;
}

/**
 * `Forwarded` (RFC 7239) with this hop appended (§4: a proxy adds its element after those
 * already there), so that the owner's application can still see who connected to this
 * node and over what: `for` the peer's address (§6: an IPv6 one quoted, in brackets),
 * `proto` the scheme it used. The other nodes are trusted; a client's own `Forwarded` is
 * passed on as it came, and is only as trustworthy as the first proxy makes it.
 */
export function withForwarded(existing: string | string[] | undefined, socket: Socket): string {
  const address = socket.remoteAddress;
  const node = address === undefined ? 'unknown' : net.isIPv6(address) ? `"[${address}]"` : address;
  const element = `for=${node};proto=${(socket as Socket & { encrypted?: boolean }).encrypted === true ? 'https' : 'http'}`;
  const before = Array.isArray(existing) ? existing.join(', ') : existing;
  return before === undefined || before.trim() === '' ? element : `${before}, ${element}`;
}

/** The owner's address answered, and nothing listens there: its process, and its sessions, are gone. */
function refused(error: Error): boolean {
  return (error as NodeJS.ErrnoException).code === 'ECONNREFUSED';
}

function destroyOnError(this: Socket): void {
  this.destroy();
}

/**
 * Authentication in the `upgrade` hook. `POST /login` checks a user's password and
 * hands out a session token (as an HttpOnly cookie, and in the body for clients that are
 * not browsers). The `/live` route accepts a connection only with a valid token — from
 * the cookie, an `Authorization: Bearer` header, or a `?token=` query parameter, in that
 * order — and refuses the others with 401 before any peer exists. Who the user is rides
 * on the peer (`peer.data`) into every later hook, on every transport.
 *
 * `POST /logout` revokes the token and closes its live connections (4001); a token that
 * expires closes them too (4002).
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { promisify } from 'node:util';
import { Server, UpgradeRejection, enableHttpTransports, type Peer, type UpgradeRequest } from 'hotline';

const scryptAsync = promisify(scrypt) as (password: string, salt: Buffer, length: number) => Promise<Buffer>;

export type Role = 'admin' | 'member';

/** What a peer carries, set once by the upgrade hook. */
export interface User {
  readonly name: string;
  readonly role: Role;
  /** The login this connection belongs to, so that logging out can close it. */
  readonly token: string;
}

/** A login: who, until when, and its live connections. */
interface Login {
  readonly name: string;
  readonly role: Role;
  readonly expires: number;
  readonly peers: Set<Peer<User>>;
  readonly timer: NodeJS.Timeout;
}

/** Application close codes (RFC 6455 §7.4.2: 4000-4999 are the application's own). */
export const LOGGED_OUT = 4001;
export const EXPIRED = 4002;
export const COOKIE = 'hotline_session';

export interface AuthOptions {
  /** The demo's accounts: name -> password and role. Store hashes, never passwords, in a real app. */
  users?: Record<string, { password: string; role: Role }>;
  /** How long a login lasts, in ms (1 hour). */
  ttl?: number;
}

export const DEMO_USERS: Record<string, { password: string; role: Role }> = {
  alice: { password: 'wonderland', role: 'admin' },
  bob: { password: 'builder', role: 'member' },
};

export interface AuthServer {
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  close(): Promise<void>;
}

export async function start(port = 0, host = '127.0.0.1', options: AuthOptions = {}): Promise<AuthServer> {
  const ttl = options.ttl ?? 3_600_000;
  if (!Number.isInteger(ttl) || ttl <= 0) throw new TypeError('ttl must be a positive integer of milliseconds');
  const accounts = await hashAccounts(options.users ?? DEMO_USERS);
  const logins = new Map<string, Login>();
  const server = new Server();

  function endLogin(token: string, code: number, reason: string): boolean {
    const login = logins.get(token);
    if (login === undefined) return false;
    logins.delete(token);
    clearTimeout(login.timer);
    for (const peer of login.peers) peer.close(code, reason);
    return true;
  }

  server.route<User>('/live', {
    upgrade(request) {
      const { token, fromCookie } = credentials(request);
      if (token === null) throw new UpgradeRejection(401, 'log in first', { 'WWW-Authenticate': 'Bearer realm="hotline"' });
      const login = logins.get(token);
      if (login === undefined || login.expires <= Date.now()) {
        throw new UpgradeRejection(401, 'invalid or expired token', { 'WWW-Authenticate': 'Bearer realm="hotline", error="invalid_token"' });
      }
      // A cookie is sent by the browser whichever page opens the connection (cross-site
      // WebSocket hijacking): with a cookie, only pages from this origin get in.
      if (fromCookie && !sameOrigin(request)) throw new UpgradeRejection(403, 'origin not allowed');
      return { data: { name: login.name, role: login.role, token } };
    },
    open(peer) {
      const login = logins.get(peer.data.token);
      // Logged out while the handshake was finishing.
      if (login === undefined) return peer.close(LOGGED_OUT, 'logged out');
      login.peers.add(peer);
      peer.subscribe('everyone');
      peer.send(JSON.stringify({ type: 'welcome', name: peer.data.name, role: peer.data.role }));
    },
    message(peer, data, isBinary) {
      if (isBinary) return peer.close(1003, 'text only');
      const text = data.toString();
      const { name, role } = peer.data;
      if (text === 'whoami') return peer.send(JSON.stringify({ type: 'whoami', name, role }));
      // Authorisation per message, from what the upgrade hook attached.
      if (text.startsWith('/announce ')) {
        if (role !== 'admin') return peer.send(JSON.stringify({ type: 'error', error: 'admins only' }));
        server.publish('everyone', JSON.stringify({ type: 'announcement', from: name, text: text.slice(10) }));
        return;
      }
      peer.publish('everyone', JSON.stringify({ type: 'said', from: name, text }));
    },
    close(peer) {
      logins.get(peer.data.token)?.peers.delete(peer);
    },
  });
  enableHttpTransports(server);

  async function login(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const body = await readJson(request, response);
    if (body === undefined) return;
    const { user, password } = body as { user?: unknown; password?: unknown };
    if (typeof user !== 'string' || typeof password !== 'string') {
      return answer(response, 400, { error: 'body: {"user": string, "password": string}' });
    }
    const account = accounts.get(user);
    // The same work whether the user exists or not, so that timing tells nothing.
    const hash = await scryptAsync(password, account?.salt ?? NO_SALT, 32);
    if (account === undefined || !timingSafeEqual(hash, account.hash)) {
      return answer(response, 401, { error: 'wrong user or password' });
    }
    // RFC 6750 bearer token: 144 random bits, base64url.
    const token = randomBytes(18).toString('base64url');
    const expires = Date.now() + ttl;
    const timer = setTimeout(() => endLogin(token, EXPIRED, 'session expired'), ttl).unref();
    logins.set(token, { name: user, role: account.role, expires, peers: new Set(), timer });
    const cookie = `${COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${Math.floor(ttl / 1000)}`;
    answer(response, 200, { token, expires }, { 'Set-Cookie': cookie });
  }

  function logout(request: IncomingMessage, response: ServerResponse): void {
    const { token } = credentials({ headers: request.headers, query: new URL(request.url ?? '/', 'http://localhost').searchParams });
    if (token === null || !endLogin(token, LOGGED_OUT, 'logged out')) return answer(response, 401, { error: 'not logged in' });
    response.writeHead(204, { 'Set-Cookie': `${COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0` }).end();
  }

  const address = await server.listen(port, host, (request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    const handler = path === '/login' ? login : path === '/logout' ? logout : null;
    if (handler === null) return answer(response, 404, { error: 'not found' });
    if (request.method !== 'POST') return answer(response, 405, { error: 'POST only' }, { Allow: 'POST' });
    // A fault of ours answers 500 without its details, whether it throws or rejects.
    Promise.resolve()
      .then(() => handler(request, response))
      .catch(() => answer(response, 500, { error: 'internal error' }));
  });
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`,
    port: address.port,
    server,
    async close() {
      for (const login of logins.values()) clearTimeout(login.timer);
      logins.clear();
      await server.close({ timeout: 1000 });
    },
  };
}

/** The token a request carries: the cookie, then `Authorization: Bearer`, then `?token=`. */
export function credentials(request: Pick<UpgradeRequest, 'headers' | 'query'>): { token: string | null; fromCookie: boolean } {
  const fromCookie = cookie(request.headers.cookie, COOKIE);
  if (fromCookie !== null) return { token: fromCookie, fromCookie: true };
  const bearer = /^Bearer ([\w-]+)$/i.exec(request.headers.authorization ?? '');
  if (bearer !== null) return { token: bearer[1]!, fromCookie: false };
  return { token: request.query.get('token'), fromCookie: false };
}

/** One cookie's value from a `Cookie` header (RFC 6265 §5.4: `name=value` pairs joined by "; "). */
function cookie(header: string | undefined, name: string): string | null {
  if (header === undefined) return null;
  for (const pair of header.split(';')) {
    const at = pair.indexOf('=');
    if (at > 0 && pair.slice(0, at).trim() === name) return pair.slice(at + 1).trim();
  }
  return null;
}

function sameOrigin(request: UpgradeRequest): boolean {
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === request.headers.host;
  } catch {
    return false;
  }
}

const NO_SALT = randomBytes(16);

async function hashAccounts(users: Record<string, { password: string; role: Role }>) {
  const accounts = new Map<string, { salt: Buffer; hash: Buffer; role: Role }>();
  for (const [name, { password, role }] of Object.entries(users)) {
    const salt = randomBytes(16);
    accounts.set(name, { salt, hash: await scryptAsync(password, salt, 32), role });
  }
  return accounts;
}

const MAX_BODY = 4096;

/** A small JSON body, or undefined once an error has been answered. */
async function readJson(request: IncomingMessage, response: ServerResponse): Promise<unknown> {
  if (!/^application\/json\b/.test(request.headers['content-type'] ?? '')) {
    answer(response, 415, { error: 'Content-Type: application/json' });
    return undefined;
  }
  const body = await new Promise<Buffer | null>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY) return void chunks.push(chunk);
      // Stop buffering but keep reading, so that the answer reaches the client.
      request.removeAllListeners('data');
      request.resume();
      resolve(null);
    });
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
  if (body === null) {
    answer(response, 413, { error: `body over ${MAX_BODY} bytes` }, { Connection: 'close' });
    return undefined;
  }
  try {
    return JSON.parse(body.toString());
  } catch {
    answer(response, 400, { error: 'body is not JSON' });
    return undefined;
  }
}

function answer(response: ServerResponse, status: number, body: object, headers: Record<string, string> = {}): void {
  if (response.headersSent) return;
  response.writeHead(status, { 'Content-Type': 'application/json', ...headers }).end(JSON.stringify(body));
}

import { HotlineError, invalidArgument } from '../errors.js';
import type { Handler, RouteParams } from '../types.js';
import type { Route } from './transport-contract.js';

/**
 * The routes of a server, by path pattern:
 *
 * - a literal path (`/chat`) matches that pathname exactly;
 * - a segment `:name` matches one non-empty segment, percent-decoded, as `params.name`;
 * - a last segment `*` matches the rest of the path, zero or more segments, percent-decoded,
 *   as `params['*']` (`/static/*`: `/static` gives '', `/static/a/b.css` gives 'a/b.css');
 * - the path `*` alone is the catch-all route, for every path nothing else matches.
 *
 * Precedence does not depend on the order of registration: a literal route wins (one Map
 * lookup, so that patterns cost the literal routes' handshakes nothing); then patterns,
 * compared segment by segment, where the first segment that differs decides: a literal
 * before a `:param` before a `*` (and a path that ends before a `*`); the catch-all last.
 */
export class RouteTable {
  /** Literal routes, each with its match (no params), made once: no allocation per lookup. */
  private readonly literal = new Map<string, RouteMatch>();
  /** Pattern routes, most specific first. */
  private readonly patterns: Pattern[] = [];
  private fallback: RouteMatch | null = null;

  /**
   * Adds a route. A path already served (or a pattern of the same shape: `/rooms/:id`
   * and `/rooms/:name`) throws `HL_ERR_ROUTE_EXISTS`; a malformed pattern throws
   * `HL_ERR_INVALID_ARGUMENT`.
   */
  add<D>(path: string, handler: Handler<D>): Route<D> {
    if (typeof path !== 'string') throw invalidArgument(`a route path must be a string (got ${typeof path})`);
    const route: Route<D> = { path, handler };
    if (path === '*') {
      if (this.fallback !== null) throw routeExists(path, '*');
      this.fallback = { route, params: NO_PARAMS };
      return route;
    }
    const segments = compile(path);
    if (segments === null) {
      if (this.literal.has(path)) throw routeExists(path, path);
      this.literal.set(path, { route, params: NO_PARAMS });
      return route;
    }
    const shape = shapeOf(segments);
    const twin = this.patterns.find((pattern) => pattern.shape === shape);
    if (twin !== undefined) throw routeExists(path, twin.route.path);
    const pattern: Pattern = { route, segments, shape };
    // Sorted on insertion: routes are few and added at start-up, lookups are per request.
    let at = 0;
    while (at < this.patterns.length && comparePatterns(this.patterns[at]!.segments, segments) <= 0) at++;
    this.patterns.splice(at, 0, pattern);
    return route;
  }

  /** The route serving `pathname` (the path of an origin-form target, still encoded), and its params. */
  match(pathname: string): RouteMatch | null {
    const exact = this.literal.get(pathname);
    if (exact !== undefined) return exact;
    if (this.patterns.length > 0) {
      const parts = pathname.split('/');
      for (const pattern of this.patterns) {
        const params = matchPattern(pattern.segments, parts);
        if (params !== null) return { route: pattern.route, params };
      }
    }
    return this.fallback;
  }

  /** The route registered with exactly this path, if any. */
  get(path: string): Route | null {
    if (path === '*') return this.fallback?.route ?? null;
    return this.literal.get(path)?.route ?? this.patterns.find((pattern) => pattern.route.path === path)?.route ?? null;
  }

  /** The catch-all route (`*`), if any. */
  get catchAll(): Route | null {
    return this.fallback?.route ?? null;
  }
}

/** A route found for a request, with the values of its pattern's parameters. */
export interface RouteMatch {
  readonly route: Route<any>;
  readonly params: RouteParams;
}

/** The params of every literal route: one frozen object, shared. */
export const NO_PARAMS: RouteParams = Object.freeze(Object.create(null) as Record<string, string>);

const LITERAL = 0;
const PARAM = 1;
const REST = 2;

/** A segment of a pattern: a literal (compared encoded), a `:name`, or the `*` at the end. */
interface Segment {
  readonly kind: typeof LITERAL | typeof PARAM | typeof REST;
  /** The literal text, or the parameter's name ('*' for the rest). */
  readonly text: string;
}

interface Pattern {
  readonly route: Route<any>;
  readonly segments: readonly Segment[];
  /** The pattern with its parameter names erased: two routes of one shape match the same paths. */
  readonly shape: string;
}

const PARAM_NAME = /^[A-Za-z_$][\w$]*$/;

/** The segments of a pattern, or null for a literal path. Malformed patterns throw. */
function compile(path: string): Segment[] | null {
  if (!path.startsWith('/')) throw invalidArgument(`a route path starts with "/" (or is "*"): got ${JSON.stringify(path)}`);
  if (path.includes('?') || path.includes('#')) throw invalidArgument(`a route path has no query or fragment: got ${JSON.stringify(path)}`);
  const parts = path.slice(1).split('/');
  if (!parts.some((part) => part.startsWith(':') || part.includes('*'))) return null;
  const segments: Segment[] = [];
  const names = new Set<string>();
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (part === '*') {
      if (i !== parts.length - 1) throw invalidArgument(`"*" must be the last segment of a route path: ${JSON.stringify(path)}`);
      segments.push({ kind: REST, text: '*' });
    } else if (part.includes('*')) {
      throw invalidArgument(`"*" must be a whole segment, the last one, of a route path: ${JSON.stringify(path)}`);
    } else if (part.startsWith(':')) {
      const name = part.slice(1);
      if (!PARAM_NAME.test(name)) {
        throw invalidArgument(`a route parameter needs a name of letters, digits, _ or $ after ":": ${JSON.stringify(path)}`);
      }
      if (names.has(name)) throw invalidArgument(`route parameter :${name} appears twice in ${JSON.stringify(path)}`);
      names.add(name);
      segments.push({ kind: PARAM, text: name });
    } else {
      segments.push({ kind: LITERAL, text: part });
    }
  }
  return segments;
}

function shapeOf(segments: readonly Segment[]): string {
  return segments.map((segment) => (segment.kind === LITERAL ? 'l' + segment.text : segment.kind === PARAM ? ':' : '*')).join('/');
}

/** Rank at one position: a literal, then a param, then the end of the pattern, then `*`. */
function rank(segment: Segment | undefined): number {
  if (segment === undefined) return 2;
  return segment.kind === LITERAL ? 0 : segment.kind === PARAM ? 1 : 3;
}

/** < 0 when `a` takes precedence over `b`: the first segment that differs decides. */
function comparePatterns(a: readonly Segment[], b: readonly Segment[]): number {
  const length = Math.max(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const difference = rank(a[i]) - rank(b[i]);
    if (difference !== 0) return difference;
    const text = a[i]!;
    if (text.kind === LITERAL && text.text !== b[i]!.text) return text.text < b[i]!.text ? -1 : 1;
  }
  return 0;
}

/**
 * The params of `parts` (the pathname split on '/', starting with the '' before the first
 * slash) under the pattern, or null when it does not match. A parameter whose
 * percent-encoding is malformed does not match (RFC 3986 §2.1).
 */
function matchPattern(segments: readonly Segment[], parts: readonly string[]): RouteParams | null {
  let params: Record<string, string> | null = null;
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    const part = parts[i + 1];
    if (segment.kind === REST) {
      const rest = parts.slice(i + 1).join('/');
      const value = decode(rest);
      if (value === null) return null;
      (params ??= Object.create(null) as Record<string, string>)['*'] = value;
      return Object.freeze(params);
    }
    if (part === undefined) return null;
    if (segment.kind === LITERAL) {
      if (part !== segment.text) return null;
    } else {
      if (part === '') return null;
      const value = decode(part);
      if (value === null) return null;
      (params ??= Object.create(null) as Record<string, string>)[segment.text] = value;
    }
  }
  if (parts.length !== segments.length + 1) return null;
  return params === null ? NO_PARAMS : Object.freeze(params);
}

function decode(text: string): string | null {
  if (!text.includes('%')) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    return null;
  }
}

function routeExists(path: string, existing: string): HotlineError {
  const same = existing === path ? '' : ` (as ${JSON.stringify(existing)}, a pattern of the same shape)`;
  return new HotlineError('HL_ERR_ROUTE_EXISTS', `a route is already registered for ${JSON.stringify(path)}${same}`);
}

/**
 * Route patterns: what each matches, with which params, which one wins when several
 * match (whatever the order of registration), and the patterns refused.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HotlineError } from '../../src/errors.js';
import { NO_PARAMS, RouteTable } from '../../src/server/route-table.js';

function table(paths: readonly string[]): RouteTable {
  const routes = new RouteTable();
  for (const path of paths) routes.add(path, {});
  return routes;
}

function matched(routes: RouteTable, pathname: string): [string, Record<string, string>] | null {
  const match = routes.match(pathname);
  return match === null ? null : [match.route.path, { ...match.params }];
}

describe('route patterns', () => {
  // [pattern, pathname, params or null when it must not match]
  const cases: Array<[string, string, Record<string, string> | null]> = [
    ['/rooms/:id', '/rooms/42', { id: '42' }],
    ['/rooms/:id', '/rooms/caf%C3%A9', { id: 'café' }],
    ['/rooms/:id', '/rooms/a%2Fb', { id: 'a/b' }],
    ['/rooms/:id', '/rooms', null],
    ['/rooms/:id', '/rooms/', null],
    ['/rooms/:id', '/rooms/42/', null],
    ['/rooms/:id', '/rooms/42/x', null],
    ['/rooms/:id', '/rooms/%E0%A4%A', null],
    ['/rooms/:id', '/roomsx/42', null],
    ['/a/:x/b/:y', '/a/1/b/2', { x: '1', y: '2' }],
    ['/a/:x/b/:y', '/a/1/c/2', null],
    ['/static/*', '/static', { '*': '' }],
    ['/static/*', '/static/', { '*': '' }],
    ['/static/*', '/static/a/b.css', { '*': 'a/b.css' }],
    ['/static/*', '/static/a%20b', { '*': 'a b' }],
    ['/static/*', '/staticx', null],
    ['/static/*', '/other/a', null],
    ['/static/*', '/static/%zz', null],
    ['/u/:name/*', '/u/ann', { name: 'ann', '*': '' }],
    ['/u/:name/*', '/u/ann/files/x', { name: 'ann', '*': 'files/x' }],
    ['/u/:name/*', '/u', null],
    ['/*', '/', { '*': '' }],
    ['/*', '/any/thing', { '*': 'any/thing' }],
  ];
  for (const [pattern, pathname, params] of cases) {
    it(`${pattern} ${params === null ? 'does not match' : 'matches'} ${pathname}`, () => {
      assert.deepEqual(matched(table([pattern]), pathname), params === null ? null : [pattern, params]);
    });
  }

  it('gives params frozen, and every literal route the same empty object', () => {
    const routes = table(['/chat', '/news', '/rooms/:id']);
    assert.equal(routes.match('/chat')!.params, NO_PARAMS);
    assert.equal(routes.match('/news')!.params, NO_PARAMS);
    assert.ok(Object.isFrozen(NO_PARAMS));
    assert.ok(Object.isFrozen(routes.match('/rooms/1')!.params));
    assert.equal(Object.getPrototypeOf(routes.match('/rooms/1')!.params), null, 'no prototype: a param named like a builtin is just a param');
  });

  it('takes a param named __proto__ as a plain param', () => {
    const params = table(['/x/:__proto__']).match('/x/1')!.params;
    assert.equal(params['__proto__'], '1');
    assert.equal(Object.getPrototypeOf(params), null);
  });
});

describe('route precedence', () => {
  // [routes registered, pathname, the route that must win]
  const cases: Array<[string[], string, string | null]> = [
    [['/rooms/:id', '/rooms/lobby'], '/rooms/lobby', '/rooms/lobby'],
    [['/rooms/:id', '/rooms/lobby'], '/rooms/42', '/rooms/:id'],
    [['/rooms/*', '/rooms/:id'], '/rooms/42', '/rooms/:id'],
    [['/rooms/*', '/rooms/:id'], '/rooms/42/x', '/rooms/*'],
    [['/rooms/*', '/rooms/:id'], '/rooms', '/rooms/*'],
    [['/rooms/*', '/rooms'], '/rooms', '/rooms'],
    [['/rooms/*', '/rooms/:id/log'], '/rooms/1/log', '/rooms/:id/log'],
    // The first segment that differs decides: a literal there beats a param later on.
    [['/:kind/new', '/rooms/:id'], '/rooms/new', '/rooms/:id'],
    [['/:a/:b', '/:a/b'], '/x/b', '/:a/b'],
    [['/:a/*', '/:a/:b'], '/x/y', '/:a/:b'],
    // A pattern that ends where another has `*` is the more specific.
    [['/u/:name/*', '/u/:name'], '/u/ann', '/u/:name'],
    [['/*', '/a/*'], '/a/b', '/a/*'],
    [['/*', '/a/*'], '/b', '/*'],
    [['*', '/*'], '/anything', '/*'],
    [['*', '/rooms/:id'], '/rooms', '*'],
    [['/rooms/:id'], '/elsewhere', null],
  ];
  for (const [paths, pathname, winner] of cases) {
    for (const order of [paths, [...paths].reverse()]) {
      it(`${pathname} goes to ${winner ?? 'no route'} among ${order.join(', ')}`, () => {
        assert.equal(table(order).match(pathname)?.route.path ?? null, winner);
      });
    }
  }
});

describe('route registration', () => {
  const duplicates: Array<[string, string]> = [
    ['/chat', '/chat'],
    ['/rooms/:id', '/rooms/:id'],
    ['/rooms/:id', '/rooms/:name'],
    ['/u/:a/*', '/u/:b/*'],
    ['*', '*'],
  ];
  for (const [first, second] of duplicates) {
    it(`refuses ${second} after ${first} with HL_ERR_ROUTE_EXISTS, keeping the first`, () => {
      const routes = new RouteTable();
      const handler = {};
      routes.add(first, handler);
      assert.throws(() => routes.add(second, {}), (error: unknown) => {
        assert.ok(error instanceof HotlineError);
        assert.equal(error.code, 'HL_ERR_ROUTE_EXISTS');
        assert.match(error.message, new RegExp(second.replace(/[*]/g, '\\*')));
        return true;
      });
      assert.equal(routes.get(first)!.handler, handler);
    });
  }

  it('takes patterns of different shapes side by side', () => {
    const routes = table(['/rooms/:id', '/rooms/:id/*', '/rooms/*', '/:x/:y']);
    assert.equal(routes.match('/rooms/1')!.route.path, '/rooms/:id');
  });

  const malformed: Array<[string, unknown, RegExp]> = [
    ['no leading slash', 'rooms/:id', /starts with "\/"/],
    ['an empty path', '', /starts with "\/"/],
    ['* not last', '/static/*/x', /last segment/],
    ['* inside a segment', '/static/a*', /whole segment/],
    ['an empty : name', '/rooms/:', /name/],
    ['a : name with a dash', '/rooms/:room-id', /name/],
    ['a repeated : name', '/a/:id/b/:id', /:id appears twice/],
    ['a query string', '/chat?x=1', /no query/],
    ['a path that is not a string', 42, /must be a string/],
  ];
  for (const [what, path, message] of malformed) {
    it(`refuses ${what} with HL_ERR_INVALID_ARGUMENT`, () => {
      assert.throws(() => new RouteTable().add(path as string, {}), { code: 'HL_ERR_INVALID_ARGUMENT', message });
    });
  }
});

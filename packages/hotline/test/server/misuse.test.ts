/**
 * Misuse that must not pass silently: every options object is checked in one place,
 * unknown keys included (a typo would leave the default in place), and every bad value
 * throws HL_ERR_INVALID_ARGUMENT naming the option, disturbing nothing else.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveClientOptions } from '../../src/client/options.js';
import { WebSocket } from '../../src/client/websocket.js';
import { checkOptions } from '../../src/errors.js';
import { Server } from '../../src/server/server.js';
import { enableHttpTransports } from '../../src/transports/http-transports.js';
import { resolveHttpTransportOptions } from '../../src/transports/options.js';
import type { Peer } from '../../src/types.js';
import { closed, next, open, recorder, startServer, waitFor } from '../transports/helpers.js';

const INVALID = 'HL_ERR_INVALID_ARGUMENT';

describe('checkOptions', () => {
  it('names the unknown key, the object and the closest known name', () => {
    assert.throws(() => checkOptions({ idleTimout: 1 }, ['idleTimeout', 'closeTimeout'], 'the Server options'), {
      code: INVALID,
      message: /^unknown option idleTimout in the Server options \(did you mean idleTimeout\?\); known: idleTimeout, closeTimeout$/,
    });
    assert.throws(() => checkOptions({ colour: 1 }, ['idleTimeout'], 'x'), { message: /^unknown option colour in x; known: idleTimeout$/ });
  });

  it('refuses what is not a plain object', () => {
    for (const value of [null, 42, 'fast', [], () => {}]) {
      assert.throws(() => checkOptions(value, [], 'the options'), { code: INVALID, message: /the options must be an object/ }, String(value));
    }
  });
});

describe('unknown option keys', () => {
  it('Server: a typo throws at the constructor', () => {
    assert.throws(() => new Server({ idleTimout: 10_000 } as never), { code: INVALID, message: /unknown option idleTimout .*did you mean idleTimeout/ });
    assert.throws(() => new Server({ perMessageDeflate: { treshold: 10 } } as never), { code: INVALID, message: /unknown option treshold in perMessageDeflate .*threshold/ });
  });

  it('Server: a wrong kind of value names the option and the value', () => {
    assert.throws(() => new Server({ idleTimeout: '10s' as never }), { code: INVALID, message: /^idleTimeout must be .*\(got "10s"\)$/ });
  });

  it('HTTP transports: a typo, and malformed cors, transports or clientPath', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ sesionTimeout: 1 }, /unknown option sesionTimeout .*did you mean sessionTimeout/],
      [{ cors: { origin: '*' } }, /unknown option origin in cors .*did you mean origins/],
      [{ cors: { origins: 42 } }, /cors.origins must be/],
      [{ cors: { origins: ['https://a.test', 1] } }, /cors.origins must be/],
      [{ cors: { origins: '*', credentials: 'yes' } }, /cors.credentials must be a boolean/],
      [{ cors: true }, /cors \(or false\) must be an object/],
      [{ transports: 'sse' }, /transports must be a list of HTTP transports .*\(got "sse"\)/],
      [{ transports: ['smoke-signals'] }, /unknown HTTP transport "smoke-signals"/],
      [{ clientPath: 42 }, /clientPath must be a path starting with "\/", or false \(got 42\)/],
      [{ hold: '25s' }, /hold must be a positive finite number \(got "25s"\)/],
      [null, /the HTTP transport options must be an object/],
    ];
    for (const [options, message] of cases) {
      assert.throws(() => resolveHttpTransportOptions(options as never), { code: INVALID, message }, JSON.stringify(options));
    }
    const server = new Server();
    assert.throws(() => enableHttpTransports(server, { hodl: 1 } as never), { code: INVALID });
    assert.equal(server.registeredRoute('/hotline.js'), null, 'a refused call changed nothing');
  });

  it('Node WebSocket: a typo, a header that is no string, a deflate typo', () => {
    assert.throws(() => new WebSocket('ws://127.0.0.1:9/', [], { handshakeTimout: 5 } as never), { code: INVALID, message: /unknown option handshakeTimout .*handshakeTimeout/ });
    assert.throws(() => resolveClientOptions({ headers: { origin: 1 as never } }), { code: INVALID, message: /header origin must be a string/ });
    assert.throws(() => resolveClientOptions({ perMessageDeflate: { levle: 1 } as never }), { code: INVALID, message: /unknown option levle in perMessageDeflate/ });
    assert.throws(() => resolveClientOptions({ tls: 'insecure' as never }), { code: INVALID, message: /tls must be an object/ });
  });

  it('close options: a typo or a reason that is no string rejects, and the server stays up', async () => {
    const server = new Server();
    await assert.rejects(server.close({ timout: 5 } as never), { code: INVALID, message: /unknown option timout in the close options/ });
    await assert.rejects(server.close({ reason: 42 } as never), { code: INVALID, message: /reason must be a string/ });
    await assert.rejects(server.close({ timeout: Infinity }), { code: INVALID, message: /timeout must be a finite number/ });
    await server.close({ timeout: 10 });
  });
});

describe('listen', () => {
  it('refuses a port or host Node would refuse in its own words', async () => {
    for (const port of [99999, -1, 1.5, '8080', Number.NaN]) {
      await assert.rejects(new Server().listen(port as never), { code: INVALID, message: /port must be an integer from 0 to 65535/ }, String(port));
    }
    await assert.rejects(new Server().listen(0, 42 as never), { code: INVALID, message: /host must be a non-empty string/ });
    await assert.rejects(new Server().listen(0, '127.0.0.1', 'fallback' as never), { code: INVALID, message: /fallback must be a request listener/ });
  });

  it('can listen after a refused call', async () => {
    const server = new Server();
    await assert.rejects(server.listen(70000), { code: INVALID });
    const address = await server.listen(0, '127.0.0.1');
    assert.ok(address.port > 0);
    await server.close({ timeout: 10 });
  });
});

describe('send and publish arguments', { timeout: 15_000 }, () => {
  for (const transport of ['websocket', 'long-polling'] as const) {
    it(`${transport}: bad send options throw, and the peer keeps working`, async () => {
      let peer: Peer | null = null;
      const test = await startServer(() => ({ '/': { open: (p) => void (peer = p) } }));
      try {
        const client = open(test.url(), transport);
        const messages = recorder(client);
        await next(client, 'open');
        await waitFor(() => peer !== null, 'the peer');
        assert.throws(() => peer!.send('x', false, { compres: true } as never), { code: INVALID, message: /unknown option compres in the send options/ });
        assert.throws(() => peer!.send('x', false, { compress: 'yes' } as never), { code: INVALID, message: /compress must be a boolean/ });
        assert.throws(() => peer!.send('x', 'yes' as never), { code: INVALID, message: /isBinary must be a boolean/ });
        assert.notEqual(peer!.send('still here', false, { compress: false }), 'dropped');
        assert.deepEqual(await messages.until(1), ['still here']);
        client.close();
        await closed(client);
      } finally {
        await test.close();
      }
    });
  }

  it('publish: bad options throw before anything is sent', async () => {
    const test = await startServer(() => ({ '/': { open: (peer) => peer.subscribe('news') } }));
    try {
      const client = open(test.url(), 'websocket');
      const messages = recorder(client);
      await next(client, 'open');
      const { server } = test;
      assert.throws(() => server.publish('news', 'x', false, { exclude: null } as never), { code: INVALID, message: /unknown option exclude in the publish options; known: except, onDropped/ });
      assert.throws(() => server.publish('news', 'x', false, { onDropped: 'log' } as never), { code: INVALID, message: /onDropped must be a function/ });
      assert.throws(() => server.publish('news', 'x', false, { except: 'me' } as never), { code: INVALID, message: /except must be a peer/ });
      assert.throws(() => server.publish('news', 'x', 1 as never), { code: INVALID, message: /isBinary must be a boolean/ });
      assert.equal(server.publish('news', 'good', false, { onDropped: () => {} }), 1);
      assert.deepEqual(await messages.until(1), ['good'], 'only the good publish arrived');
      client.close();
      await closed(client);
    } finally {
      await test.close();
    }
  });
});

describe('topics', { timeout: 15_000 }, () => {
  for (const transport of ['websocket', 'polling'] as const) {
    it(`${transport}: a topic that is not a string throws on subscribe, unsubscribe and isSubscribed`, async () => {
      let peer: Peer | null = null;
      const test = await startServer(() => ({ '/': { open: (p) => void (peer = p) } }));
      try {
        const client = open(test.url(), transport);
        await next(client, 'open');
        await waitFor(() => peer !== null, 'the peer');
        for (const call of [() => peer!.subscribe(42 as never), () => peer!.unsubscribe(42 as never), () => peer!.isSubscribed(null as never)]) {
          assert.throws(call, { code: INVALID, message: /topic must be a string/ });
        }
        assert.deepEqual(peer!.topics, [], 'nothing was subscribed');
        assert.equal(test.server.subscriberCount('42'), 0);
        client.close();
        await closed(client);
      } finally {
        await test.close();
      }
    });
  }
});

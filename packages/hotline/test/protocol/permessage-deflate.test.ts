import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { HandshakeError } from '../../src/errors.js';
import { parseExtensions } from '../../src/protocol/extensions.js';
import {
  acceptClientResponse,
  clientOffer,
  DEFLATE_DEFAULTS,
  negotiateServer,
  resolveDeflateOptions,
  type DeflateParams,
  type PerMessageDeflateOptions,
} from '../../src/protocol/permessage-deflate.js';
import { Side } from '../../src/protocol/side.js';

const WINDOW_BITS = [8, 9, 10, 11, 12, 13, 14, 15];

function server(header: string, options?: PerMessageDeflateOptions) {
  return negotiateServer(parseExtensions(header), options);
}

function client(response: string, options?: PerMessageDeflateOptions): DeflateParams | null {
  return acceptClientResponse(parseExtensions(response), options);
}

function clientRefuses(response: string, options?: PerMessageDeflateOptions): void {
  assert.throws(
    () => client(response, options),
    (err: unknown) => err instanceof HandshakeError && err.code === 'HL_ERR_HANDSHAKE_EXTENSIONS',
    `expected the client to refuse ${JSON.stringify(response)}`,
  );
}

const params = (
  serverNoContextTakeover: boolean,
  clientNoContextTakeover: boolean,
  serverMaxWindowBits: number,
  clientMaxWindowBits: number,
): DeflateParams => ({
  serverNoContextTakeover,
  clientNoContextTakeover,
  serverMaxWindowBits,
  clientMaxWindowBits,
});

describe('server negotiation (RFC 7692 §7.1)', () => {
  it('accepts what browsers offer, announcing 12-bit windows both ways by default', () => {
    assert.deepEqual(server('permessage-deflate; client_max_window_bits'), {
      params: params(false, false, 12, 12),
      response: 'permessage-deflate; server_max_window_bits=12; client_max_window_bits=12',
    });
  });

  it('never answers client_max_window_bits when the offer lacks it (§7.1.2.2)', () => {
    assert.deepEqual(server('permessage-deflate'), {
      params: params(false, false, 12, 15),
      response: 'permessage-deflate; server_max_window_bits=12',
    });
  });

  it('with full windows configured, answers a bare offer with a bare acceptance', () => {
    assert.deepEqual(server('permessage-deflate', { serverMaxWindowBits: 15, clientMaxWindowBits: 15 }), {
      params: params(false, false, 15, 15),
      response: 'permessage-deflate',
    });
    assert.deepEqual(
      server('permessage-deflate; client_max_window_bits', { serverMaxWindowBits: 15, clientMaxWindowBits: true }),
      { params: params(false, false, 15, 15), response: 'permessage-deflate' },
    );
  });

  for (const m of WINDOW_BITS) {
    it(`answers server_max_window_bits=${m} with min(${m}, cap) for every cap`, () => {
      for (const cap of WINDOW_BITS) {
        const result = server(`permessage-deflate; server_max_window_bits=${m}`, { serverMaxWindowBits: cap });
        const agreed = Math.min(m, cap);
        assert.equal(result?.params.serverMaxWindowBits, agreed);
        assert.equal(result?.response, `permessage-deflate; server_max_window_bits=${agreed}`);
      }
    });

    it(`answers client_max_window_bits=${m} with a value no larger than ${m}`, () => {
      for (const cap of WINDOW_BITS) {
        const result = server(`permessage-deflate; client_max_window_bits=${m}`, {
          serverMaxWindowBits: 15,
          clientMaxWindowBits: cap,
        });
        const agreed = Math.min(m, cap);
        assert.equal(result?.params.clientMaxWindowBits, agreed);
        assert.equal(result?.response, `permessage-deflate; client_max_window_bits=${agreed}`);
      }
    });

    it(`answers a value-less client_max_window_bits with the cap ${m}`, () => {
      const result = server('permessage-deflate; client_max_window_bits', {
        serverMaxWindowBits: 15,
        clientMaxWindowBits: m,
      });
      assert.equal(result?.params.clientMaxWindowBits, m);
      assert.equal(result?.response, m === 15 ? 'permessage-deflate' : `permessage-deflate; client_max_window_bits=${m}`);
    });
  }

  it('accepts quoted values (RFC 6455 §9.1)', () => {
    assert.deepEqual(server('permessage-deflate; client_max_window_bits="10"; server_max_window_bits="9"'), {
      params: params(false, false, 9, 10),
      response: 'permessage-deflate; server_max_window_bits=9; client_max_window_bits=10',
    });
  });

  it('accepts server_no_context_takeover when asked, and announces it when configured', () => {
    assert.equal(
      server('permessage-deflate; server_no_context_takeover')?.response,
      'permessage-deflate; server_no_context_takeover; server_max_window_bits=12',
    );
    assert.equal(
      server('permessage-deflate', { serverNoContextTakeover: true })?.response,
      'permessage-deflate; server_no_context_takeover; server_max_window_bits=12',
    );
  });

  it('echoes client_no_context_takeover, and imposes it when configured', () => {
    assert.deepEqual(server('permessage-deflate; client_no_context_takeover')?.params, params(false, true, 12, 15));
    assert.equal(
      server('permessage-deflate; client_no_context_takeover')?.response,
      'permessage-deflate; client_no_context_takeover; server_max_window_bits=12',
    );
    assert.deepEqual(server('permessage-deflate', { clientNoContextTakeover: true })?.params, params(false, true, 12, 15));
  });

  it('accepts all four parameters together', () => {
    assert.deepEqual(
      server(
        'permessage-deflate; server_no_context_takeover; client_no_context_takeover; ' +
          'server_max_window_bits=10; client_max_window_bits=11',
      ),
      {
        params: params(true, true, 10, 11),
        response:
          'permessage-deflate; server_no_context_takeover; client_no_context_takeover; ' +
          'server_max_window_bits=10; client_max_window_bits=11',
      },
    );
  });

  describe('declines an unacceptable offer without failing the handshake (§7)', () => {
    const invalid: Array<[string, string]> = [
      ['server_max_window_bits=7 (below the range)', 'server_max_window_bits=7'],
      ['server_max_window_bits=16 (above the range)', 'server_max_window_bits=16'],
      ['client_max_window_bits=7', 'client_max_window_bits=7'],
      ['client_max_window_bits=16', 'client_max_window_bits=16'],
      ['a leading zero: 010', 'server_max_window_bits=010'],
      ['a leading zero: 08', 'client_max_window_bits=08'],
      ['a quoted leading zero', 'client_max_window_bits="010"'],
      ['a sign', 'server_max_window_bits=+9'],
      ['a fraction', 'server_max_window_bits=9.0'],
      ['a word', 'server_max_window_bits=twelve'],
      ['a value-less server_max_window_bits', 'server_max_window_bits'],
      ['a value on server_no_context_takeover', 'server_no_context_takeover=1'],
      ['a value on client_no_context_takeover', 'client_no_context_takeover="true"'],
      ['a duplicate server_no_context_takeover', 'server_no_context_takeover; server_no_context_takeover'],
      ['a duplicate client_max_window_bits', 'client_max_window_bits=10; client_max_window_bits=10'],
      ['a duplicate with and without a value', 'client_max_window_bits; client_max_window_bits=10'],
      ['an unknown parameter', 'mux_id=1'],
      ['a parameter in the wrong case', 'Server_No_Context_Takeover'],
    ];
    for (const [what, param] of invalid) {
      it(`declines ${what}, alone or before a good offer`, () => {
        assert.equal(server(`permessage-deflate; ${param}`), null);
        assert.deepEqual(server(`permessage-deflate; ${param}, permessage-deflate; client_max_window_bits=9`), {
          params: params(false, false, 12, 9),
          response: 'permessage-deflate; server_max_window_bits=12; client_max_window_bits=9',
        });
      });
    }
  });

  it('takes the first acceptable offer, in the client’s order of preference', () => {
    assert.equal(
      server(
        'permessage-deflate; server_max_window_bits=9, permessage-deflate; server_max_window_bits=10',
      )?.params.serverMaxWindowBits,
      9,
    );
  });

  it('ignores other extensions, and returns null when none is permessage-deflate', () => {
    assert.equal(server('x-webkit-deflate-frame; max_window_bits=10, foo'), null);
    assert.equal(server(''), null);
    assert.equal(
      server('x-webkit-deflate-frame, permessage-deflate; client_max_window_bits')?.response,
      'permessage-deflate; server_max_window_bits=12; client_max_window_bits=12',
    );
    // Names are tokens compared as registered.
    assert.equal(server('PerMessage-Deflate'), null);
  });

  it('honours server_max_window_bits=8 rather than declining it', () => {
    // The codec keeps zlib's matches within 256 bytes (see the codec tests).
    assert.deepEqual(server('permessage-deflate; server_max_window_bits=8')?.params, params(false, false, 8, 15));
  });

  // Every combination of offer and server options: the answer must obey RFC 7692 §7.1
  // and a client that made the same offer must read it back to the same parameters.
  it('agrees with the client side on every combination of offer and options', () => {
    const offeredServerBits = [undefined, ...WINDOW_BITS];
    const offeredClientBits: Array<number | true | undefined> = [undefined, true, ...WINDOW_BITS];
    let checked = 0;
    for (const snct of [false, true])
      for (const cnct of [false, true])
        for (const smwb of offeredServerBits)
          for (const cmwb of offeredClientBits) {
            const offerParams: string[] = [];
            if (snct) offerParams.push('server_no_context_takeover');
            if (cnct) offerParams.push('client_no_context_takeover');
            if (smwb !== undefined) offerParams.push(`server_max_window_bits=${smwb}`);
            if (cmwb === true) offerParams.push('client_max_window_bits');
            else if (cmwb !== undefined) offerParams.push(`client_max_window_bits=${cmwb}`);
            const offer = ['permessage-deflate', ...offerParams].join('; ');

            for (const optSnct of [false, true])
              for (const optCnct of [false, true])
                for (const capS of WINDOW_BITS)
                  for (const capC of WINDOW_BITS) {
                    const options = {
                      serverNoContextTakeover: optSnct,
                      clientNoContextTakeover: optCnct,
                      serverMaxWindowBits: capS,
                      clientMaxWindowBits: capC,
                    };
                    const result = server(offer, options);
                    assert.ok(result, offer);
                    const p = result.params;
                    const answer = parseExtensions(result.response);
                    assert.equal(answer.length, 1);
                    const names = answer[0]!.params.map(([name]) => name);

                    // §7.1.1.1: requested server_no_context_takeover is accepted.
                    if (snct || optSnct) assert.ok(p.serverNoContextTakeover && names.includes('server_no_context_takeover'));
                    else assert.ok(!p.serverNoContextTakeover);
                    // §7.1.2.1: same or smaller than requested, never above the cap.
                    assert.ok(p.serverMaxWindowBits <= capS);
                    if (smwb !== undefined) assert.ok(p.serverMaxWindowBits <= smwb);
                    // §7.1.2.2: not offered, not answered.
                    if (cmwb === undefined) {
                      assert.ok(!names.includes('client_max_window_bits'));
                      assert.equal(p.clientMaxWindowBits, 15);
                    } else {
                      assert.ok(p.clientMaxWindowBits <= capC);
                      if (cmwb !== true) assert.ok(p.clientMaxWindowBits <= cmwb);
                    }

                    // The same offer, made by our client: it must accept the answer and
                    // agree on every parameter. (Our client always offers the
                    // client_max_window_bits parameter.)
                    if (cmwb !== undefined) {
                      const clientOptions: PerMessageDeflateOptions = {
                        serverNoContextTakeover: snct,
                        clientNoContextTakeover: cnct,
                        clientMaxWindowBits: cmwb,
                      };
                      if (smwb !== undefined) clientOptions.serverMaxWindowBits = smwb;
                      assert.equal(clientOffer(clientOptions), offer);
                      assert.deepEqual(client(result.response, clientOptions), p, `${offer} → ${result.response}`);
                    }
                    checked++;
                  }
          }
    assert.equal(checked, 2 * 2 * 9 * 10 * 2 * 2 * 8 * 8);
  });
});

describe('client offer', () => {
  // Regression: the default offer was client_max_window_bits=12, and servers in the wild
  // answer 15 to it (RFC 7692 §7.1.2.2 forbids that), failing the connection.
  it('offers the value-less client_max_window_bits by default, as browsers and ws do', () => {
    assert.equal(clientOffer(), 'permessage-deflate; client_max_window_bits');
    assert.equal(clientOffer({ clientMaxWindowBits: true }), 'permessage-deflate; client_max_window_bits');
  });

  it('offers client_max_window_bits=N when asked for a number', () => {
    assert.equal(clientOffer({ clientMaxWindowBits: 12 }), 'permessage-deflate; client_max_window_bits=12');
  });

  it('offers every parameter its options ask for', () => {
    assert.equal(
      clientOffer({
        serverNoContextTakeover: true,
        clientNoContextTakeover: true,
        serverMaxWindowBits: 10,
        clientMaxWindowBits: 9,
      }),
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; ' +
        'server_max_window_bits=10; client_max_window_bits=9',
    );
  });
});

describe('client acceptance of the response (RFC 7692 §7.1)', () => {
  it('returns null when the server named no extension (compression declined)', () => {
    assert.equal(client(''), null);
  });

  it('accepts a bare acceptance: the server uses 15 bits, the client 15 or its offered value', () => {
    assert.deepEqual(client('permessage-deflate'), params(false, false, 15, 15));
    assert.deepEqual(client('permessage-deflate', { clientMaxWindowBits: 12 }), params(false, false, 15, 12));
  });

  it('accepts client_max_window_bits=15 answered to its default offer (Autobahn\'s test server)', () => {
    assert.deepEqual(client('permessage-deflate; client_max_window_bits=15'), params(false, false, 15, 15));
  });

  it('names the parameter and the values when it refuses a window answered above its offer', () => {
    assert.throws(() => client('permessage-deflate; client_max_window_bits=15', { clientMaxWindowBits: 12 }), {
      code: 'HL_ERR_HANDSHAKE_EXTENSIONS',
      message: /server answered client_max_window_bits=15 to an offer of 12 \(RFC 7692 §7\.1\.2\.2\)/,
    });
    assert.throws(() => client('permessage-deflate; server_max_window_bits=15', { serverMaxWindowBits: 10 }), {
      code: 'HL_ERR_HANDSHAKE_EXTENSIONS',
      message: /server answered server_max_window_bits=15 to a request of 10 \(RFC 7692 §7\.1\.2\.1\)/,
    });
  });

  it('accepts what our server answers a default client', () => {
    const answer = negotiateServer(parseExtensions(clientOffer()))!;
    assert.deepEqual(client(answer.response), answer.params);
  });

  it('accepts an unrequested server_no_context_takeover and server_max_window_bits (§7.1.1.1, §7.1.2.1)', () => {
    assert.deepEqual(
      client('permessage-deflate; server_no_context_takeover; server_max_window_bits=9'),
      params(true, false, 9, 15),
    );
  });

  it('accepts client_no_context_takeover imposed by the server, and keeps its own when not echoed', () => {
    assert.deepEqual(client('permessage-deflate; client_no_context_takeover'), params(false, true, 15, 15));
    assert.deepEqual(client('permessage-deflate', { clientNoContextTakeover: true }), params(false, true, 15, 15));
  });

  for (const m of WINDOW_BITS) {
    it(`after a value-less offer, accepts client_max_window_bits=${m}`, () => {
      assert.equal(
        client(`permessage-deflate; client_max_window_bits=${m}`, { clientMaxWindowBits: true })?.clientMaxWindowBits,
        m,
      );
    });
    it(`after offering client_max_window_bits=${m}, accepts ≤ ${m} and refuses more`, () => {
      for (const answered of WINDOW_BITS) {
        const response = `permessage-deflate; client_max_window_bits=${answered}`;
        if (answered <= m) assert.equal(client(response, { clientMaxWindowBits: m })?.clientMaxWindowBits, answered);
        else clientRefuses(response, { clientMaxWindowBits: m });
      }
    });
    it(`after requesting server_max_window_bits=${m}, accepts ≤ ${m} and refuses more or none`, () => {
      for (const answered of WINDOW_BITS) {
        const response = `permessage-deflate; server_max_window_bits=${answered}`;
        if (answered <= m) assert.equal(client(response, { serverMaxWindowBits: m })?.serverMaxWindowBits, answered);
        else clientRefuses(response, { serverMaxWindowBits: m });
      }
      clientRefuses('permessage-deflate', { serverMaxWindowBits: m });
    });
  }

  it('refuses a response without a requested server_no_context_takeover', () => {
    clientRefuses('permessage-deflate', { serverNoContextTakeover: true });
    assert.deepEqual(
      client('permessage-deflate; server_no_context_takeover', { serverNoContextTakeover: true }),
      params(true, false, 15, 15),
    );
  });

  describe('refuses what it did not offer or what is invalid', () => {
    const bad: Array<[string, string]> = [
      ['an extension it did not offer', 'x-webkit-deflate-frame'],
      ['a second extension', 'permessage-deflate, foo'],
      ['permessage-deflate twice', 'permessage-deflate, permessage-deflate'],
      ['a value-less client_max_window_bits (values are mandatory in responses)', 'permessage-deflate; client_max_window_bits'],
      ['a value-less server_max_window_bits', 'permessage-deflate; server_max_window_bits'],
      ['server_max_window_bits=7', 'permessage-deflate; server_max_window_bits=7'],
      ['server_max_window_bits=16', 'permessage-deflate; server_max_window_bits=16'],
      ['server_max_window_bits=010', 'permessage-deflate; server_max_window_bits=010'],
      ['client_max_window_bits=7', 'permessage-deflate; client_max_window_bits=7'],
      ['client_max_window_bits=16', 'permessage-deflate; client_max_window_bits=16'],
      ['client_max_window_bits=010', 'permessage-deflate; client_max_window_bits=010'],
      ['a value on a no_context_takeover parameter', 'permessage-deflate; server_no_context_takeover=1'],
      ['a duplicate parameter', 'permessage-deflate; server_no_context_takeover; server_no_context_takeover'],
      ['a duplicate window', 'permessage-deflate; server_max_window_bits=9; server_max_window_bits=9'],
      ['an unknown parameter', 'permessage-deflate; foo'],
    ];
    for (const [what, response] of bad) {
      it(`refuses ${what}`, () => clientRefuses(response, { clientMaxWindowBits: true }));
    }
  });

  it('reports refusals as handshake errors with the 101 that carried them', () => {
    assert.throws(() => client('foo'), { code: 'HL_ERR_HANDSHAKE_EXTENSIONS', status: 101 });
  });
});

describe('options', () => {
  it('documents and applies its defaults for each side', () => {
    assert.deepEqual(resolveDeflateOptions({}, Side.SERVER), {
      serverNoContextTakeover: false,
      clientNoContextTakeover: false,
      serverMaxWindowBits: 12,
      clientMaxWindowBits: 12,
      level: 6,
      memLevel: 5,
      threshold: 1024,
      concurrency: 10,
    });
    assert.equal(resolveDeflateOptions({}, Side.CLIENT).serverMaxWindowBits, undefined);
    assert.equal(resolveDeflateOptions({}, Side.CLIENT).clientMaxWindowBits, true);
    assert.equal(DEFLATE_DEFAULTS.threshold, 1024);
  });

  it('accepts resolved options wherever options are taken', () => {
    const resolved = resolveDeflateOptions({ serverMaxWindowBits: 9 }, Side.SERVER);
    assert.equal(negotiateServer(parseExtensions('permessage-deflate'), resolved)?.params.serverMaxWindowBits, 9);
  });

  const bad: Array<[string, PerMessageDeflateOptions]> = [
    ['serverMaxWindowBits 7', { serverMaxWindowBits: 7 }],
    ['serverMaxWindowBits 16', { serverMaxWindowBits: 16 }],
    ['serverMaxWindowBits 9.5', { serverMaxWindowBits: 9.5 }],
    ['serverMaxWindowBits "12"', { serverMaxWindowBits: '12' as unknown as number }],
    ['clientMaxWindowBits 7', { clientMaxWindowBits: 7 }],
    ['clientMaxWindowBits false', { clientMaxWindowBits: false as unknown as true }],
    ['level 10', { level: 10 }],
    ['memLevel 0', { memLevel: 0 }],
    ['memLevel 10', { memLevel: 10 }],
    ['threshold -1', { threshold: -1 }],
    ['threshold NaN', { threshold: Number.NaN }],
    ['concurrency 0', { concurrency: 0 }],
    ['serverNoContextTakeover "yes"', { serverNoContextTakeover: 'yes' as unknown as boolean }],
  ];
  for (const [what, options] of bad) {
    it(`throws at once on ${what}`, () => {
      for (const side of [Side.SERVER, Side.CLIENT]) {
        assert.throws(() => resolveDeflateOptions(options, side), { code: 'HL_ERR_INVALID_ARGUMENT' });
      }
    });
  }
});

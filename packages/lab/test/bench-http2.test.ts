// `hotline bench transports --http2` with tiny numbers: every figure is produced, and HPACK
// makes a repeated poll's headers far smaller than HTTP/1.1's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { benchTransports } from '../src/bench.js';
import { formatTable } from '../src/report.js';

const SHORT = { clients: 2, rate: 8, duration: 0.8, warmup: 0.3, interval: 150, size: 128 } as const;

test('over HTTP/2 polling, SSE and WebSocket report HPACK header bytes, frames, TLS bytes and connections', { timeout: 30_000 }, async () => {
  const [h2, h1] = await Promise.all([
    benchTransports({ ...SHORT, transports: ['polling', 'sse', 'websocket'], http2: true }),
    benchTransports({ ...SHORT, transports: ['polling'] }),
  ]);
  for (const r of h2.results) {
    assert.equal(r.protocol, 'h2');
    assert.equal(r.connected, SHORT.clients, `${r.transport}: ${r.errors.join('; ')}`);
    assert.ok(r.delivered > 0, `${r.transport} delivered nothing`);
    const f = r.http2!;
    // One TLS connection per client, whatever the transport: every request a stream on it.
    assert.equal(f.connections, SHORT.clients, r.transport);
    // Not ≥ 1 frame per message: one DATA frame may carry several messages written together,
    // and the window's last messages may arrive (and be counted) after its frames were.
    assert.ok(f.framesPerMessage! > 0 && f.framingBytesPerMessage! > 0 && f.down.dataFrames > 0, `${r.transport}: ${JSON.stringify(f)}`);
    // Requests made in the window (SSE and WebSocket made theirs before it, at connect) have their header bytes.
    if (r.requests > 0) assert.ok(f.headerBytesPerRequest! > 0 && f.up.headerBytes > 0 && f.down.headerBytes > 0, `${r.transport}: ${JSON.stringify(f)}`);
    assert.ok(f.tlsBytes > r.bytesIn + r.bytesOut, `${r.transport}: TLS records cost more than the cleartext they carry`);
    assert.ok(f.down.dataBytes >= r.payloadBytes, `${r.transport}: DATA carries at least the payload`);
  }
  const polling = h2.results.find((r) => r.transport === 'polling')!;
  assert.ok(polling.requests > 2 * SHORT.clients, 'polls repeat');
  const h1Head = h1.results[0]!.headerBytesPerRequest!;
  assert.ok(h1Head > 500, `an HTTP/1.1 poll's heads with a browser's headers: ${h1Head} B`);
  // HPACK (RFC 7541): a repeated field costs an index into the dynamic table.
  assert.ok(polling.headerBytesPerRequest! < h1Head / 3, `h2 ${polling.headerBytesPerRequest} B against HTTP/1.1 ${h1Head} B`);
  assert.match(formatTable(h2), /header bytes[\s\S]*HPACK[\s\S]*WebSocket/);
});

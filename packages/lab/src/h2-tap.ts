import net from 'node:net';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { type CountsOf, FrameDecoder } from './h2-frames.js';

/**
 * The cleartext of a TLS connection, seen on its way to and from node:http2.
 *
 * Node's HTTP/2 session reads a TLS socket through its native handle: no 'data' event
 * ever fires in JavaScript, so nothing can be counted there. Handed a plain duplex
 * instead, the session reads it through a JavaScript stream wrapper, and every chunk of
 * cleartext then passes through `tapTlsSocket`, where two frame decoders (one a direction)
 * count it. The encrypted bytes are those of the TCP socket under the TLS one.
 *
 * The cost: a copy and a hop through JavaScript per chunk, on the side that is tapped.
 * The bench taps its clients (so the server's CPU figure is the server's own); the live
 * lab taps its server (one process, and its CPU figure is an attributed one anyway).
 *
 * A duplex over `socket` whose reads are fed to `reads` and writes to `writes`, with the
 * TLS socket's facts an HTTP/2 session reads (ALPN protocol, addresses).
 */
export function tapTlsSocket(socket: tls.TLSSocket, reads: FrameDecoder, writes: FrameDecoder): Duplex {
  const duplex = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      writes.receive(chunk);
      socket.write(chunk, callback);
    },
    final(callback) {
      socket.end();
      callback();
    },
    destroy(error, callback) {
      socket.destroy(error ?? undefined);
      callback(error);
    },
  });
  socket.on('data', (chunk: Buffer) => {
    reads.receive(chunk);
    if (!duplex.push(chunk)) socket.pause();
  });
  socket.on('end', () => duplex.push(null));
  socket.on('error', (error) => duplex.destroy(error));
  socket.on('close', () => duplex.destroy());
  Object.defineProperties(duplex, {
    // node:http2 picks HTTP/2 or HTTP/1.1 by the negotiated ALPN protocol (RFC 7301).
    alpnProtocol: { get: () => socket.alpnProtocol, configurable: true },
    encrypted: { value: true, configurable: true },
    remoteAddress: { get: () => socket.remoteAddress, configurable: true },
    remotePort: { get: () => socket.remotePort, configurable: true },
    remoteFamily: { get: () => socket.remoteFamily, configurable: true },
    localAddress: { get: () => socket.localAddress, configurable: true },
    localPort: { get: () => socket.localPort, configurable: true },
    servername: { get: () => (socket as tls.TLSSocket & { servername?: string }).servername, configurable: true },
  });
  return duplex;
}

/** One client connection's bytes: the encrypted ones at its TCP socket, the frames in its cleartext. */
export interface ClientWire {
  /** Encrypted bytes, as the TCP socket read and wrote them (TLS records, handshake included). */
  tlsIn(): number;
  tlsOut(): number;
  readonly up: FrameDecoder;
  readonly down: FrameDecoder;
}

/**
 * For `http2.connect(url, { createConnection })`: a TLS connection to 127.0.0.1:`port`
 * offering only h2, tapped; every frame of both directions counted into `countsUp` /
 * `countsDown`. `onWire` receives the connection's counters once it exists.
 */
export function tappedConnection(
  port: number,
  host: string,
  countsUp: CountsOf,
  countsDown: CountsOf,
  onWire: (wire: ClientWire) => void,
  tlsOptions: tls.ConnectionOptions = {},
): () => Duplex {
  return () => {
    const tcp = net.connect({ port, host, noDelay: true });
    const socket = tls.connect({ ...tlsOptions, socket: tcp, ALPNProtocols: ['h2'], servername: tlsOptions.servername ?? 'localhost' });
    const up = new FrameDecoder(true, countsUp);
    const down = new FrameDecoder(false, countsDown);
    onWire({ tlsIn: () => tcp.bytesRead, tlsOut: () => tcp.bytesWritten, up, down });
    return tapTlsSocket(socket, down, up);
  };
}

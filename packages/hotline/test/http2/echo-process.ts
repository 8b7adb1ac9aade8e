/** `hotline echo` over TLS as a child process, on a free port of 127.0.0.1, its banner read. */
import { spawn, type ChildProcess } from 'node:child_process';
import { MAIN } from '../cli/pty.js';
import { withTimeout } from '../support/timing.js';

export interface TlsEcho {
  child: ChildProcess;
  port: number;
  /** Everything printed on stdout up to the fingerprints. */
  banner: string;
  /** The SHA-256 of the certificate's public key, base64 (Chromium's SPKI list). */
  spki: string;
  stop(): Promise<void>;
}

const BANNER = /listening on wss:\/\/127\.0\.0\.1:(\d+)\n[^]*SPKI SHA-256: ([A-Za-z0-9+/=]+)/;

/** Starts `hotline echo --port 0 --host 127.0.0.1 ARGS` (TLS flags among them) and waits for its banner. */
export async function startTlsEcho(args: readonly string[]): Promise<TlsEcho> {
  const child = spawn(process.execPath, [MAIN, 'echo', '--port', '0', '--host', '127.0.0.1', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let banner = '';
  const match = await withTimeout(
    new Promise<RegExpExecArray>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => {
        banner += chunk.toString();
        const found = BANNER.exec(banner);
        if (found) resolve(found);
      });
      child.once('exit', (code) => reject(new Error(`hotline echo exited with ${code}: ${banner}`)));
    }),
    10_000,
    'hotline echo (TLS) to listen',
  );
  return {
    child,
    port: Number(match[1]),
    banner,
    spki: match[2]!,
    async stop() {
      child.kill('SIGINT');
      await withTimeout(exited, 5000, 'hotline echo to exit');
    },
  };
}

import { type Interface, clearLine, createInterface, cursorTo, moveCursor } from 'node:readline';
import { type Palette, paletteFor } from './palette.js';
import { QUIET_PERIOD } from './usage.js';

/**
 * The terminal and pipe behaviour shared by `hotline connect` over WebSocket and over the
 * HTTP transports.
 *
 * - On a terminal (stdin and stdout both TTYs): a prompt with line editing and history,
 *   each message received printed above the line being typed, colours; Ctrl-C or Ctrl-D
 *   closes with 1000.
 * - In a pipe: each stdin line is a message, each message received is printed on its
 *   own line; at the end of input, the pipe rule (`Settle`) decides when to close.
 * - With `-x`: the given messages instead of stdin, then the pipe rule.
 */
export interface LineEndpoint {
  /** WHATWG numbering: 1 is OPEN. */
  readonly readyState: number;
  /** Bytes sent and not yet acknowledged (HTTP transports) or not handed to the network. */
  readonly bufferedAmount: number;
  send(line: string): void;
  close(code: number): void;
  /**
   * Begins a receive cycle (a ping, or the next poll): a token for `cycleDone`, or null
   * when the transport delivers as soon as the server has something (SSE, long-polling).
   */
  beginCycle(): number | null;
  cycleDone(token: number): boolean;
}

export interface LineSessionOptions {
  /** ms at most for the pipe rule, from the end of input or the open, whichever is later. */
  wait: number;
  /** `-x`: messages to send once open, instead of reading stdin. */
  execute: readonly string[];
  noColor: boolean;
}

const OPEN = 1;
/** How often the pipe rule looks at the connection while it waits. */
const SETTLE_CHECK = 20;
/** Exit codes (docs/cli.md). */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_WAIT = 3;
/** The conventional status of a command stopped by SIGINT (128 + 2). */
const EXIT_INTERRUPTED = 130;

export class LineSession {
  readonly interactive: boolean;
  private readonly endpoint: LineEndpoint;
  private readonly options: LineSessionOptions;
  private readonly out: Palette;
  private readonly err: Palette;
  private readonly input: Interface | null;
  private wasOpen = false;
  private inputEnded = false;
  /** We started the close (end of input, Ctrl-C/Ctrl-D). */
  private closing = false;
  private finished = false;
  private lastMessage = 0;
  private exitOverride: number | null = null;

  constructor(endpoint: LineEndpoint, options: LineSessionOptions, send: (line: string) => void) {
    this.endpoint = endpoint;
    this.options = options;
    this.interactive = options.execute.length === 0 && process.stdin.isTTY === true && process.stdout.isTTY === true;
    this.out = this.interactive ? paletteFor(process.stdout, options.noColor) : paletteFor({}, true);
    this.err = paletteFor(process.stderr, options.noColor);
    // In a pipe, Ctrl-C closes cleanly too; a second one stops at once (Node's default).
    if (!this.interactive) process.once('SIGINT', () => this.interrupt());
    if (options.execute.length > 0) {
      this.input = null;
      this.inputEnded = true;
      for (const message of options.execute) send(message);
      return;
    }
    this.input = createInterface({
      input: process.stdin,
      ...(this.interactive
        ? { output: process.stdout, terminal: true, prompt: '> ', historySize: 1000, removeHistoryDuplicates: true }
        : { terminal: false }),
    });
    this.input.on('line', (line) => {
      send(line);
      if (this.interactive && this.wasOpen) this.input!.prompt();
    });
    this.input.on('close', () => this.endOfInput());
    if (this.interactive) this.input.on('SIGINT', () => this.interrupt());
  }

  /** The connection opened: greet a terminal; start the pipe rule if input already ended. */
  opened(banner: string): void {
    this.wasOpen = true;
    this.lastMessage = Date.now();
    if (this.interactive) {
      this.above(this.out.good(`${banner} Ctrl-C or Ctrl-D to close.`));
    } else if (this.inputEnded) {
      this.settle();
    }
  }

  received(data: string | ArrayBuffer): void {
    this.lastMessage = Date.now();
    const text = format(data);
    if (this.interactive) this.above(this.out.incoming(`< ${text}`));
    else process.stdout.write(text + '\n');
  }

  /** A ping or pong received (`-P`). */
  control(kind: 'ping' | 'pong', data: Uint8Array): void {
    const text = `[${kind}]${data.length > 0 ? ` ${printable(data)}` : ''}`;
    if (this.interactive) this.above(this.out.control(`< ${text}`));
    else process.stdout.write(text + '\n');
  }

  /** A one-line report on stderr (an error, a reconnection). */
  report(line: string, error = true): void {
    const text = error ? this.err.bad(line) : this.err.notice(line);
    if (this.interactive && !this.finished) this.above(text, process.stderr);
    else process.stderr.write(text + '\n');
  }

  /**
   * The connection is over: reports it unless it was the expected end of a pipe, and
   * returns the exit code.
   */
  closed(code: number, reason: string): number {
    if (this.finished) return this.exitOverride ?? EXIT_FAILED;
    this.finished = true;
    const normal = code === 1000 || code === 1005;
    const shown = `${code}${reason ? ` ${reason}` : ''}`;
    if (this.interactive) {
      // The prompt's line goes: the report takes its place.
      cursorTo(process.stdout, 0);
      clearLine(process.stdout, 0);
    }
    if (this.wasOpen) {
      if (this.closing) {
        if (this.interactive || !normal) this.report(`closed: ${shown}`, !normal);
      } else {
        this.report(`closed by the server: ${shown}`, !normal);
      }
    }
    this.input?.close();
    process.stdin.unref?.();
    if (this.exitOverride !== null) return this.exitOverride;
    return this.wasOpen && normal ? EXIT_OK : EXIT_FAILED;
  }

  // ---- Input ------------------------------------------------------------------------------

  private endOfInput(): void {
    if (this.inputEnded || this.finished) return;
    this.inputEnded = true;
    if (this.interactive) this.quit();
    else if (this.wasOpen) this.settle();
  }

  /** Ctrl-C: close with 1000; a second one while the close is under way stops at once. */
  private interrupt(): void {
    if (this.finished) return;
    if (this.closing || !this.wasOpen) {
      this.input?.close();
      if (this.interactive) process.stdout.write('\n');
      process.exit(EXIT_INTERRUPTED);
    }
    this.quit();
  }

  private quit(): void {
    if (this.closing || this.finished) return;
    if (!this.wasOpen) {
      // Nothing to close cleanly yet: the user gave up on the connection.
      if (this.interactive) process.stdout.write('\n');
      process.exit(EXIT_INTERRUPTED);
    }
    this.closing = true;
    this.endpoint.close(1000);
  }

  // ---- The pipe rule ------------------------------------------------------------------------

  /**
   * At the end of input: wait until what was sent is acknowledged, then until one receive
   * cycle begun after that has completed, then until no message has come for
   * QUIET_PERIOD ms; all of it bounded by `wait`. A message arriving restarts the quiet.
   */
  private settle(): void {
    const deadline = Date.now() + this.options.wait;
    let token: number | null | undefined;
    let cycledAt = 0;
    let confirmed = false;
    const check = () => {
      const state = this.endpoint.readyState;
      // Closing or closed: `closed` reports it. Reconnecting: the deadline still runs.
      if (this.finished || this.closing || state > OPEN) return;
      const now = Date.now();
      if (state === OPEN) {
        if (token === undefined && this.endpoint.bufferedAmount === 0) {
          token = this.endpoint.beginCycle();
          if (token === null) cycledAt = now;
        }
        if (token !== undefined && token !== null && cycledAt === 0 && this.endpoint.cycleDone(token)) cycledAt = now;
        if (cycledAt !== 0 && now - Math.max(cycledAt, this.lastMessage) >= QUIET_PERIOD) {
          // Quiet by the clock; but a process that was not scheduled for a while has its
          // timers run before the reads that waited meanwhile. One more turn of the event
          // loop (setImmediate runs after the poll phase) reads them first.
          if (confirmed) {
            this.quit();
            return;
          }
          confirmed = true;
          setImmediate(check);
          return;
        }
        confirmed = false;
      }
      if (now >= deadline) {
        // Acknowledged and cycled, but messages keep coming: the wait is over, all is well.
        if (cycledAt === 0) {
          const waited = `${this.options.wait / 1000} s`;
          const pending = this.endpoint.bufferedAmount;
          this.report(
            state !== OPEN
              ? `hotline: --wait ran out (${waited}) while reconnecting`
              : pending > 0
                ? `hotline: --wait ran out (${waited}) with ${pending} bytes sent and not acknowledged`
                : `hotline: --wait ran out (${waited}) before a receive cycle completed: replies may be missing`,
          );
          this.exitOverride = EXIT_WAIT;
        }
        this.quit();
        return;
      }
      setTimeout(check, SETTLE_CHECK);
    };
    setTimeout(check, 0);
  }

  // ---- Terminal output ----------------------------------------------------------------------

  /**
   * Prints a line above the prompt without breaking what is being typed: erase the
   * prompt's rows, print, and let readline draw the prompt and the line again with the
   * cursor where it was.
   */
  private above(text: string, stream: NodeJS.WriteStream = process.stdout): void {
    const input = this.input!;
    const { rows } = input.getCursorPos();
    if (rows > 0) moveCursor(process.stdout, 0, -rows);
    cursorTo(process.stdout, 0);
    clearLine(process.stdout, 0);
    // Clear what a wrapped line left below.
    if (rows > 0) process.stdout.write('\x1b[J');
    stream.write(text + '\n');
    // readline redraws from `rows` rows above the cursor (its memory of the layout):
    // as many fresh lines put that point just under the text printed.
    if (rows > 0) process.stdout.write('\n'.repeat(rows));
    if (this.wasOpen && !this.finished) input.prompt(true);
  }
}

/** Binary messages are printed as hex so that one message stays one line. */
function format(data: string | ArrayBuffer): string {
  if (typeof data === 'string') return data;
  const bytes = Buffer.from(data);
  return `[binary ${bytes.length} bytes] ${bytes.toString('hex')}`;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A control frame's payload: as text when it is UTF-8 without control characters, else hex. */
function printable(data: Uint8Array): string {
  try {
    const text = utf8.decode(data);
    // eslint-disable-next-line no-control-regex
    if (!/[\x00-\x1f\x7f]/.test(text)) return text;
  } catch {
    // not UTF-8
  }
  return `0x${Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('hex')}`;
}

import { type Interface, createInterface } from 'node:readline';

/**
 * The terminal and pipe behaviour shared by `hotline connect` over WebSocket and over the
 * HTTP transports: on a terminal, a prompt; in a pipe, each stdin line is a message and
 * each message received is printed on its own line. When input ends in a pipe, replies
 * get `wait` ms of quiet to arrive before the connection is closed with 1000.
 */
export interface LineEndpoint {
  /** WHATWG numbering: 1 is OPEN. */
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(line: string): void;
  close(code: number): void;
}

const OPEN = 1;

export class LineSession {
  readonly interactive = process.stdin.isTTY === true;
  private readonly endpoint: LineEndpoint;
  private readonly wait: number;
  private readonly input: Interface;
  private lastActivity = Date.now();
  private inputEnded = false;

  /** `send` decides what to do with lines typed before the connection opens. */
  constructor(endpoint: LineEndpoint, wait: number, send: (line: string) => void) {
    this.endpoint = endpoint;
    this.wait = wait;
    this.input = createInterface({
      input: process.stdin,
      terminal: this.interactive,
      ...(this.interactive ? { prompt: '> ' } : {}),
    });
    this.input.on('line', (line) => {
      send(line);
      this.lastActivity = Date.now();
      if (this.interactive) this.input.prompt();
    });
    this.input.on('close', () => {
      this.inputEnded = true;
      if (this.endpoint.readyState === OPEN) this.finish();
    });
  }

  /** The connection opened: greet a terminal, and close at once if input already ended. */
  opened(banner: string): void {
    if (this.interactive) {
      process.stdout.write(`${banner} Ctrl-D or Ctrl-C to quit.\n`);
      this.input.prompt();
    }
    this.lastActivity = Date.now();
    if (this.inputEnded) this.finish();
  }

  received(data: string | ArrayBuffer): void {
    this.lastActivity = Date.now();
    const text = format(data);
    if (this.interactive) {
      process.stdout.write(`\r\x1b[K< ${text}\n`);
      this.input.prompt(true);
    } else {
      process.stdout.write(text + '\n');
    }
  }

  /** The connection is over: report it unless it was the expected end of a pipe. */
  closed(code: number, reason: string): void {
    this.input.close();
    if (this.interactive || !this.inputEnded || code !== 1000) {
      process.stderr.write(`closed: ${code}${reason ? ` ${reason}` : ''}\n`);
    }
    process.stdin.unref?.();
  }

  private finish(): void {
    if (this.interactive) this.endpoint.close(1000);
    else this.closeWhenQuiet();
  }

  private closeWhenQuiet(): void {
    if (this.endpoint.readyState !== OPEN) return;
    const quiet = Date.now() - this.lastActivity;
    if (quiet >= this.wait && this.endpoint.bufferedAmount === 0) this.endpoint.close(1000);
    else setTimeout(() => this.closeWhenQuiet(), Math.max(10, this.wait - quiet));
  }
}

/** Binary messages are printed as hex so that one message stays one line. */
function format(data: string | ArrayBuffer): string {
  if (typeof data === 'string') return data;
  const bytes = Buffer.from(data);
  return `[binary ${bytes.length} bytes] ${bytes.toString('hex')}`;
}

import { UsageError, integer, parseArgs, port } from './args.js';
import { ECHO_USAGE } from './usage.js';

export type EchoCommand =
  | { readonly help: true }
  | { readonly help: false; readonly port: number; readonly host: string | undefined; readonly maxPayload: number; readonly deflate: boolean; readonly drainWindow: number };

/** 16 MiB, the server's own default (protocol/limits.ts gives the reason). */
const DEFAULT_MAX_PAYLOAD = 16 * 1024 * 1024;

/** On SIGTERM the server drains over this many ms (the library's own default). */
const DEFAULT_DRAIN_WINDOW = 10_000;
/** A timer's longest delay. */
const MAX_DRAIN_WINDOW = 2 ** 31 - 1;

/** `hotline echo` flags, checked: every mistake is a UsageError with the echo usage. */
export function parseEcho(argv: string[]): EchoCommand {
  const { values, positionals } = parseArgs(
    argv,
    {
      port: { type: 'string' },
      host: { type: 'string' },
      'max-payload': { type: 'string' },
      deflate: { type: 'boolean' },
      'drain-window': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    ECHO_USAGE,
  );
  if (values.help) return { help: true };
  if (positionals.length > 0) throw new UsageError(`echo takes no arguments, got ${JSON.stringify(positionals[0])}`, ECHO_USAGE);
  if (values.port === undefined) throw new UsageError('echo needs --port N', ECHO_USAGE);
  const listenPort = port(values.port, ECHO_USAGE);
  const maxPayload = integer(values['max-payload'], 'max-payload', DEFAULT_MAX_PAYLOAD, ECHO_USAGE);
  if (maxPayload === 0) throw new UsageError('--max-payload must be 1 or more', ECHO_USAGE);
  const drainWindow = integer(values['drain-window'], 'drain-window', DEFAULT_DRAIN_WINDOW, ECHO_USAGE);
  if (drainWindow > MAX_DRAIN_WINDOW) throw new UsageError(`--drain-window must be at most ${MAX_DRAIN_WINDOW} ms`, ECHO_USAGE);
  return { help: false, port: listenPort, host: values.host, maxPayload, deflate: values.deflate === true, drainWindow };
}

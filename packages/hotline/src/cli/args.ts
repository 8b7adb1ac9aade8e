import { parseArgs as parse, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * A command-line mistake: reported with the usage text of the command it concerns and
 * exit code 2, never with a stack trace.
 */
export class UsageError extends Error {
  /** The usage text to print under the message ('' for the general one). */
  readonly usage: string;
  constructor(message: string, usage = '') {
    super(message);
    this.usage = usage;
  }
}

/** node:util parseArgs (strict, positionals allowed, tokens kept) with its errors turned into usage errors. */
export function parseArgs<const T extends Options>(
  argv: string[],
  options: T,
  usage = '',
): ReturnType<typeof parse<{ args: string[]; options: T; allowPositionals: true; strict: true; tokens: true }>> {
  try {
    return parse({ args: negativeValues(argv, options), allowPositionals: true, strict: true, tokens: true, options });
  } catch (error) {
    throw new UsageError((error as Error).message, usage);
  }
}

/**
 * `--wait -1`: parseArgs takes a value that starts with a dash for a forgotten one and
 * answers with its own wording; joined as `--wait=-1`, it reaches our check and gets ours.
 */
function negativeValues(argv: string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const next = argv[i + 1];
    const name = arg.startsWith('--') ? arg.slice(2) : arg.length === 2 && arg[0] === '-' ? Object.keys(options).find((key) => options[key]!.short === arg[1]) : undefined;
    if (name !== undefined && options[name]?.type === 'string' && next !== undefined && /^-\d/.test(next)) {
      out.push(`--${name}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

export function integer(value: string | undefined, name: string, fallback: number, usage = ''): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a non-negative integer, not ${JSON.stringify(value)}`, usage);
  return n;
}

/** A TCP port: 0 (any free port) to 65535. */
export function port(value: string, usage = ''): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n > 65535) throw new UsageError(`--port must be an integer from 0 to 65535 (0: any free port), not ${JSON.stringify(value)}`, usage);
  return n;
}

/**
 * A duration given in seconds, as wscat's `-w` (`2`, `0.5`), or with a unit (`500ms`,
 * `2s`). Returns milliseconds.
 */
export function seconds(value: string | undefined, name: string, fallback: number, usage = ''): number {
  if (value === undefined) return fallback;
  const match = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s)?\s*$/.exec(value);
  const ms = match === null ? NaN : Number(match[1]) * (match[2] === 'ms' ? 1 : 1000);
  if (!Number.isFinite(ms) || ms > 2 ** 31 - 1) {
    throw new UsageError(`--${name} must be a number of seconds, 0 or more (or with a unit: 500ms, 2s), not ${JSON.stringify(value)}`, usage);
  }
  return Math.round(ms);
}

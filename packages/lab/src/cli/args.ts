import { parseArgs as parse, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

/** A command-line mistake: reported with the usage text and exit code 2. */
export class UsageError extends Error {}

/** node:util parseArgs (strict, positionals allowed) with its errors turned into usage errors. */
export function parseArgs<const T extends Options>(argv: string[], options: T): ReturnType<typeof parse<{ args: string[]; options: T; allowPositionals: true; strict: true }>> {
  try {
    return parse({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

export function integer(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a non-negative integer, not ${JSON.stringify(value)}`);
  return n;
}

/**
 * Node's own HTTP/1.1 parser (llhttp, through `_http_common`), configured as an
 * `http.Server` configures it (strict: no lenient flags), and Node's own header
 * semantics (`IncomingMessage`), for differential checks. In process and synchronous:
 * no socket, so it costs microseconds per head.
 */
import { createRequire } from 'node:module';
import { IncomingMessage } from 'node:http';

interface HttpParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(data: Buffer): number | (Error & { code: string });
  finish(): number | Error | undefined;
  close(): void;
  [key: number]: unknown;
}
interface HttpParserClass {
  new (): HttpParser;
  REQUEST: number;
  RESPONSE: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
  kOnExecute: number;
  kLenientNone: number;
}

const require = createRequire(import.meta.url);
const common = require('_http_common') as { HTTPParser: HttpParserClass; methods: string[] };
const { HTTPParser, methods } = common;

/** `_http_common`'s MAX_HEADER_PAIRS: array entries (name, value, name, ...) kept. */
const MAX_HEADER_PAIRS = 2000;

export interface ParsedHead {
  readonly method: string;
  readonly url: string;
  readonly httpVersion: string;
  /** Name/value pairs as sent (names as written). */
  readonly rawHeaders: string[];
  /** As `IncomingMessage.headers`: lowercase names, repeats combined Node's way. */
  readonly headers: Record<string, string | string[]>;
  readonly statusCode: number;
  readonly upgrade: boolean;
}

function noop(): number {
  return 0;
}

/** Parses one message head; returns the llhttp error code (`HPE_*`) when Node would refuse it. */
export function parseHead(data: Buffer, type: 'request' | 'response'): ParsedHead | string {
  const parser = new HTTPParser();
  const raw: string[] = [];
  let head: ParsedHead | null = null;
  parser[HTTPParser.kOnHeaders] = (headers: string[]) => {
    raw.push(...headers);
  };
  parser[HTTPParser.kOnHeadersComplete] = (
    major: number,
    minor: number,
    headers: string[] | undefined,
    method: number | undefined,
    url: string | undefined,
    statusCode: number | undefined,
    _statusMessage: string | undefined,
    upgrade: boolean,
  ): number => {
    // More than 32 fields arrive in batches through kOnHeaders first.
    if (headers !== undefined) raw.push(...headers);
    const message = new IncomingMessage(null as never);
    // As an http.Server does: it keeps the first 1000 fields (maxHeaderPairs, 2000,
    // counts names and values) and drops the rest without a word.
    message._addHeaderLines(raw, Math.min(raw.length, MAX_HEADER_PAIRS));
    head = {
      method: method === undefined ? '' : methods[method]!,
      url: url ?? '',
      httpVersion: `${major}.${minor}`,
      rawHeaders: raw,
      headers: message.headers as Record<string, string | string[]>,
      statusCode: statusCode ?? 0,
      upgrade,
    };
    // 1: there is no body to read (a response to HEAD, or so we say).
    return type === 'response' ? 1 : 0;
  };
  parser[HTTPParser.kOnBody] = noop;
  parser[HTTPParser.kOnMessageComplete] = noop;
  parser[HTTPParser.kOnExecute] = noop;
  parser.initialize(type === 'request' ? HTTPParser.REQUEST : HTTPParser.RESPONSE, {}, 0, HTTPParser.kLenientNone);
  try {
    const result = parser.execute(data);
    if (typeof result !== 'number') return result.code;
    return head ?? 'incomplete';
  } finally {
    parser.close();
  }
}

declare module 'node:http' {
  interface IncomingMessage {
    _addHeaderLines(headers: string[], n: number): void;
  }
}

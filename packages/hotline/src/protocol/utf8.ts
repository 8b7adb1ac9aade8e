import { isUtf8 } from 'node:buffer';

/**
 * RFC 6455 §8.1: a text message that is not valid UTF-8 fails the connection (1007).
 * Messages arrive in fragments and fragments arrive in TCP chunks, so validation is
 * incremental: it keeps the state of a sequence cut across a boundary, and reports
 * failure at the first byte that can no longer be part of valid UTF-8 rather than at
 * the end of the message (a peer streaming garbage is stopped early).
 *
 * The bulk of each piece goes to the native `buffer.isUtf8`; only the few bytes around
 * a boundary go through the byte-wise state machine (RFC 3629 §4 table).
 */
export class Utf8Validator {
  /** Continuation bytes still expected by the current sequence. */
  private need = 0;
  /** Bounds of the next continuation byte (RFC 3629 narrows the first one after E0, ED, F0, F4). */
  private lower = 0x80;
  private upper = 0xbf;

  /** True when everything written so far ends on a sequence boundary. */
  get complete(): boolean {
    return this.need === 0;
  }

  reset(): void {
    this.need = 0;
    this.lower = 0x80;
    this.upper = 0xbf;
  }

  /** Validates `data[start, end)` as the continuation of what came before. */
  write(data: Uint8Array, start = 0, end = data.length): boolean {
    let i = start;
    while (this.need > 0 && i < end) {
      if (!this.step(data[i]!)) return false;
      i++;
    }
    if (i >= end) return true;
    const cut = incompleteTailStart(data, i, end);
    if (cut > i && !isUtf8(data.subarray(i, cut))) return false;
    for (let k = cut; k < end; k++) {
      if (!this.step(data[k]!)) return false;
    }
    return true;
  }

  private step(byte: number): boolean {
    if (this.need > 0) {
      if (byte < this.lower || byte > this.upper) return false;
      this.lower = 0x80;
      this.upper = 0xbf;
      this.need--;
      return true;
    }
    if (byte < 0x80) return true;
    if (byte >= 0xc2 && byte <= 0xdf) {
      this.need = 1;
    } else if (byte === 0xe0) {
      this.need = 2;
      this.lower = 0xa0; // no overlong 3-byte forms
    } else if (byte === 0xed) {
      this.need = 2;
      this.upper = 0x9f; // no UTF-16 surrogates (U+D800..U+DFFF)
    } else if (byte >= 0xe1 && byte <= 0xef) {
      this.need = 2;
    } else if (byte === 0xf0) {
      this.need = 3;
      this.lower = 0x90; // no overlong 4-byte forms
    } else if (byte >= 0xf1 && byte <= 0xf3) {
      this.need = 3;
    } else if (byte === 0xf4) {
      this.need = 3;
      this.upper = 0x8f; // nothing above U+10FFFF
    } else {
      return false; // 80-C1 cannot start a sequence, F5-FF never appear
    }
    return true;
  }
}

/** Length of the sequence a lead byte announces, or 0 when it cannot lead one. */
function sequenceLength(lead: number): number {
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

/**
 * Where the last sequence of `data[start, end)` begins if it is cut short by `end`;
 * `end` when the piece ends on a boundary (or is invalid, which `isUtf8` then reports).
 */
function incompleteTailStart(data: Uint8Array, start: number, end: number): number {
  let k = end - 1;
  const floor = Math.max(start, end - 4);
  while (k >= floor && (data[k]! & 0xc0) === 0x80) k--;
  if (k < floor) return end;
  const length = sequenceLength(data[k]!);
  return length > end - k ? k : end;
}

/** Whole-buffer check for complete messages (the common, unfragmented case). */
export function isValidUtf8(data: Uint8Array): boolean {
  return isUtf8(data);
}

/**
 * A bug planted behind four nested comparisons, for the fuzzer's own test. Each
 * compares the low four bits of a byte, so blind random inputs would need about 2^16
 * tries to pass them all, where coverage feedback passes them one at a time (four times
 * 2^4, give or take the mutations wasted). It lives in a file of its own so that its
 * coverage can be measured alone.
 */
export function planted(input: Uint8Array): void {
  if (((input[0] ?? 0) & 0xf) === 0x8) {
    if (((input[1] ?? 0) & 0xf) === 0xc) {
      if (((input[2] ?? 0) & 0xf) === 0x1) {
        if (((input[3] ?? 0) & 0xf) === 0xa) throw new Error('planted bug reached');
      }
    }
  }
}

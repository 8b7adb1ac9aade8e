;; RFC 6455 §5.3 masking with WebAssembly SIMD: the source of mask-wasm.ts, which
;; scripts/build-mask-wasm.mjs generates from this file (a test checks they agree).
;;
;; One page (64 KiB) of memory is the scratch area the JavaScript side copies payload
;; bytes into and back out of. `mask` XORs [ptr, ptr + len) with the masking key as a
;; little-endian 32-bit word whose lowest byte applies to the byte at `ptr`: 64 bytes per
;; iteration in four 128-bit lanes, then words, then the last 0-3 bytes.
(module
  (memory (export "memory") 1 1)
  (func (export "mask") (param $ptr i32) (param $len i32) (param $word i32)
    (local $end i32)
    (local $end64 i32)
    (local $key v128)
    (local.set $end (i32.add (local.get $ptr) (local.get $len)))
    (local.set $end64 (i32.add (local.get $ptr) (i32.and (local.get $len) (i32.const -64))))
    (local.set $key (i32x4.splat (local.get $word)))
    (block $done64
      (loop $by64
        (br_if $done64 (i32.ge_u (local.get $ptr) (local.get $end64)))
        (v128.store offset=0 (local.get $ptr) (v128.xor (v128.load offset=0 (local.get $ptr)) (local.get $key)))
        (v128.store offset=16 (local.get $ptr) (v128.xor (v128.load offset=16 (local.get $ptr)) (local.get $key)))
        (v128.store offset=32 (local.get $ptr) (v128.xor (v128.load offset=32 (local.get $ptr)) (local.get $key)))
        (v128.store offset=48 (local.get $ptr) (v128.xor (v128.load offset=48 (local.get $ptr)) (local.get $key)))
        (local.set $ptr (i32.add (local.get $ptr) (i32.const 64)))
        (br $by64)))
    (block $done4
      (loop $by4
        (br_if $done4 (i32.gt_u (i32.add (local.get $ptr) (i32.const 4)) (local.get $end)))
        (i32.store (local.get $ptr) (i32.xor (i32.load (local.get $ptr)) (local.get $word)))
        (local.set $ptr (i32.add (local.get $ptr) (i32.const 4)))
        (br $by4)))
    ;; The tail: the key's bytes in order, lowest first.
    (block $done1
      (loop $by1
        (br_if $done1 (i32.ge_u (local.get $ptr) (local.get $end)))
        (i32.store8 (local.get $ptr) (i32.xor (i32.load8_u (local.get $ptr)) (local.get $word)))
        (local.set $word (i32.shr_u (local.get $word) (i32.const 8)))
        (local.set $ptr (i32.add (local.get $ptr) (i32.const 1)))
        (br $by1)))))

// bfloat16: the top 16 bits of an IEEE binary32 (sign, 8 exponent bits, 7 mantissa bits), so the
// same range as float32 with 8 bits of precision. Pure TypeScript, no dependencies.
//
// Encoding rounds to nearest, ties to even, on the 16 dropped bits, exactly as IEEE rounding of a
// binary32 to a format with 7 stored mantissa bits:
//   * a carry out of the mantissa moves into the exponent (1.1111111|1… → 10.0000000);
//   * subnormals round the same way (and may carry into the smallest normal);
//   * values beyond the largest bfloat16 + half an ulp overflow to ±Inf (IEEE's round-to-nearest
//     overflow), ±Inf stay ±Inf, ±0 stay ±0;
//   * NaN stays NaN: sign and the top 7 payload bits are kept and the quiet bit is set, so a NaN
//     whose payload sits only in the dropped bits does not turn into Inf.
// Decoding is exact (every bfloat16 is a float32): the 16 bits become the high half.
// Works on the bits (Uint32Array views), never through JS numbers, so NaN payloads survive.

/** One float32 bit pattern (as an unsigned 32-bit integer) → its bfloat16 bit pattern. */
export function bf16FromF32Bits(bits: number): number {
  const u = bits >>> 0;
  if ((u & 0x7fffffff) > 0x7f800000) return (u >>> 16) | 0x0040; // NaN: quiet, keep sign and top payload
  // Round to nearest even: add 0x7fff plus the lowest kept bit, then truncate. The sum stays below
  // 2^32 for every non-NaN input (the largest is 0xff800000, -Inf).
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/** A bfloat16 bit pattern → the float32 bit pattern of the same value. */
export function f32BitsFromBf16(h: number): number {
  return ((h & 0xffff) << 16) >>> 0;
}

/** float32 values → bfloat16 bit patterns (round to nearest even). `out` may be passed to reuse a buffer. */
export function f32ToBf16(src: Float32Array, out?: Uint16Array): Uint16Array {
  const n = src.length;
  const dst = out ?? new Uint16Array(n);
  if (dst.length < n) throw new RangeError(`f32ToBf16: output holds ${dst.length} values, need ${n}`);
  const u = new Uint32Array(src.buffer, src.byteOffset, n);
  for (let i = 0; i < n; i++) {
    const b = u[i]!;
    if ((b & 0x7fffffff) > 0x7f800000) dst[i] = (b >>> 16) | 0x0040;
    else dst[i] = (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
  }
  return dst;
}

/** bfloat16 bit patterns → float32 values (exact). `out` may be passed to reuse a buffer. */
export function bf16ToF32(src: Uint16Array, out?: Float32Array): Float32Array {
  const n = src.length;
  const dst = out ?? new Float32Array(n);
  if (dst.length < n) throw new RangeError(`bf16ToF32: output holds ${dst.length} values, need ${n}`);
  const u = new Uint32Array(dst.buffer, dst.byteOffset, n);
  for (let i = 0; i < n; i++) u[i] = src[i]! << 16;
  return dst;
}

/** Rounds float32 values to the nearest bfloat16 in place (encode + decode without the copy). */
export function roundToBf16(a: Float32Array): Float32Array {
  const u = new Uint32Array(a.buffer, a.byteOffset, a.length);
  for (let i = 0; i < u.length; i++) u[i] = bf16FromF32Bits(u[i]!) << 16;
  return a;
}

import { describe, expect, it } from "vitest";
import { bf16FromF32Bits, bf16ToF32, f32BitsFromBf16, f32ToBf16, roundToBf16 } from "./bf16";

/** float32 values with exact bit patterns (never through a JS number, so NaN payloads survive). */
const f32 = (bits: number[]): Float32Array => new Float32Array(Uint32Array.from(bits).buffer);
const hex = (n: number, w: number): string => `0x${n.toString(16).padStart(w, "0")}`;

// [float32 bits, expected bfloat16 bits, what it checks]
const CASES: [number, number, string][] = [
  [0x3f800000, 0x3f80, "1.0 exact"],
  [0x3f807fff, 0x3f80, "below half: down"],
  [0x3f808001, 0x3f81, "above half: up"],
  [0x3f808000, 0x3f80, "tie, kept lsb 0: stays (even)"],
  [0x3f818000, 0x3f82, "tie, kept lsb 1: up to even"],
  [0xbf808000, 0xbf80, "negative tie to even (down in magnitude)"],
  [0xbf818000, 0xbf82, "negative tie to even (up in magnitude)"],
  [0x3fff8000, 0x4000, "tie carries into the exponent: 1.99609375 → 2"],
  [0x3f7fffff, 0x3f80, "0.99999994 carries into the exponent → 1"],
  [0x7f7f7fff, 0x7f7f, "below half an ulp above the largest bf16: largest bf16"],
  [0x7f7f8000, 0x7f80, "tie above the largest bf16: to even = overflow to +Inf"],
  [0x7f7fffff, 0x7f80, "largest float32 overflows to +Inf"],
  [0xff7fffff, 0xff80, "most negative float32 overflows to -Inf"],
  [0x7f800000, 0x7f80, "+Inf"],
  [0xff800000, 0xff80, "-Inf"],
  [0x7fc00000, 0x7fc0, "quiet NaN"],
  [0xffc00000, 0xffc0, "negative quiet NaN keeps its sign"],
  [0x7f800001, 0x7fc0, "NaN with payload only in the dropped bits stays NaN (not Inf)"],
  [0x7fa00000, 0x7fe0, "signalling NaN: payload kept, quiet bit set"],
  [0xff810000, 0xffc1, "negative signalling NaN"],
  [0x7fffffff, 0x7fff, "NaN with all payload bits: no carry"],
  [0x00000000, 0x0000, "+0"],
  [0x80000000, 0x8000, "-0"],
  [0x00000001, 0x0000, "smallest subnormal → +0"],
  [0x80000001, 0x8000, "negative smallest subnormal → -0"],
  [0x00008000, 0x0000, "subnormal tie, lsb 0 → +0"],
  [0x00018000, 0x0002, "subnormal tie, lsb 1 → up to even"],
  [0x00008001, 0x0001, "subnormal above half"],
  [0x80008001, 0x8001, "negative subnormal above half"],
  [0x007fffff, 0x0080, "largest subnormal carries into the smallest normal"],
  [0x00800000, 0x0080, "smallest normal"],
];

describe("bfloat16 codec", () => {
  it.each(CASES)("%#: f32 bits → bf16 bits (%s)", (bits, want) => {
    expect(hex(bf16FromF32Bits(bits), 4)).toBe(hex(want, 4));
  });

  it("encodes an array to the same bit patterns, and decodes them exactly", () => {
    const src = f32(CASES.map((c) => c[0]));
    const enc = f32ToBf16(src);
    expect(Array.from(enc, (h) => hex(h, 4))).toEqual(CASES.map((c) => hex(c[1], 4)));
    const dec = new Uint32Array(bf16ToF32(enc).buffer);
    expect(Array.from(dec, (b) => hex(b, 8))).toEqual(CASES.map((c) => hex(c[1] << 16 >>> 0, 8)));
    expect(Object.is(bf16ToF32(Uint16Array.of(0x8000))[0], -0)).toBe(true);
    expect(bf16ToF32(Uint16Array.of(0x7f80, 0xff80, 0x7fc0, 0x3f80, 0x4049))).toEqual(Float32Array.of(Infinity, -Infinity, NaN, 1, 3.140625));
  });

  it("decode then encode is the identity on every non-NaN pattern; NaNs come back quiet", () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const back = f32ToBf16(bf16ToF32(all));
    const bad: string[] = [];
    for (let h = 0; h < 65536; h++) {
      const nan = (h & 0x7fff) > 0x7f80;
      if (back[h] !== (nan ? h | 0x40 : h) || f32BitsFromBf16(h) !== (h << 16) >>> 0) bad.push(hex(h, 4));
    }
    expect(bad).toEqual([]);
  });

  it("is the nearest bfloat16, ties to even, on 200,000 random finite floats (reference in float64)", () => {
    let seed = 12345;
    const rnd = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0), seed);
    // ±Inf stands for ±2^128 here: IEEE rounds as if the exponent were unbounded, then overflows.
    const dec = (h: number) => ((h & 0x7fff) === 0x7f80 ? (h & 0x8000 ? -1 : 1) * 2 ** 128 : new Float32Array(Uint32Array.of((h << 16) >>> 0).buffer)[0]!);
    const bits = new Uint32Array(200_000);
    for (let i = 0; i < bits.length; i++) {
      let b = rnd();
      if ((b & 0x7f800000) === 0x7f800000) b &= 0xbfffffff; // keep it finite
      if (i % 4 === 0) b = (b & 0xffff0000) | 0x8000; // plenty of exact ties
      bits[i] = b;
    }
    const values = new Float32Array(bits.buffer);
    const enc = f32ToBf16(values);
    for (let i = 0; i < bits.length; i++) {
      const v = values[i]!;
      const lo = bits[i]! >>> 16; // truncation (toward zero)
      const hi = lo + 1; // next away from zero (may be ±Inf)
      const dLo = Math.abs(v - dec(lo));
      const dHi = Math.abs(dec(hi) - v);
      const want = dLo < dHi ? lo : dHi < dLo ? hi : lo % 2 === 0 ? lo : hi;
      if (enc[i] !== want) throw new Error(`${hex(bits[i]!, 8)}: got ${hex(enc[i]!, 4)}, want ${hex(want, 4)}`);
    }
    // roundToBf16 (in place) agrees with encode + decode.
    const copy = roundToBf16(values.slice());
    expect(Buffer.from(copy.buffer).equals(Buffer.from(bf16ToF32(enc).buffer))).toBe(true);
  });

  it("works on views at an offset and checks output sizes", () => {
    const buf = new Float32Array(8);
    buf.set([1, 1.00390625, 3], 4);
    const view = buf.subarray(4, 7);
    expect(Array.from(f32ToBf16(view))).toEqual([0x3f80, 0x3f80, 0x4040]);
    expect(() => f32ToBf16(view, new Uint16Array(2))).toThrow(/output holds 2 values, need 3/);
    expect(() => bf16ToF32(Uint16Array.of(1, 2), new Float32Array(1))).toThrow(/need 2/);
  });
});

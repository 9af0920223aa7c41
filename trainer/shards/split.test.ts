// The held-out rule: MurmurHash3 x86_32 checked against published test vectors, and the split
// a function of (row id, seed, fraction) alone.
import { describe, expect, it } from "vitest";
import { murmur3 } from "../../shared/hashring";
import { isHeldOut } from "./split";

describe("murmur3 (shared/hashring), the split's hash", () => {
  it("matches the reference implementation's test vectors", () => {
    const vectors: [string, number, number][] = [
      ["", 0, 0],
      ["", 1, 0x514e28b7],
      ["", 0xffffffff, 0x81f16f39],
      ["\0\0\0\0", 0, 0x2362f9de],
      ["a", 0x9747b28c, 0x7fa09ea6],
      ["ab", 0x9747b28c, 0x74875592],
      ["abc", 0x9747b28c, 0xc84a62dd],
      ["abcd", 0x9747b28c, 0xf0478627],
      ["aaaa", 0x9747b28c, 0x5a97808a],
      ["Hello, world!", 0x9747b28c, 0x24884cba],
      ["The quick brown fox jumps over the lazy dog", 0x9747b28c, 0x2fa826cd],
    ];
    for (const [key, seed, want] of vectors) expect(murmur3(key, seed), `${JSON.stringify(key)} seed ${seed}`).toBe(want);
  });
});

describe("isHeldOut", () => {
  const ids = Array.from({ length: 20_000 }, (_, i) => `row-${i}`);

  it("holds out about testFraction of rows, and a different set per seed", () => {
    const a = ids.filter((id) => isHeldOut(id, 1, 0.2));
    const b = ids.filter((id) => isHeldOut(id, 2, 0.2));
    expect(a.length / ids.length).toBeCloseTo(0.2, 1.5);
    expect(b.length / ids.length).toBeCloseTo(0.2, 1.5);
    const inB = new Set(b);
    const overlap = a.filter((id) => inB.has(id)).length / a.length;
    expect(overlap).toBeGreaterThan(0.1); // independent seeds overlap by ~the fraction itself
    expect(overlap).toBeLessThan(0.3);
  });

  it("depends on the id alone: order and neighbours do not matter; a larger fraction only adds rows", () => {
    const forward = ids.filter((id) => isHeldOut(id, 7, 0.25));
    const backward = [...ids].reverse().filter((id) => isHeldOut(id, 7, 0.25)).reverse();
    expect(backward).toEqual(forward);
    const wider = new Set(ids.filter((id) => isHeldOut(id, 7, 0.5)));
    expect(forward.every((id) => wider.has(id))).toBe(true);
  });
});

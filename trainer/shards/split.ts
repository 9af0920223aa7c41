// The held-out split of a shard set: a seeded hash of each row's stable id, so a row's side
// depends only on (row id, seed, fraction) — never on row order, on --limit, or on how the rows
// were cut into shards. MurmurHash3 (x86, 32-bit) because it is seeded by design, mixes short
// near-identical ids (line texts, "7/123") well, and has published test vectors.

const UTF8 = new TextEncoder();

/** MurmurHash3 x86_32 of `bytes` with a 32-bit seed; an unsigned 32-bit result. */
export function murmur3_32(bytes: Uint8Array, seed: number): number {
  const C1 = 0xcc9e2d51;
  const C2 = 0x1b873593;
  let h = seed >>> 0;
  const n = bytes.length;
  const blocks = n & ~3;
  for (let i = 0; i < blocks; i += 4) {
    let k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  switch (n & 3) {
    case 3:
      k ^= bytes[blocks + 2]! << 16;
    // falls through
    case 2:
      k ^= bytes[blocks + 1]! << 8;
    // falls through
    case 1:
      k ^= bytes[blocks]!;
      k = Math.imul(k, C1);
      k = (k << 15) | (k >>> 17);
      k = Math.imul(k, C2);
      h ^= k;
  }
  h ^= n;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** How the manifest names the rule below. */
export const SPLIT_METHOD = "murmur3_x86_32(utf8(rowId), seed) / 2^32 < testFraction";

/** True when the row with this id is held out. */
export function isHeldOut(rowId: string, seed: number, testFraction: number): boolean {
  return murmur3_32(UTF8.encode(rowId), seed) / 4294967296 < testFraction;
}

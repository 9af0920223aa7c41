// The shard cache: reads per epoch ≈ the dataset when the budget holds a block, the byte budget
// holds at every moment (loads in flight included), in-flight loads are shared, errors surface.
import { describe, expect, it } from "vitest";
import { ShardCache, type ShardReader } from "./cache";
import type { ShardEntry } from "./format";
import { ShardOrder } from "./order";
import type { ShardBlock } from "./reader";

const F = 3;
const entryOf = (index: number, rows: number): ShardEntry => ({
  key: `train/${String(index).padStart(5, "0")}.bin`,
  split: "train",
  index,
  rows,
  firstRow: 0,
  xOffset: 32,
  yOffset: 32 + rows * F * 4,
  bytes: 32 + rows * (F + 1) * 4,
  sha256: "0".repeat(64),
});

/** A reader that takes a tick per read and counts what it reads. */
class CountingReader implements ShardReader {
  reads = 0;
  bytes = 0;
  readonly perShard = new Map<number, number>();
  failing = new Set<number>();
  async read(e: ShardEntry): Promise<ShardBlock> {
    this.reads++;
    this.bytes += e.bytes;
    this.perShard.set(e.index, (this.perShard.get(e.index) ?? 0) + 1);
    await new Promise((r) => setTimeout(r, 1));
    if (this.failing.has(e.index)) throw new Error(`cannot read ${e.key}`);
    const x = Float32Array.from({ length: e.rows * F }, (_, i) => e.index * 1000 + i);
    return { entry: e, rows: e.rows, x, y: new Int32Array(e.rows).fill(e.index) };
  }
}

const ROWS = Array.from({ length: 24 }, (_, i) => 40 + ((i * 7) % 13));
const entries = ROWS.map((r, i) => entryOf(i, r));
const datasetBytes = entries.reduce((a, e) => a + e.bytes, 0);
const largest = Math.max(...entries.map((e) => e.bytes));

/** Epochs as the trainer runs them: prefetch ahead, then each batch shard by shard. */
async function runEpochs(cache: ShardCache, order: ShardOrder, ahead: number, watch: () => void, epochs = 1): Promise<void> {
  for (let step = 0; step < epochs * order.stepsPerEpoch; step++) {
    cache.prefetch(order.shardsAhead(step, ahead));
    watch();
    const b = order.batch(step);
    for (const s of new Set(b.shard)) {
      const block = await cache.get(s);
      watch();
      expect(block.entry.index).toBe(s);
    }
  }
}

describe("ShardCache", () => {
  for (const [label, blocksInBudget] of [["one block", 1], ["two blocks (prefetch)", 2]] as const) {
    it(`reads ≈ the dataset once per epoch when the budget holds ${label}; never over budget`, async () => {
      const B = 4;
      const order = new ShardOrder({ rows: ROWS, seed: 3, batchSize: 16, blockShards: B });
      const budget = blocksInBudget * B * largest + largest;
      const reader = new CountingReader();
      const cache = new ShardCache(reader, entries, budget);
      let peak = 0;
      const watch = () => void (peak = Math.max(peak, cache.bytes));
      const epochs = 3;
      await runEpochs(cache, order, blocksInBudget * B, watch, epochs);
      expect(peak).toBeLessThanOrEqual(budget);
      // Every epoch reads every shard, except what the cache carries over from the epoch before.
      expect(reader.bytes).toBeGreaterThanOrEqual(epochs * datasetBytes - (epochs - 1) * budget);
      // Besides re-reads at block edges, prefetch may have read the next epoch's first block.
      const ahead = blocksInBudget === 2 ? B * largest : 0;
      expect(reader.bytes).toBeLessThan(epochs * datasetBytes * 1.05 + ahead);
      if (blocksInBudget === 2) expect(cache.stats.prefetched).toBeGreaterThan(0);
    });
  }

  it("a budget far below a block thrashes but stays within the budget", async () => {
    const order = new ShardOrder({ rows: ROWS, seed: 3, batchSize: 16, blockShards: 8 });
    const reader = new CountingReader();
    const cache = new ShardCache(reader, entries, 2 * largest);
    let peak = 0;
    await runEpochs(cache, order, 8, () => void (peak = Math.max(peak, cache.bytes)));
    expect(peak).toBeLessThanOrEqual(2 * largest);
    expect(reader.bytes).toBeGreaterThan(datasetBytes); // re-reads: the price of a small budget
  });

  it("shares in-flight loads, keeps prefetched shards over others, and rejects a too-small budget", async () => {
    const reader = new CountingReader();
    const cache = new ShardCache(reader, entries, 3 * largest);
    const [a, b] = await Promise.all([cache.get(5), cache.get(5)]);
    expect(a).toBe(b);
    expect(reader.reads).toBe(1);
    cache.prefetch([5, 6, 7, 8]); // 5 held; 6 and 7 fit; 8 would evict a wanted shard: skipped
    await cache.get(6);
    await cache.get(7);
    expect(reader.reads).toBe(3);
    expect(cache.has(5)).toBe(true);
    expect(() => new ShardCache(reader, entries, largest - 1)).toThrow(/below the largest shard/);
  });

  it("counts stalls: a get() that waits for a load (a miss, or a prefetch not finished); a held shard is none", async () => {
    const reader = new CountingReader();
    const cache = new ShardCache(reader, entries, 4 * largest);
    await cache.get(1); // a miss: waits for its load
    expect(cache.stats).toMatchObject({ misses: 1, hits: 0, stalls: 1 });
    await cache.get(1); // held
    expect(cache.stats).toMatchObject({ misses: 1, hits: 1, stalls: 1 });
    cache.prefetch([2]);
    await cache.get(2); // prefetched but still loading: a hit that stalls
    expect(cache.stats).toMatchObject({ misses: 1, hits: 2, stalls: 2, prefetched: 1 });
    cache.prefetch([3]);
    await new Promise((r) => setTimeout(r, 20)); // the prefetch arrives before it is needed
    await cache.get(3);
    expect(cache.stats).toMatchObject({ misses: 1, hits: 3, stalls: 2, prefetched: 2, loads: 3 });
    expect(cache.stats.stallMs).toBeGreaterThan(0);
  });

  it("hands an evicted shard's memory to the load that evicted it (same size only)", async () => {
    const reuses: (ArrayBuffer | undefined)[] = [];
    // Shards 0..3 of one size (the last, 4, smaller), as a real set's.
    const same = [0, 1, 2, 3, 4].map((i) => entryOf(i, i === 4 ? 20 : 50));
    const reader: ShardReader = {
      async read(e, reuse) {
        reuses.push(reuse);
        await new Promise((r) => setTimeout(r, 1));
        const buffer = reuse ?? new ArrayBuffer(e.bytes);
        const x = new Float32Array(buffer, e.xOffset, e.rows * F).fill(e.index);
        return { entry: e, rows: e.rows, x, y: new Int32Array(buffer, e.yOffset, e.rows).fill(e.index) };
      },
    };
    const cache = new ShardCache(reader, same, 2 * same[0]!.bytes);
    const b0 = await cache.get(0);
    const mem0 = b0.x.buffer;
    await cache.get(1);
    expect(reuses).toEqual([undefined, undefined]);
    const b2 = await cache.get(2); // evicts 0: its memory is read into
    expect(reuses[2]).toBe(mem0);
    expect(b2.x.buffer).toBe(mem0);
    expect(b2.x[0]).toBe(2);
    expect(cache.has(0)).toBe(false);
    await cache.get(4); // evicts 1, whose size differs: a fresh buffer
    expect(reuses[3]).toBeUndefined();
    expect(cache.bytes).toBeLessThanOrEqual(cache.budgetBytes);
  });

  it("a failed load is an error at get(), and a failed prefetch is retried there", async () => {
    const reader = new CountingReader();
    const cache = new ShardCache(reader, entries, 4 * largest);
    reader.failing.add(2);
    await expect(cache.get(2)).rejects.toThrow("cannot read train/00002.bin");
    cache.prefetch([3]);
    reader.failing.add(3);
    await new Promise((r) => setTimeout(r, 10));
    reader.failing.delete(3);
    expect((await cache.get(3)).entry.index).toBe(3);
    expect(reader.perShard.get(3)).toBe(2);
    expect(cache.bytes).toBe(entries[3]!.bytes);
    await expect(cache.get(99)).rejects.toThrow("no train shard 99 (the set has 24)");
  });
});

// The partitioned order: P partitions of each epoch's shard permutation, one block-shuffled stream
// each, every batch P sub-batches; resumable from the step number alone.
import { describe, expect, it } from "vitest";
import { PartitionedOrder, dealShards, type PartitionedOrderOptions } from "./partitions";

const ROWS = [7, 13, 5, 20, 1, 9, 11, 3, 8, 16, 2, 14, 6];
const total = ROWS.reduce((a, b) => a + b, 0);
const order = (over: Partial<PartitionedOrderOptions> = {}) => new PartitionedOrder({ rows: ROWS, seed: 9, batchSize: 8, blockShards: 2, partitions: 3, ...over });

/** Every (shard, row) of an epoch, per partition (the batch's sub-batches in order). */
function epochParts(o: PartitionedOrder, epoch: number): string[][] {
  const out: string[][] = o.sizes.map(() => []);
  for (let i = 0; i < o.stepsPerEpoch; i++) {
    const b = o.batch(epoch * o.stepsPerEpoch + i);
    let at = 0;
    o.sizes.forEach((size, p) => {
      for (let k = at; k < at + size; k++) out[p]!.push(`${b.shard[k]}:${b.row[k]}`);
      at += size;
    });
  }
  return out;
}
const shardOf = (pair: string): number => Number(pair.split(":")[0]);

describe("PartitionedOrder", () => {
  it("deals each epoch's shards into disjoint partitions, the same row counts every epoch, within one shard of each other", () => {
    const o = order();
    const heldIn = (epoch: number) => [0, 1, 2].map((p) => [...o.partitionShards(epoch, p)].reduce((a, i) => a + ROWS[i]!, 0));
    for (const epoch of [0, 1, 5]) {
      const parts = [0, 1, 2].map((p) => [...o.partitionShards(epoch, p)]);
      expect(parts.flat().sort((a, b) => a - b)).toEqual([...ROWS.keys()]); // disjoint, and every shard dealt
      expect(heldIn(epoch)).toEqual(heldIn(0));
      expect(Math.max(...heldIn(epoch)) - Math.min(...heldIn(epoch))).toBeLessThanOrEqual(Math.max(...ROWS));
    }
    expect(heldIn(0)).toEqual([38, 38, 39]); // 115 rows, largest first: as even as the sizes allow
    expect([...o.partitionShards(0, 0)]).not.toEqual([...o.partitionShards(1, 0)]);
    // A partition lists its shards in the permutation's order (not largest first): the small ones are not always last.
    const perm = Int32Array.from([4, 0, 3, 1, 2]);
    // Dealt largest first (3; then 0, 1, 2 in the permutation's order; then 4): 9+5 and 5+5+1 rows.
    expect(dealShards(perm, Int32Array.from([5, 5, 5, 9, 1]), 2).map((d) => [...d])).toEqual([[3, 2], [4, 0, 1]]);
  });

  it("the epoch rule: S = the shortest partition's full sub-batches; each row at most once; the rest of each partition left out", () => {
    const o = order();
    expect(o.sizes).toEqual([3, 3, 2]);
    // Partitions of 38, 38, 39 rows and sub-batches of 3, 3, 2: min(12, 12, 19) = 12 steps.
    expect(o.stepsPerEpoch).toBe(12);
    expect(o.rowsPerEpoch).toBe(12 * 8);
    for (const epoch of [0, 1, 4]) {
      const parts = epochParts(o, epoch);
      const all = parts.flat();
      expect(all.length).toBe(o.rowsPerEpoch);
      expect(new Set(all).size).toBe(all.length); // no row twice
      parts.forEach((seen, p) => {
        const mine = new Set(o.partitionShards(epoch, p));
        expect(seen.every((pair) => mine.has(shardOf(pair)))).toBe(true); // sub-batch p reads partition p only
        expect(seen.length).toBe(o.stepsPerEpoch * o.sizes[p]!);
        for (const pair of seen) expect(Number(pair.split(":")[1])).toBeLessThan(ROWS[shardOf(pair)]!);
      });
    }
    // Over epochs the dropped rows differ: every row is trained on in some epoch.
    const ever = new Set(Array.from({ length: 8 }, (_, e) => epochParts(o, e).flat()).flat());
    expect(ever.size).toBe(total);
  });

  it("a step's batch from the step number alone equals iterating from step 0; deterministic from the seed", () => {
    const a = order();
    const steps = 3 * a.stepsPerEpoch;
    const pairs = (o: PartitionedOrder, s: number) => Array.from(o.batch(s).shard, (x, i) => `${x}:${o.batch(s).row[i]}`);
    const forward = Array.from({ length: steps }, (_, s) => pairs(a, s));
    const b = order();
    for (const s of [17, 3, steps - 1, 0, 9, 9, a.stepsPerEpoch, 2 * a.stepsPerEpoch - 1]) expect(pairs(b, s)).toEqual(forward[s]);
    expect(epochParts(order(), 2)).toEqual(epochParts(order(), 2));
    expect(epochParts(order(), 0)).not.toEqual(epochParts(order({ seed: 10 }), 0));
    expect(epochParts(order(), 0)).not.toEqual(epochParts(order(), 1));
  });

  it("shardsAhead(step, n, p) lists partition p's shards only: its block, the next ones, then its next epoch's", () => {
    const o = order();
    for (const p of [0, 1, 2]) {
      const mine = [...o.partitionShards(0, p)];
      expect(o.shardsAhead(0, 100, p).slice(0, mine.length)).toEqual(mine);
      expect(o.shardsAhead(0, 3, p)).toEqual(mine.slice(0, 3));
      const last = o.shardsAhead(o.stepsPerEpoch - 1, 100, p);
      expect(last.slice(-o.partitionShards(1, p).length)).toEqual([...o.partitionShards(1, p)]);
      // A run of 1 epoch prefetches nothing of epoch 1.
      const oneEpoch = order({ epochs: 1 }).shardsAhead(o.stepsPerEpoch - 1, 100, p);
      expect(oneEpoch.every((s) => mine.includes(s))).toBe(true);
    }
    // Without a partition: all of them, taken in turn.
    const all = o.shardsAhead(0, 6);
    expect(all.slice(0, 3)).toEqual([0, 1, 2].map((p) => o.partitionShards(0, p)[0]));
    expect(new Set(all).size).toBe(6);
  });

  it("refuses partitions it cannot fill", () => {
    expect(() => order({ partitions: 14 })).toThrow("14 partitions need at least 14 train shards (the set has 13)");
    expect(() => order({ partitions: 9 })).toThrow("9 partitions need a batch of at least 9 rows (got 8)");
    expect(() => order({ partitions: 6, batchSize: 200 })).toThrow("6 partitions of train shards cannot each fill a sub-batch of 34 rows (the smallest holds 19)");
  });

  it("10^8 rows in 10^4 shards, 4 partitions: a late step at once, without a dataset-sized array", () => {
    const rows = Array.from({ length: 10_000 }, () => 10_000);
    const make = () => new PartitionedOrder({ rows, seed: 1, batchSize: 512, blockShards: 4, partitions: 4 });
    const big = make();
    const heap0 = process.memoryUsage().arrayBuffers + process.memoryUsage().heapUsed;
    const t0 = performance.now();
    const step = 5 * big.stepsPerEpoch + big.stepsPerEpoch - 2;
    const b = big.batch(step);
    expect(performance.now() - t0).toBeLessThan(500);
    expect(process.memoryUsage().arrayBuffers + process.memoryUsage().heapUsed - heap0).toBeLessThan(50 * 1024 * 1024);
    expect(b.epoch).toBe(5);
    expect(b.shard.length).toBe(512);
    expect([...make().batch(step).row]).toEqual([...b.row]);
    // Equal shards deal evenly: an epoch leaves out only what does not fill a last batch.
    expect(big.stepsPerEpoch).toBe(Math.floor(1e8 / 512));
  });
});

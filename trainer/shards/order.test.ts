// The shard-set sample order: a permutation of the train rows per epoch, resumable from the step
// number alone, and cheap (one block in memory) even for 10^8 rows.
import { describe, expect, it } from "vitest";
import { ShardOrder, type ShardBatch } from "./order";

const ROWS = [7, 13, 5, 20, 1, 9, 11, 3, 8, 16, 2];
const total = ROWS.reduce((a, b) => a + b, 0);
const order = (over: Partial<ConstructorParameters<typeof ShardOrder>[0]> = {}) =>
  new ShardOrder({ rows: ROWS, seed: 9, batchSize: 8, blockShards: 3, ...over });

const pairs = (b: ShardBatch): string[] => Array.from(b.shard, (s, i) => `${s}:${b.row[i]}`);

function epochPairs(o: ShardOrder, epoch: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < o.stepsPerEpoch; i++) out.push(...pairs(o.batch(epoch * o.stepsPerEpoch + i)));
  return out;
}

describe("ShardOrder", () => {
  it("every train row appears exactly once per epoch; the last batch may be short", () => {
    const o = order();
    expect(o.stepsPerEpoch).toBe(Math.ceil(total / 8));
    for (const epoch of [0, 1, 4]) {
      const seen = epochPairs(o, epoch);
      expect(seen.length).toBe(total);
      expect(new Set(seen).size).toBe(total);
      for (const p of seen) {
        const [s, r] = p.split(":").map(Number) as [number, number];
        expect(r).toBeGreaterThanOrEqual(0);
        expect(r).toBeLessThan(ROWS[s]!);
      }
    }
    expect(o.batch(o.stepsPerEpoch - 1).shard.length).toBe(total - 8 * (o.stepsPerEpoch - 1));
  });

  it("epochs and seeds differ; rows stay within their block", () => {
    const o = order();
    expect(epochPairs(o, 0)).not.toEqual(epochPairs(o, 1));
    expect(epochPairs(o, 0)).not.toEqual(epochPairs(order({ seed: 10 }), 0));
    // The first rows of an epoch come from its first block's shards only.
    const first = new Set(o.blockShards(0, 0));
    const blockRows = [...first].reduce((a, s) => a + ROWS[s]!, 0);
    expect(epochPairs(o, 0).slice(0, blockRows).every((p) => first.has(Number(p.split(":")[0])))).toBe(true);
  });

  it("plan(step) from the step alone equals iterating from step 0, in any order", () => {
    const a = order();
    const steps = 3 * a.stepsPerEpoch;
    const forward = Array.from({ length: steps }, (_, s) => pairs(a.batch(s)));
    const b = order();
    for (const s of [17, 3, steps - 1, 0, 9, 9, a.stepsPerEpoch, 2 * a.stepsPerEpoch - 1]) expect(pairs(b.batch(s))).toEqual(forward[s]);
  });

  it("block size 1 and a block of every shard are both permutations", () => {
    for (const blockShards of [1, ROWS.length, 100]) {
      const seen = epochPairs(order({ blockShards }), 2);
      expect(new Set(seen).size).toBe(total);
    }
  });

  it("shardsAhead lists the current block's shards first, then the next blocks' and epoch's", () => {
    const o = order();
    const ahead = o.shardsAhead(0, 6);
    expect(ahead.slice(0, 3)).toEqual([...o.blockShards(0, 0)]);
    expect(ahead.slice(3)).toEqual([...o.blockShards(0, 1)]);
    const last = o.shardsAhead(o.stepsPerEpoch - 1, 4);
    expect(last.slice(0, 2)).toEqual([...o.blockShards(0, o.blocksPerEpoch - 1)]);
    expect(last.slice(2)).toEqual([...o.blockShards(1, 0)].slice(0, 2));
  });

  it("pinned: the order of these options as first committed (run ids, checkpoints and weights depend on it)", () => {
    const o = order();
    expect(pairs(o.batch(0))).toEqual(["9:8", "3:14", "3:18", "3:1", "1:7", "3:5", "1:2", "9:14"]);
    expect(pairs(o.batch(7))).toEqual(["0:5", "2:2", "7:2", "7:0", "0:0", "2:3", "2:0", "0:1"]);
    expect(pairs(o.batch(13))).toEqual(["3:12", "3:14", "3:6", "1:4", "1:3", "3:7", "1:7", "1:10"]);
    expect(o.shardsAhead(o.stepsPerEpoch - 1, 5)).toEqual([8, 4, 10, 1, 3]);
    // A run of one epoch prefetches nothing of the next.
    expect(order({ epochs: 1 }).shardsAhead(o.stepsPerEpoch - 1, 5)).toEqual([8, 4]);
  });

  it("10^8 rows in 10^4 shards: a late step is planned at once, without a dataset-sized array", () => {
    const rows = Array.from({ length: 10_000 }, () => 10_000);
    const big = new ShardOrder({ rows, seed: 1, batchSize: 512, blockShards: 4 });
    const heap0 = process.memoryUsage().arrayBuffers + process.memoryUsage().heapUsed;
    const t0 = performance.now();
    const step = 5 * big.stepsPerEpoch + big.stepsPerEpoch - 2; // epoch 5, its second-to-last step
    const b = big.batch(step);
    const ms = performance.now() - t0;
    const grown = process.memoryUsage().arrayBuffers + process.memoryUsage().heapUsed - heap0;
    expect(b.epoch).toBe(5);
    expect(b.shard.length).toBe(512);
    expect(ms).toBeLessThan(500);
    expect(grown).toBeLessThan(50 * 1024 * 1024); // a 10^8-row Int32Array alone would be 400 MB
    const again = new ShardOrder({ rows, seed: 1, batchSize: 512, blockShards: 4 }).batch(step);
    expect(pairs(again)).toEqual(pairs(b));
  });
});

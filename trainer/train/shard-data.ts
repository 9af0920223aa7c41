// Training from a shard set without loading it: the batch order is a ShardOrder (one block of
// shards shuffled together) or, with `partitions`, a PartitionedOrder (one such stream per
// partition; a step's jobs are its partitions' sub-batches), batch rows come from a byte-bounded
// ShardCache that prefetches the next shards, and the held-out split is streamed shard by shard
// for evaluation and export.
//
// A step's rows are named by their index in the train split (a shard's firstRow + the row within
// it), so StepPlan, checkpoints and gradient averaging are the same as for data in memory.
import { createHash } from "node:crypto";
import type { Split } from "../data/types";
import type { ExportData } from "../export/export";
import { ShardCache } from "../shards/cache";
import type { ShardEntry } from "../shards/format";
import { ShardOrder, type SampleOrder } from "../shards/order";
import { PartitionedOrder } from "../shards/partitions";
import type { ShardSet } from "../shards/reader";
import { evaluateBlocks } from "./evaluate";
import type { GradientSource, TimedGradient, TrainData } from "./loop";
import type { Evaluation } from "./metrics";
import type { Arch } from "./arch";
import { modelFor, type ArchModel } from "./models";
import { shardRows, type Planner, type StepPlan } from "./plan";

export type ShardTrainingOptions = {
  /** Shards shuffled together (the order's block). */
  blockShards: number;
  /** Byte budget of the train-shard cache. */
  cacheBytes: number;
  /** Partitions of the order (train --partitions): fixed for the run, part of its id. Absent: one ShardOrder stream. */
  partitions?: number;
};

/** Seed of the int8 calibration sample's order (as exportDataOf's 0x1a8 for data in memory). */
const CALIBRATION_SEED = 0x1a8;

/** The train shards' content (rows and sha256, in order) with schema: what workers check a set against. */
export function shardSetFingerprint(set: ShardSet): string {
  const h = createHash("sha256");
  h.update(JSON.stringify({ features: set.features, labels: set.manifest.schema.labels }));
  for (const e of set.shards("train")) h.update(`${e.rows}:${e.sha256}\n`);
  return h.digest("hex");
}

/** Index of the shard holding train row `row` (binary search over firstRow). */
function shardOfRow(entries: readonly ShardEntry[], row: number): number {
  let lo = 0;
  let hi = entries.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (entries[mid]!.firstRow <= row) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * Batches of an order as StepPlans of train-row indices, cut into `parts` jobs; for a partitioned
 * order the cut (shardRows') falls exactly between its partitions' sub-batches.
 */
export class ShardPlanner implements Planner {
  readonly stepsPerEpoch: number;
  constructor(
    readonly order: SampleOrder,
    private readonly entries: readonly ShardEntry[],
    private readonly parts: number,
  ) {
    if (order instanceof PartitionedOrder && parts !== order.partitions) throw new Error(`${order.partitions} partitions need ${order.partitions} gradient jobs per step (got ${parts})`);
    this.stepsPerEpoch = order.stepsPerEpoch;
  }
  plan(step: number): StepPlan {
    const b = this.order.batch(step);
    const rows = Int32Array.from(b.shard, (s, i) => this.entries[s]!.firstRow + b.row[i]!);
    return { step, epoch: b.epoch, index: b.index, shards: shardRows(rows, this.parts), rows: rows.length };
  }
}

/** Copies train rows (by index) into one batch, each shard fetched once from the cache. */
export async function gatherShardRows(cache: ShardCache, entries: readonly ShardEntry[], features: number, rows: Int32Array, buffer?: Float32Array): Promise<Split> {
  const n = rows.length;
  const x = buffer && buffer.length >= n * features ? buffer.subarray(0, n * features) : new Float32Array(n * features);
  const y = new Int32Array(n);
  const byShard = new Map<number, number[]>();
  for (let p = 0; p < n; p++) {
    const s = shardOfRow(entries, rows[p]!);
    const list = byShard.get(s);
    if (list) list.push(p);
    else byShard.set(s, [p]);
  }
  for (const [s, positions] of byShard) {
    const block = await cache.get(s);
    const first = entries[s]!.firstRow;
    for (const p of positions) {
      const r = rows[p]! - first;
      x.set(block.x.subarray(r * features, (r + 1) * features), p * features);
      y[p] = block.y[r]!;
    }
  }
  return { x, y, rows: n };
}

/** In-process gradients over a shard set: rows through the cache, the next shards prefetched. */
export class ShardGradients implements GradientSource {
  readonly kind = "in-process (shard set)";
  private batch = new Float32Array(0);
  private readonly model: ArchModel;
  constructor(
    arch: Arch,
    private readonly data: ShardTrainingData,
  ) {
    this.model = modelFor(arch);
  }
  async compute(params: Float32Array, plan: StepPlan): Promise<TimedGradient[]> {
    const { cache, entries, features } = this.data;
    // Ask for this step's block and what follows, as far as the budget goes: loads overlap compute.
    cache.prefetch(this.data.shardsAhead(plan.step));
    // One turn of the event loop per step: the gradient holds the thread, and a prefetch (open,
    // read, hash in the thread pool) only moves on between steps; without this turn it would
    // move only when a gather waits for it.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const out: TimedGradient[] = [];
    for (const rows of plan.shards) {
      const t0 = performance.now();
      if (this.batch.length < rows.length * features) this.batch = new Float32Array(rows.length * features);
      const b = await gatherShardRows(cache, entries, features, rows, this.batch);
      const t1 = performance.now();
      const g = this.model.computeGradient(params, b.x, b.y);
      out.push({ ...g, gatherMs: t1 - t0, computeMs: performance.now() - t1 });
    }
    return out;
  }
}

/** A shard set as training data: TrainData for train(), ExportData for the export. */
export class ShardTrainingData implements TrainData {
  readonly entries: ShardEntry[];
  readonly cache: ShardCache;
  /** How many shards fit the cache: how far ahead prefetch reaches. */
  readonly aheadShards: number;
  private order: SampleOrder | undefined;

  constructor(
    readonly set: ShardSet,
    readonly o: ShardTrainingOptions,
  ) {
    this.entries = set.shards("train");
    if (this.entries.length === 0) throw new Error(`${set.source.location}: the shard set has no train rows`);
    if (set.manifest.rows.test === 0) throw new Error(`${set.source.location}: the shard set has no held-out rows to evaluate on`);
    if (set.manifest.rows.train >= 2 ** 31) throw new Error(`${set.source.location}: ${set.manifest.rows.train} train rows is more than this trainer indexes (2^31 - 1)`);
    this.cache = new ShardCache(set, this.entries, o.cacheBytes);
    const largest = Math.max(...this.entries.map((e) => e.bytes));
    this.aheadShards = Math.max(1, Math.floor(o.cacheBytes / largest));
  }

  get features(): number {
    return this.set.features;
  }
  get labels(): readonly string[] {
    return this.set.manifest.schema.labels;
  }
  get positive(): number | undefined {
    return this.set.manifest.schema.positive;
  }
  get trainRows(): number {
    return this.set.manifest.rows.train;
  }

  /** The train shards' content, the block size and the partitions, which shape the order (so the trajectory). */
  fingerprint(): string {
    const partitions = this.o.partitions === undefined ? "" : ` in ${this.o.partitions} partitions`;
    return createHash("sha256").update(`${shardSetFingerprint(this.set)} blocks of ${this.o.blockShards}${partitions}`).digest("hex");
  }

  planner(batchSize: number, seed: number, shards: number, epochs: number): Planner {
    const o = { rows: this.entries.map((e) => e.rows), seed, batchSize, blockShards: this.o.blockShards, epochs };
    this.order = this.o.partitions === undefined ? new ShardOrder(o) : new PartitionedOrder({ ...o, partitions: this.o.partitions });
    return new ShardPlanner(this.order, this.entries, shards);
  }

  /**
   * Train shards the steps from `step` on read, in order of need, as many as the cache holds: what
   * to prefetch (in-process, and workers through their jobs). `part` (a job's shard index): only
   * that partition's, if the order is partitioned; ShardOrder's steps read every shard of a block.
   */
  shardsAhead(step: number, part?: number): number[] {
    return this.orderFor(step).shardsAhead(step, this.aheadShards, part);
  }

  /** The order train() planned with (ShardGradients prefetches by it). */
  orderFor(step: number): SampleOrder {
    if (!this.order) throw new Error(`step ${step} computed before train() planned the shard set`);
    return this.order;
  }

  /** Who scores the held-out shards instead of this process (a cluster's workers), if anyone. */
  heldOutEvaluator: ((arch: Arch, params: Float32Array) => Promise<Evaluation>) | undefined;

  evaluate(arch: Arch, params: Float32Array): Promise<Evaluation> {
    if (this.heldOutEvaluator) return this.heldOutEvaluator(arch, params);
    return evaluateBlocks(arch, params, this.set.blocks("test"), this.positive);
  }

  exportData(): ExportData {
    const { features: F, set } = this;
    const { featurizer } = set.manifest.schema;
    return {
      features: F,
      labels: this.labels,
      ...(this.positive !== undefined ? { positive: this.positive } : {}),
      preprocessing: featurizer ? { id: featurizer.id, params: { ...featurizer.params } } : null,
      heldOutRows: set.manifest.rows.test,
      sample: async (rows) => {
        const x = new Float32Array(rows * F);
        let got = 0;
        for await (const b of set.blocks("test")) {
          const n = Math.min(rows - got, b.rows);
          x.set(b.x.subarray(0, n * F), got * F);
          got += n;
          if (got === rows) break;
        }
        return x;
      },
      // The first rows of a seeded order: a shuffled sample from one block of shards.
      calibration: async (rows) => {
        const order = new ShardOrder({ rows: this.entries.map((e) => e.rows), seed: CALIBRATION_SEED, batchSize: Math.max(1, rows), blockShards: this.o.blockShards });
        const b = order.batch(0);
        const idx = Int32Array.from(b.shard, (s, i) => this.entries[s]!.firstRow + b.row[i]!);
        return gatherShardRows(this.cache, this.entries, F, idx);
      },
      heldOut: () => set.blocks("test"),
    };
  }
}

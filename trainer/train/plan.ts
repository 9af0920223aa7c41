// Which rows each step trains on: a deterministic function of (seed, step), so a resumed run, a
// cluster run and an in-process run see the same batches in the same order.
import { seededPermutation } from "../data/split";

/** Seed of epoch e's shuffle, mixed from the run seed. */
export function epochSeed(seed: number, epoch: number): number {
  return (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(epoch + 1, 0x85ebca6b)) >>> 0;
}

export type StepPlan = {
  step: number;
  epoch: number;
  /** Step index within its epoch. */
  index: number;
  /** Train-row indices of the batch, split into contiguous shards (one gradient job each). */
  shards: Int32Array[];
  rows: number;
};

/** Rows of part i when `total` rows are cut into `parts`: sizes differ by at most one, larger first. */
export function partSize(total: number, parts: number, i: number): number {
  return Math.floor(total / parts) + (i < total % parts ? 1 : 0);
}

/** Splits a batch into `shards` contiguous parts whose sizes differ by at most one (no empty parts). */
export function shardRows(rows: Int32Array, shards: number): Int32Array[] {
  const k = Math.max(1, Math.min(shards, rows.length));
  const out: Int32Array[] = [];
  let start = 0;
  for (let i = 0; i < k; i++) {
    const size = partSize(rows.length, k, i);
    out.push(rows.subarray(start, start + size));
    start += size;
  }
  return out;
}

/** Where each step's rows come from: BatchPlanner for rows in memory, a ShardOrder for shard sets. */
export interface Planner {
  readonly stepsPerEpoch: number;
  plan(step: number): StepPlan;
}

export class BatchPlanner implements Planner {
  readonly stepsPerEpoch: number;
  private cached: { epoch: number; perm: Int32Array } | undefined;

  constructor(
    readonly trainRows: number,
    readonly batchSize: number,
    readonly seed: number,
    readonly shards: number,
  ) {
    if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new Error(`batch size must be a positive integer (got ${batchSize})`);
    if (trainRows < 1) throw new Error("no training rows");
    this.stepsPerEpoch = Math.ceil(trainRows / batchSize);
  }

  plan(step: number): StepPlan {
    const epoch = Math.floor(step / this.stepsPerEpoch);
    const index = step % this.stepsPerEpoch;
    if (this.cached?.epoch !== epoch) this.cached = { epoch, perm: seededPermutation(this.trainRows, epochSeed(this.seed, epoch)) };
    const rows = this.cached.perm.subarray(index * this.batchSize, Math.min(this.trainRows, (index + 1) * this.batchSize));
    return { step, epoch, index, shards: shardRows(rows, this.shards), rows: rows.length };
  }
}

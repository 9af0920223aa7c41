// Partitioned sample order (`train --partitions P`), for clusters whose workers should each read
// only their own shards (Mosaic StreamingDataset's canonical partitions). Each epoch the seeded
// shard permutation (the one ShardOrder uses) is dealt into P partitions, balanced by rows; each
// partition is a BlockStream of its own (blocks of shards, rows shuffled within a block); step
// s's batch is P sub-batches, sub-batch p taken from partition p's stream at position
// s × (its size). Sub-batch sizes are shardRows' cut of the batch into P parts, so the StepPlan's
// P gradient jobs are exactly the P partitions' sub-batches.
//
// Epoch end: partitions hold different row counts (and the counts change with each epoch's
// deal), but an epoch has a fixed number of steps S, set by the smallest partition any deal can
// produce: the deal keeps every two partitions within one shard of rows (the largest, m) of each
// other, so every partition holds at least (rows - (P-1)·m) / P, and S = that ÷ the largest
// sub-batch, rounded down. Every batch is full; each partition's stream beyond its S sub-batches
// is dropped for that epoch (different rows each epoch: the deal and the shuffles change).
import { seededPermutation } from "../data/split";
import { epochSeed, partSize } from "../train/plan";
import { BlockStream, blockSeed, checkedRows, withNextEpoch, type SampleOrder, type ShardBatch, type ShardOrderOptions } from "./order";

export type PartitionedOrderOptions = ShardOrderOptions & { partitions: number };

/**
 * Deals shards, in the given order, each to the partition with the fewest rows so far (ties: the
 * lowest index). Any two partitions then differ by at most the largest shard's rows.
 */
export function dealShards(order: Int32Array, rows: Int32Array, parts: number): Int32Array[] {
  const held = Array.from({ length: parts }, () => 0);
  const dealt: number[][] = Array.from({ length: parts }, () => []);
  for (const s of order) {
    let p = 0;
    for (let q = 1; q < parts; q++) if (held[q]! < held[p]!) p = q;
    dealt[p]!.push(s);
    held[p]! += rows[s]!;
  }
  return dealt.map((d) => Int32Array.from(d));
}

export class PartitionedOrder implements SampleOrder {
  readonly stepsPerEpoch: number;
  readonly partitions: number;
  /** Rows of each partition's sub-batch. */
  readonly sizes: readonly number[];
  /** Train rows each epoch trains on (S × batch); the rest of the partitions' streams is dropped. */
  readonly rowsPerEpoch: number;
  private readonly rows: Int32Array;
  /** The streams of the current epoch and of the one prefetching looks into. */
  private epochs: { epoch: number; streams: BlockStream[] }[] = [];

  constructor(readonly o: PartitionedOrderOptions) {
    this.rows = checkedRows(o);
    const P = o.partitions;
    if (!(Number.isInteger(P) && P >= 1)) throw new Error(`partitions must be a positive integer (got ${P})`);
    if (P > this.rows.length) throw new Error(`${P} partitions need at least ${P} train shards (the set has ${this.rows.length})`);
    if (P > o.batchSize) throw new Error(`${P} partitions need a batch of at least ${P} rows (got ${o.batchSize})`);
    this.partitions = P;
    // shardRows' cut of the batch: the StepPlan's P jobs are then exactly the P sub-batches.
    this.sizes = Array.from({ length: P }, (_, p) => partSize(o.batchSize, P, p));
    const total = this.rows.reduce((a, b) => a + b, 0);
    const largest = this.rows.reduce((a, b) => Math.max(a, b), 0);
    const smallest = Math.floor((total - (P - 1) * largest) / P);
    this.stepsPerEpoch = Math.floor(smallest / this.sizes[0]!);
    if (this.stepsPerEpoch < 1) {
      throw new Error(`${P} partitions of ${total} train rows in shards of up to ${largest} rows cannot fill one batch of ${o.batchSize} (a partition may hold only ${Math.max(0, smallest)}): use fewer partitions, a smaller batch or smaller shards`);
    }
    this.rowsPerEpoch = this.stepsPerEpoch * o.batchSize;
  }

  private streams(epoch: number): BlockStream[] {
    const hit = this.epochs.find((e) => e.epoch === epoch);
    if (hit) return hit.streams;
    const e = epochSeed(this.o.seed, epoch);
    const dealt = dealShards(seededPermutation(this.rows.length, e), this.rows, this.partitions);
    // Each partition's blocks shuffled by seeds of their own (a partition's block b is not partition 0's).
    const streams = dealt.map((shards, p) => new BlockStream(this.rows, shards, this.o.blockShards, blockSeed(e ^ 0x5bd1e995, p)));
    this.epochs = [...this.epochs.slice(-1), { epoch, streams }];
    return streams;
  }

  /** Partition p's shards in an epoch, in order. */
  partitionShards(epoch: number, p: number): Int32Array {
    return this.streams(epoch)[p]!.shards;
  }

  batch(step: number): ShardBatch {
    if (!(Number.isSafeInteger(step) && step >= 0)) throw new Error(`bad step ${step}`);
    const epoch = Math.floor(step / this.stepsPerEpoch);
    const index = step % this.stepsPerEpoch;
    const shard = new Int32Array(this.o.batchSize);
    const row = new Int32Array(this.o.batchSize);
    const streams = this.streams(epoch);
    let at = 0;
    for (let p = 0; p < this.partitions; p++) {
      const size = this.sizes[p]!;
      streams[p]!.take(index * size, (index + 1) * size, shard, row, at);
      at += size;
    }
    return { step, epoch, index, shard, row };
  }

  /**
   * Shards the steps from `step` on read: partition `part`'s (its current block, the next ones,
   * then its shards of the next epoch), or without `part` all partitions' taken in turn.
   */
  shardsAhead(step: number, count: number, part?: number): number[] {
    if (part === undefined) {
      const lists = this.sizes.map((_, p) => this.shardsAhead(step, count, p));
      const out = new Set<number>();
      for (let i = 0; out.size < count && lists.some((l) => i < l.length); i++) for (const l of lists) if (i < l.length && out.size < count) out.add(l[i]!);
      return [...out];
    }
    if (!(Number.isInteger(part) && part >= 0 && part < this.partitions)) throw new Error(`no partition ${part} (the order has ${this.partitions})`);
    const epoch = Math.floor(step / this.stepsPerEpoch);
    const now = this.streams(epoch)[part]!.shardsFrom((step % this.stepsPerEpoch) * this.sizes[part]!, count);
    return withNextEpoch(now, count, epoch, this.o.epochs, () => this.streams(epoch + 1)[part]!.shards);
  }
}

// Partitioned sample order (`train --partitions P`), for clusters whose workers should each read
// only their own shards (Mosaic StreamingDataset's canonical partitions). Each epoch the seeded
// shard permutation (the one ShardOrder uses) is dealt into P partitions, balanced by rows; each
// partition is a BlockStream of its own (blocks of shards, rows shuffled within a block); step
// s's batch is P sub-batches, sub-batch p taken from partition p's stream at position
// s × (its size). Sub-batch sizes are shardRows' cut of the batch into P parts, so the StepPlan's
// P gradient jobs are exactly the P partitions' sub-batches.
//
// Epoch end: the deal gives every epoch's partitions the same row counts (dealShards), which may
// differ. An epoch is as many steps as the shortest partition fills, S = min over p of
// ⌊rows of p / sub-batch p⌋; every batch is full, and the rest of each partition's stream is left
// out of that epoch (different rows each epoch: the deal and the shuffles change).
import { seededPermutation } from "../data/split";
import { epochSeed, partSize } from "../train/plan";
import { BlockStream, blockSeed, checkedRows, withNextEpoch, type SampleOrder, type ShardBatch, type ShardOrderOptions } from "./order";

export type PartitionedOrderOptions = ShardOrderOptions & { partitions: number };

/**
 * Deals shards into partitions: largest first (equal sizes in the given order), each to the
 * partition with the fewest rows so far (ties: the lowest index); each partition lists its shards
 * in the given order. The choices depend only on the shard sizes, so the partitions' row counts
 * are the same whatever the order (every epoch's), and any two differ by at most one shard's rows.
 */
export function dealShards(order: Int32Array, rows: Int32Array, parts: number): Int32Array[] {
  const held = new Float64Array(parts);
  const part = new Int32Array(rows.length);
  for (const s of Array.from(order).sort((a, b) => rows[b]! - rows[a]!)) {
    let p = 0;
    for (let q = 1; q < parts; q++) if (held[q]! < held[p]!) p = q;
    part[s] = p;
    held[p]! += rows[s]!;
  }
  const dealt: number[][] = Array.from({ length: parts }, () => []);
  for (const s of order) dealt[part[s]!]!.push(s);
  return dealt.map((d) => Int32Array.from(d));
}

export class PartitionedOrder implements SampleOrder {
  readonly stepsPerEpoch: number;
  readonly partitions: number;
  /** Rows of each partition's sub-batch. */
  readonly sizes: readonly number[];
  /** Train rows each epoch trains on (S × batch); the rest of the partitions' streams is left out. */
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
    // Every epoch's partitions hold these rows (any order deals the same sizes to each).
    const held = dealShards(Int32Array.from(this.rows.keys()), this.rows, P).map((d) => d.reduce((a, s) => a + this.rows[s]!, 0));
    this.stepsPerEpoch = Math.min(...held.map((r, p) => Math.floor(r / this.sizes[p]!)));
    if (this.stepsPerEpoch < 1) {
      throw new Error(`${P} partitions of train shards cannot each fill a sub-batch of ${this.sizes[0]} rows (the smallest holds ${Math.min(...held)}): use fewer partitions, a smaller batch or smaller shards`);
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

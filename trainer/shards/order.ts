// Sample order over a shard set's train shards, in the spirit of Mosaic StreamingDataset:
// per epoch a seeded permutation of the shards, cut into blocks of `blockShards` shards; the
// rows of each block shuffled together by a seeded permutation of the block's rows; the
// resulting stream cut into batches (an epoch's last batch may be short, as BatchPlanner's).
//
// Memory: one Int32Array per shard count (the epoch's shard order and block offsets) and one per
// block's rows; never an array over the whole dataset. Any step's batch is computed from the
// step number alone, so a run resumes mid-epoch without replaying earlier steps.
import { seededPermutation } from "../data/split";
import { epochSeed } from "../train/plan";

/** A batch as (train shard index, row within that shard) pairs, in training order. */
export type ShardBatch = {
  step: number;
  epoch: number;
  /** Step index within its epoch. */
  index: number;
  shard: Int32Array;
  row: Int32Array;
};

export type ShardOrderOptions = {
  /** Rows of each train shard, by shard index. */
  rows: readonly number[];
  seed: number;
  batchSize: number;
  /** Shards whose rows are shuffled together: the memory (and cache) unit of the order. */
  blockShards: number;
};

/** Seed of block b's row shuffle in an epoch (a murmur3-style mix, so neighbours differ). */
export function blockSeed(epochSeedValue: number, block: number): number {
  let h = (epochSeedValue ^ Math.imul(block + 1, 0xcc9e2d51)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

type EpochLayout = {
  epoch: number;
  /** Shard indices in this epoch's order. */
  shards: Int32Array;
  /** Stream position where each block starts; one extra entry: the epoch's row count. */
  blockStart: Float64Array;
};

type BlockRows = {
  epoch: number;
  block: number;
  /** perm[p] = row index within the block's concatenated rows at stream position p of the block. */
  perm: Int32Array;
  /** Concatenated-row offset where each of the block's shards starts (+ the block's row count). */
  start: Float64Array;
};

/** Index of the last element of a sorted array that is <= v. */
function floorIndex(a: ArrayLike<number>, v: number, hi = a.length - 1): number {
  let lo = 0;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (a[mid]! <= v) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

export class ShardOrder {
  readonly totalRows: number;
  readonly stepsPerEpoch: number;
  readonly blocksPerEpoch: number;
  private readonly rows: Int32Array;
  private layout: EpochLayout | undefined;
  // Two blocks: a batch may straddle a block boundary, and consecutive steps revisit the later one.
  private blocks: BlockRows[] = [];

  constructor(readonly o: ShardOrderOptions) {
    if (!(Number.isInteger(o.batchSize) && o.batchSize >= 1)) throw new Error(`batch size must be a positive integer (got ${o.batchSize})`);
    if (!(Number.isInteger(o.blockShards) && o.blockShards >= 1)) throw new Error(`block size must be a positive integer of shards (got ${o.blockShards})`);
    if (o.rows.some((r) => !(Number.isInteger(r) && r >= 1 && r < 2 ** 31))) throw new Error("every shard needs a positive row count");
    this.rows = Int32Array.from(o.rows);
    this.totalRows = o.rows.reduce((a, b) => a + b, 0);
    if (this.totalRows < 1) throw new Error("no training rows");
    this.stepsPerEpoch = Math.ceil(this.totalRows / o.batchSize);
    this.blocksPerEpoch = Math.ceil(o.rows.length / o.blockShards);
  }

  get shardCount(): number {
    return this.rows.length;
  }

  private epochLayout(epoch: number): EpochLayout {
    if (this.layout?.epoch === epoch) return this.layout;
    const shards = seededPermutation(this.rows.length, epochSeed(this.o.seed, epoch));
    const blockStart = new Float64Array(this.blocksPerEpoch + 1);
    let pos = 0;
    for (let i = 0; i < shards.length; i++) {
      if (i % this.o.blockShards === 0) blockStart[i / this.o.blockShards] = pos;
      pos += this.rows[shards[i]!]!;
    }
    blockStart[this.blocksPerEpoch] = pos;
    this.layout = { epoch, shards, blockStart };
    return this.layout;
  }

  /** Shard indices of block b of an epoch, in order. */
  blockShards(epoch: number, block: number): Int32Array {
    const B = this.o.blockShards;
    return this.epochLayout(epoch).shards.subarray(block * B, Math.min(this.rows.length, (block + 1) * B));
  }

  private blockRows(epoch: number, block: number): BlockRows {
    const hit = this.blocks.find((b) => b.epoch === epoch && b.block === block);
    if (hit) return hit;
    const shards = this.blockShards(epoch, block);
    const start = new Float64Array(shards.length + 1);
    for (let i = 0; i < shards.length; i++) start[i + 1] = start[i]! + this.rows[shards[i]!]!;
    const perm = seededPermutation(start[shards.length]!, blockSeed(epochSeed(this.o.seed, epoch), block));
    const b = { epoch, block, perm, start };
    this.blocks = [...this.blocks.slice(-1), b];
    return b;
  }

  /** The global batch of a step: computable from the step number alone. */
  batch(step: number): ShardBatch {
    if (!(Number.isSafeInteger(step) && step >= 0)) throw new Error(`bad step ${step}`);
    const epoch = Math.floor(step / this.stepsPerEpoch);
    const index = step % this.stepsPerEpoch;
    const from = index * this.o.batchSize;
    const to = Math.min(this.totalRows, from + this.o.batchSize);
    const shard = new Int32Array(to - from);
    const row = new Int32Array(to - from);
    const layout = this.epochLayout(epoch);
    let block = floorIndex(layout.blockStart, from, this.blocksPerEpoch - 1);
    for (let p = from; p < to; ) {
      const b = this.blockRows(epoch, block);
      const shards = this.blockShards(epoch, block);
      const base = layout.blockStart[block]!;
      const end = Math.min(to, layout.blockStart[block + 1]!);
      for (; p < end; p++) {
        const q = b.perm[p - base]!;
        const i = floorIndex(b.start, q, shards.length - 1);
        shard[p - from] = shards[i]!;
        row[p - from] = q - b.start[i]!;
      }
      block++;
    }
    return { step, epoch, index, shard, row };
  }

  /**
   * Shards the steps from `step` on will read, in order of first need: the rest of the step's
   * block, then the following blocks (into the next epoch), `count` shards at most. What to prefetch.
   */
  shardsAhead(step: number, count: number): number[] {
    const epoch = Math.floor(step / this.stepsPerEpoch);
    const from = (step % this.stepsPerEpoch) * this.o.batchSize;
    const layout = this.epochLayout(epoch);
    const B = this.o.blockShards;
    const first = floorIndex(layout.blockStart, from, this.blocksPerEpoch - 1) * B;
    const out = [...layout.shards.subarray(first, first + count)];
    if (out.length < count) out.push(...seededPermutation(this.rows.length, epochSeed(this.o.seed, epoch + 1)).subarray(0, count - out.length));
    return out;
  }
}

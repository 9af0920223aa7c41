// Sample order over a shard set's train shards, in the spirit of Mosaic StreamingDataset:
// per epoch a seeded permutation of the shards, cut into blocks of `blockShards` shards; the
// rows of each block shuffled together by a seeded permutation of the block's rows; the
// resulting stream cut into batches (an epoch's last batch may be short, as BatchPlanner's).
// partitions.ts deals the same permutation into partitions, each a BlockStream of its own.
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
  /** Epochs the run has: shardsAhead does not reach past the last one (no reads the run never uses). */
  epochs?: number;
};

/** What ShardPlanner and prefetching need of an order over train shards. */
export interface SampleOrder {
  readonly stepsPerEpoch: number;
  /** The global batch of a step: computable from the step number alone. */
  batch(step: number): ShardBatch;
  /** Train shards the steps from `step` on read, in order of first need, `count` at most (`part`: one partition's, if the order has them). */
  shardsAhead(step: number, count: number, part?: number): number[];
}

/** Seed of block b's row shuffle in an epoch (a murmur3-style mix, so neighbours differ). */
export function blockSeed(epochSeedValue: number, block: number): number {
  let h = (epochSeedValue ^ Math.imul(block + 1, 0xcc9e2d51)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Checks the options every order shares; the shards' rows as an Int32Array. */
export function checkedRows(o: ShardOrderOptions): Int32Array {
  if (!(Number.isInteger(o.batchSize) && o.batchSize >= 1)) throw new Error(`batch size must be a positive integer (got ${o.batchSize})`);
  if (!(Number.isInteger(o.blockShards) && o.blockShards >= 1)) throw new Error(`block size must be a positive integer of shards (got ${o.blockShards})`);
  if (o.rows.some((r) => !(Number.isInteger(r) && r >= 1 && r < 2 ** 31))) throw new Error("every shard needs a positive row count");
  if (o.rows.length === 0) throw new Error("no training rows");
  return Int32Array.from(o.rows);
}

type BlockRows = {
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

/**
 * The row stream of one sequence of shards: cut into blocks of `blockShards`, the rows of block b
 * shuffled together by blockSeed(seed, b). Keeps two blocks' permutations (a batch may straddle a
 * block boundary, and consecutive batches revisit the later block).
 */
export class BlockStream {
  private readonly blocks: number;
  /** Stream position where each block starts; one extra entry: the stream's length. */
  private readonly blockStart: Float64Array;
  private cached: BlockRows[] = [];

  constructor(
    /** Rows of every train shard, by shard index. */
    private readonly rows: Int32Array,
    /** This stream's shards, in order. */
    readonly shards: Int32Array,
    private readonly blockShards: number,
    private readonly seed: number,
  ) {
    this.blocks = Math.ceil(shards.length / blockShards);
    this.blockStart = new Float64Array(this.blocks + 1);
    let pos = 0;
    for (let i = 0; i < shards.length; i++) {
      if (i % blockShards === 0) this.blockStart[i / blockShards] = pos;
      pos += rows[shards[i]!]!;
    }
    this.blockStart[this.blocks] = pos;
  }

  /** Shard indices of block b, in order. */
  blockShardsOf(block: number): Int32Array {
    const B = this.blockShards;
    return this.shards.subarray(block * B, Math.min(this.shards.length, (block + 1) * B));
  }

  private blockRows(block: number): BlockRows {
    const hit = this.cached.find((b) => b.block === block);
    if (hit) return hit;
    const shards = this.blockShardsOf(block);
    const start = new Float64Array(shards.length + 1);
    for (let i = 0; i < shards.length; i++) start[i + 1] = start[i]! + this.rows[shards[i]!]!;
    const b = { block, perm: seededPermutation(start[shards.length]!, blockSeed(this.seed, block)), start };
    this.cached = [...this.cached.slice(-1), b];
    return b;
  }

  /** Writes the (shard, row) pairs at stream positions [from, to) into shard/row from index `at`. */
  take(from: number, to: number, shard: Int32Array, row: Int32Array, at: number): void {
    let block = floorIndex(this.blockStart, from, this.blocks - 1);
    for (let p = from; p < to; ) {
      const b = this.blockRows(block);
      const shards = this.blockShardsOf(block);
      const base = this.blockStart[block]!;
      const end = Math.min(to, this.blockStart[block + 1]!);
      for (; p < end; p++) {
        const q = b.perm[p - base]!;
        const i = floorIndex(b.start, q, shards.length - 1);
        shard[at + p - from] = shards[i]!;
        row[at + p - from] = q - b.start[i]!;
      }
      block++;
    }
  }

  /** The shards from the block holding stream position `pos` on, `count` at most. */
  shardsFrom(pos: number, count: number): Int32Array {
    const first = floorIndex(this.blockStart, pos, this.blocks - 1) * this.blockShards;
    return this.shards.subarray(first, first + count);
  }
}

/** `count` shards: `now`'s, then `next()`'s, the next epoch's (only if the run has one). */
export function withNextEpoch(now: ArrayLike<number>, count: number, epoch: number, epochs: number | undefined, next: () => ArrayLike<number>): number[] {
  const out = Array.from(now);
  if (out.length < count && (epochs === undefined || epoch + 1 < epochs)) out.push(...Array.from(next()).slice(0, count - out.length));
  return out;
}

export class ShardOrder implements SampleOrder {
  readonly totalRows: number;
  readonly stepsPerEpoch: number;
  readonly blocksPerEpoch: number;
  private readonly rows: Int32Array;
  private stream: { epoch: number; s: BlockStream } | undefined;

  constructor(readonly o: ShardOrderOptions) {
    this.rows = checkedRows(o);
    this.totalRows = o.rows.reduce((a, b) => a + b, 0);
    this.stepsPerEpoch = Math.ceil(this.totalRows / o.batchSize);
    this.blocksPerEpoch = Math.ceil(o.rows.length / o.blockShards);
  }

  get shardCount(): number {
    return this.rows.length;
  }

  private epochStream(epoch: number): BlockStream {
    if (this.stream?.epoch === epoch) return this.stream.s;
    const e = epochSeed(this.o.seed, epoch);
    const s = new BlockStream(this.rows, seededPermutation(this.rows.length, e), this.o.blockShards, e);
    this.stream = { epoch, s };
    return s;
  }

  /** Shard indices of block b of an epoch, in order. */
  blockShards(epoch: number, block: number): Int32Array {
    return this.epochStream(epoch).blockShardsOf(block);
  }

  batch(step: number): ShardBatch {
    if (!(Number.isSafeInteger(step) && step >= 0)) throw new Error(`bad step ${step}`);
    const epoch = Math.floor(step / this.stepsPerEpoch);
    const index = step % this.stepsPerEpoch;
    const from = index * this.o.batchSize;
    const to = Math.min(this.totalRows, from + this.o.batchSize);
    const shard = new Int32Array(to - from);
    const row = new Int32Array(to - from);
    this.epochStream(epoch).take(from, to, shard, row, 0);
    return { step, epoch, index, shard, row };
  }

  /**
   * Shards the steps from `step` on will read, in order of first need: the rest of the step's
   * block, then the following blocks (into the next epoch), `count` shards at most. What to prefetch.
   */
  shardsAhead(step: number, count: number): number[] {
    const epoch = Math.floor(step / this.stepsPerEpoch);
    const now = this.epochStream(epoch).shardsFrom((step % this.stepsPerEpoch) * this.o.batchSize, count);
    return withNextEpoch(now, count, epoch, this.o.epochs, () => seededPermutation(this.rows.length, epochSeed(this.o.seed, epoch + 1)));
  }
}

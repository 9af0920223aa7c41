// The streaming shard writer: rows in, fixed-size shards and a manifest out. Memory is one
// shard buffer per split (x as float32 in place, y beside it), reused from shard to shard; a
// full buffer is hashed and put before the next row is pulled, so a slow store slows the
// source instead of queueing rows.
//
// Why two shard sets (train/, test/) rather than a split bit per row: the trainer's loop reads
// only training rows and evaluation only held-out ones, so neither downloads bytes it throws
// away (20% of every epoch, by default, over HTTP/R2), and rows stay plain fixed-width arrays.
// The split is fixed when the set is written either way (a bit would be too).
import { createHash } from "node:crypto";
import {
  HEADER_BYTES,
  MANIFEST_KEY,
  SHARD_VERSION,
  ShardFormatError,
  assertLittleEndian,
  encodeHeader,
  shardKey,
  shardLayout,
  type Layout,
  type ShardEntry,
  type ShardManifest,
  type SplitName,
} from "./format";
import type { RowSource, SourceRow } from "./sources";
import { SPLIT_METHOD, isHeldOut } from "./split";
import type { ShardStore } from "./store";

export type WriteOptions = {
  /** Largest shard file, header included. */
  shardBytes: number;
  splitSeed: number;
  testFraction: number;
  /** Called after each shard is stored. */
  onShard?: (entry: ShardEntry) => void;
  /** Checked before every row, last shard and the manifest: once it fires, the write throws its reason (a put under way finishes first). */
  signal?: AbortSignal;
};

class ShardBuffer {
  private readonly bytes: Uint8Array;
  private readonly x: Float32Array;
  private readonly y: Int32Array;
  private rows = 0;
  private index = 0;
  private firstRow = 0;
  readonly entries: ShardEntry[] = [];

  constructor(
    private readonly split: SplitName,
    private readonly features: number,
    private readonly layout: Layout,
  ) {
    const xBytes = layout.rowsPerShard * features * 4;
    this.bytes = new Uint8Array(HEADER_BYTES + xBytes + layout.rowsPerShard * 4);
    this.x = new Float32Array(this.bytes.buffer, HEADER_BYTES, layout.rowsPerShard * features);
    this.y = new Int32Array(layout.rowsPerShard);
  }

  get full(): boolean {
    return this.rows === this.layout.rowsPerShard;
  }

  get total(): number {
    return this.firstRow + this.rows;
  }

  add(row: SourceRow): void {
    const offset = this.rows * this.features;
    this.x.fill(0, offset, offset + this.features); // the buffer is reused; featurizers add into zeros
    row.write(this.x, offset);
    this.y[this.rows++] = row.label;
  }

  async flush(store: ShardStore): Promise<ShardEntry | undefined> {
    if (this.rows === 0) return undefined;
    const rows = this.rows;
    const yOffset = HEADER_BYTES + rows * this.features * 4;
    encodeHeader({ features: this.features, rows, split: this.split, index: this.index }, this.bytes);
    // A short last shard: y moves up to right after its x (over rows it does not use).
    this.bytes.set(new Uint8Array(this.y.buffer, 0, rows * 4), yOffset);
    const body = this.bytes.subarray(0, yOffset + rows * 4);
    const entry: ShardEntry = {
      key: shardKey(this.split, this.index),
      split: this.split,
      index: this.index,
      rows,
      firstRow: this.firstRow,
      xOffset: HEADER_BYTES,
      yOffset,
      bytes: body.length,
      sha256: createHash("sha256").update(body).digest("hex"),
    };
    await store.put(entry.key, body);
    this.entries.push(entry);
    this.index++;
    this.firstRow += rows;
    this.rows = 0;
    return entry;
  }
}

/** Streams `source` into shards in `store`, then puts the manifest (last: its presence means complete). */
export async function writeShards(source: RowSource, store: ShardStore, opts: WriteOptions): Promise<ShardManifest> {
  assertLittleEndian();
  if (!(opts.testFraction > 0 && opts.testFraction < 1)) throw new ShardFormatError(`test fraction must be between 0 and 1 (got ${opts.testFraction})`);
  if (!Number.isSafeInteger(opts.splitSeed)) throw new ShardFormatError(`split seed must be an integer (got ${opts.splitSeed})`);
  const layout = shardLayout(source.features, opts.shardBytes);
  const buffers = { train: new ShardBuffer("train", source.features, layout), test: new ShardBuffer("test", source.features, layout) };
  const stored = async (b: ShardBuffer): Promise<void> => {
    const entry = await b.flush(store);
    if (entry) opts.onShard?.(entry);
  };

  for await (const row of source.rows()) {
    opts.signal?.throwIfAborted();
    const b = isHeldOut(row.id, opts.splitSeed, opts.testFraction) ? buffers.test : buffers.train;
    b.add(row);
    if (b.full) await stored(b);
  }
  opts.signal?.throwIfAborted();
  await stored(buffers.train);
  opts.signal?.throwIfAborted();
  await stored(buffers.test);
  opts.signal?.throwIfAborted();

  const manifest: ShardManifest = {
    format: "meridian-shards",
    version: SHARD_VERSION,
    createdAt: new Date().toISOString(),
    name: source.name,
    source: { spec: source.spec, description: source.description, ...(source.limit !== undefined ? { limit: source.limit } : {}) },
    schema: {
      features: source.features,
      x: "float32",
      y: "int32",
      labels: source.labels,
      ...(source.positive !== undefined ? { positive: source.positive } : {}),
      featurizer: source.featurizer ? { id: source.featurizer.id, params: { ...source.featurizer.params } } : null,
    },
    layout: { byteOrder: "little-endian", headerBytes: HEADER_BYTES, shardBytes: layout.shardBytes, rowsPerShard: layout.rowsPerShard },
    split: { method: SPLIT_METHOD, rowId: source.rowId, seed: opts.splitSeed, testFraction: opts.testFraction },
    rows: { total: buffers.train.total + buffers.test.total, train: buffers.train.total, test: buffers.test.total },
    shards: [...buffers.train.entries, ...buffers.test.entries],
  };
  await store.put(MANIFEST_KEY, new TextEncoder().encode(JSON.stringify(manifest, null, 2) + "\n"));
  return manifest;
}

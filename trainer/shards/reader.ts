// Reading a shard set back: the manifest, whole shards (size, sha256 and header checked against
// the manifest before any row is used), rows streamed shard by shard, and row ranges by byte-range
// reads for random access.
import {
  MANIFEST_KEY,
  ShardFormatError,
  assertLittleEndian,
  decodeHeader,
  parseShardManifest,
  type ShardEntry,
  type ShardManifest,
  type SplitName,
} from "./format";
import { sha256Of } from "./hash";
import { StoreError, type ShardSource } from "./store";

/** Rows of one split as the trainer takes them: row-major x [rows × features] and y [rows]. */
export type RowBlock = { x: Float32Array; y: Int32Array; rows: number };
export type ShardBlock = RowBlock & { entry: ShardEntry };

export class ShardSet {
  private constructor(
    readonly source: ShardSource,
    readonly manifest: ShardManifest,
  ) {}

  static async open(source: ShardSource): Promise<ShardSet> {
    assertLittleEndian();
    let bytes: Uint8Array;
    try {
      bytes = await source.get(MANIFEST_KEY);
    } catch (err) {
      if (err instanceof StoreError && err.notFound) {
        throw new ShardFormatError(`no shard set at ${source.location}: ${MANIFEST_KEY} not found`);
      }
      throw err;
    }
    return new ShardSet(source, parseShardManifest(bytes, `${source.location} ${MANIFEST_KEY}`));
  }

  get features(): number {
    return this.manifest.schema.features;
  }

  shards(split: SplitName): ShardEntry[] {
    return this.manifest.shards.filter((s) => s.split === split);
  }

  /**
   * One whole shard, verified: a corrupt or swapped shard is an error naming it. `reuse`: memory
   * of a shard nobody uses any more, which the store may read into (see ShardSource.get).
   */
  async read(entry: ShardEntry, reuse?: ArrayBuffer): Promise<ShardBlock> {
    const what = `shard ${entry.key} of ${this.source.location}`;
    const fetched = await this.source.get(entry.key, reuse);
    if (fetched.length !== entry.bytes) throw new ShardFormatError(`${what} is corrupt: ${fetched.length} B, the manifest says ${entry.bytes} B`);
    // Hashed off the main thread; the bytes may come back as a new view of the same memory.
    const { hex: sha, bytes: raw } = await sha256Of(fetched);
    if (sha !== entry.sha256) throw new ShardFormatError(`${what} is corrupt: sha256 ${sha} does not match the manifest's ${entry.sha256}`);
    const h = decodeHeader(raw, what);
    if (h.features !== this.features || h.rows !== entry.rows || h.split !== entry.split || h.index !== entry.index) {
      throw new ShardFormatError(`${what}: its header (${h.split} #${h.index}, ${h.rows} rows × ${h.features}) disagrees with the manifest`);
    }
    // Typed-array views need 4-byte alignment; a store may hand back a slice of a larger buffer.
    const bytes = raw.byteOffset % 4 === 0 ? raw : raw.slice();
    return {
      entry,
      rows: entry.rows,
      x: new Float32Array(bytes.buffer, bytes.byteOffset + entry.xOffset, entry.rows * this.features),
      y: new Int32Array(bytes.buffer, bytes.byteOffset + entry.yOffset, entry.rows),
    };
  }

  /**
   * The split's shards in order, one in memory at a time: a block is valid until the next one is
   * asked for, whose bytes are read into the same memory when the sizes match (copy what you keep).
   * Streaming a large held-out split so allocates one shard buffer, not one per shard.
   */
  async *blocks(split: SplitName): AsyncGenerator<ShardBlock> {
    let reuse: ArrayBuffer | undefined;
    for (const entry of this.shards(split)) {
      const b = await this.read(entry, reuse);
      yield b;
      reuse = b.x.buffer instanceof ArrayBuffer && b.x.buffer.byteLength === entry.bytes ? b.x.buffer : undefined;
    }
  }

  /** The split's rows in order; x is a view into the current shard (copy it to keep it). */
  async *rows(split: SplitName): AsyncGenerator<{ x: Float32Array; y: number }> {
    const F = this.features;
    for await (const b of this.blocks(split)) {
      for (let r = 0; r < b.rows; r++) yield { x: b.x.subarray(r * F, (r + 1) * F), y: b.y[r]! };
    }
  }

  /**
   * Rows [start, start + count) of a split by byte-range reads (two per shard touched: x and y).
   * Not checked against sha256, which covers whole shards only: use read() where integrity matters.
   */
  async readRows(split: SplitName, start: number, count: number): Promise<RowBlock> {
    const total = this.manifest.rows[split];
    if (!(Number.isSafeInteger(start) && Number.isSafeInteger(count) && start >= 0 && count >= 0 && start + count <= total)) {
      throw new ShardFormatError(`rows ${start}+${count} are outside the ${split} split (${total} rows)`);
    }
    const F = this.features;
    const x = new Float32Array(count * F);
    const y = new Int32Array(count);
    const end = start + count;
    for (const s of this.shards(split)) {
      const a = Math.max(start, s.firstRow);
      const b = Math.min(end, s.firstRow + s.rows);
      if (a >= b) continue;
      const local = a - s.firstRow;
      const n = b - a;
      const [xb, yb] = await Promise.all([
        this.source.getRange(s.key, s.xOffset + local * F * 4, n * F * 4),
        this.source.getRange(s.key, s.yOffset + local * 4, n * 4),
      ]);
      x.set(floats(xb), (a - start) * F);
      y.set(ints(yb), a - start);
    }
    return { x, y, rows: count };
  }
}

const aligned = (b: Uint8Array): Uint8Array => (b.byteOffset % 4 === 0 ? b : b.slice());
const floats = (b: Uint8Array): Float32Array => {
  const a = aligned(b);
  return new Float32Array(a.buffer, a.byteOffset, a.length / 4);
};
const ints = (b: Uint8Array): Int32Array => {
  const a = aligned(b);
  return new Int32Array(a.buffer, a.byteOffset, a.length / 4);
};


// The binary shard format and its manifest.
//
// A shard set is a directory (or bucket prefix) with `manifest.json` plus shard files
// `train/NNNNN.bin` and `test/NNNNN.bin`. The writer puts the manifest last, so a manifest that
// exists names shards that were all written. Every shard is at most `layout.shardBytes` long and
// holds `layout.rowsPerShard` rows (the last of each split fewer):
//
//   offset 0   header, 32 bytes, little-endian:
//              "MRDNSHD1" (8 ASCII bytes), u32 version = 1, u32 features, u32 rows,
//              u32 split (0 train, 1 test), u32 shard index, u32 reserved = 0
//   xOffset    float32 [rows × features], row-major        (xOffset = 32)
//   yOffset    int32 [rows], class index per row            (yOffset = 32 + rows × features × 4)
//
// Columns per shard (not interleaved records) so a whole shard maps to the trainer's
// Split {x, y} as two zero-copy typed-array views; a byte range of rows [a, b) is two ranges.
import { z } from "zod";

export const SHARD_MAGIC = "MRDNSHD1";
export const SHARD_VERSION = 1;
export const HEADER_BYTES = 32;
export const MANIFEST_KEY = "manifest.json";
export const DEFAULT_SHARD_BYTES = 64 * 1024 * 1024;

export type SplitName = "train" | "test";
export const SPLITS: readonly SplitName[] = ["train", "test"];

export class ShardFormatError extends Error {
  override name = "ShardFormatError";
}

// Typed-array views are host-endian; the format is little-endian. Every platform Node runs on
// today is, but say so rather than write a set nobody else can read.
export function assertLittleEndian(): void {
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new ShardFormatError("shards need a little-endian host");
}

export const shardKey = (split: SplitName, index: number): string => `${split}/${String(index).padStart(5, "0")}.bin`;

export type Layout = { headerBytes: number; shardBytes: number; rowsPerShard: number; rowBytes: number };

/** Rows per shard for a shard size: each row costs features × 4 bytes of x and 4 of y. */
export function shardLayout(features: number, shardBytes: number): Layout {
  const rowBytes = 4 * (features + 1);
  if (!(Number.isSafeInteger(shardBytes) && shardBytes > 0)) throw new ShardFormatError(`shard size must be a positive integer of bytes (got ${shardBytes})`);
  const rowsPerShard = Math.floor((shardBytes - HEADER_BYTES) / rowBytes);
  if (rowsPerShard < 1) {
    throw new ShardFormatError(`shard size ${shardBytes} B is too small for one row: ${features} features need ${HEADER_BYTES + rowBytes} B (header ${HEADER_BYTES} + row ${rowBytes})`);
  }
  // 2^32 - 1 rows is the header's limit; no sane shard size comes near it.
  return { headerBytes: HEADER_BYTES, shardBytes, rowsPerShard: Math.min(rowsPerShard, 0xffffffff), rowBytes };
}

export type ShardHeader = { features: number; rows: number; split: SplitName; index: number };

export function encodeHeader(h: ShardHeader, out: Uint8Array): void {
  for (let i = 0; i < 8; i++) out[i] = SHARD_MAGIC.charCodeAt(i);
  const v = new DataView(out.buffer, out.byteOffset, HEADER_BYTES);
  v.setUint32(8, SHARD_VERSION, true);
  v.setUint32(12, h.features, true);
  v.setUint32(16, h.rows, true);
  v.setUint32(20, h.split === "train" ? 0 : 1, true);
  v.setUint32(24, h.index, true);
  v.setUint32(28, 0, true);
}

export function decodeHeader(bytes: Uint8Array, what: string): ShardHeader {
  if (bytes.length < HEADER_BYTES) throw new ShardFormatError(`${what}: ${bytes.length} B is shorter than the ${HEADER_BYTES} B header`);
  const magic = String.fromCharCode(...bytes.subarray(0, 8));
  if (magic !== SHARD_MAGIC) throw new ShardFormatError(`${what}: not a Meridian shard (magic ${JSON.stringify(magic)})`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
  const version = v.getUint32(8, true);
  if (version !== SHARD_VERSION) throw new ShardFormatError(`${what}: shard version ${version} (this reader knows ${SHARD_VERSION})`);
  const split = v.getUint32(20, true);
  if (split > 1) throw new ShardFormatError(`${what}: bad split code ${split}`);
  return { features: v.getUint32(12, true), rows: v.getUint32(16, true), split: split === 0 ? "train" : "test", index: v.getUint32(24, true) };
}

// ---------- manifest ----------

const count = z.number().int().min(0);
/** Keys are relative, '/'-separated, and never climb out of the set (a manifest may come from anywhere). */
export const KEY = /^(?!.*(^|\/)\.\.?(\/|$))[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;

export const ShardEntrySchema = z
  .object({
    key: z.string().regex(KEY),
    split: z.enum(["train", "test"]),
    index: count,
    rows: z.number().int().min(1),
    /** Index of this shard's first row within its split. */
    firstRow: count,
    /** Byte offsets of the x and y arrays inside the shard file. */
    xOffset: count,
    yOffset: count,
    bytes: z.number().int().min(HEADER_BYTES),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
  })
  .strict();

export const ShardManifestSchema = z
  .object({
    format: z.literal("meridian-shards"),
    version: z.literal(SHARD_VERSION),
    createdAt: z.string(),
    /** Default model name (as the in-memory loader names the dataset). */
    name: z.string(),
    source: z.object({ spec: z.string(), description: z.string(), limit: z.number().int().min(1).optional() }).strict(),
    schema: z
      .object({
        features: z.number().int().min(1),
        x: z.literal("float32"),
        y: z.literal("int32"),
        /** Class names by class index. */
        labels: z.array(z.string()).min(1),
        positive: count.optional(),
        /** Text sources: the featurizer (complete params) that made x; raw text at the edge. */
        featurizer: z.object({ id: z.string(), params: z.record(z.string(), z.unknown()) }).strict().nullable(),
      })
      .strict(),
    layout: z
      .object({
        byteOrder: z.literal("little-endian"),
        headerBytes: z.literal(HEADER_BYTES),
        shardBytes: z.number().int().min(1),
        rowsPerShard: z.number().int().min(1),
      })
      .strict(),
    split: z
      .object({
        method: z.string(),
        /** What a row's id is for this source (the hash input). */
        rowId: z.string(),
        seed: z.number().int(),
        testFraction: z.number().gt(0).lt(1),
      })
      .strict(),
    rows: z.object({ total: count, train: count, test: count }).strict(),
    shards: z.array(ShardEntrySchema),
  })
  .strict();

export type ShardEntry = z.infer<typeof ShardEntrySchema>;
export type ShardManifest = z.infer<typeof ShardManifestSchema>;

/** Parses and cross-checks a manifest: shard sizes, offsets and row counts must add up. */
export function parseShardManifest(bytes: Uint8Array, where: string): ShardManifest {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new ShardFormatError(`${where}: not JSON (${(err as Error).message})`);
  }
  const parsed = ShardManifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ShardFormatError(`${where}: not a shard manifest (${issue?.path.join(".") || "root"}: ${issue?.message ?? "invalid"})`);
  }
  const m = parsed.data;
  const F = m.schema.features;
  for (const split of SPLITS) {
    let next = 0;
    m.shards
      .filter((s) => s.split === split)
      .forEach((s, i) => {
        const yOffset = HEADER_BYTES + s.rows * F * 4;
        const ok =
          s.index === i &&
          s.firstRow === next &&
          s.rows <= m.layout.rowsPerShard &&
          s.xOffset === HEADER_BYTES &&
          s.yOffset === yOffset &&
          s.bytes === yOffset + s.rows * 4;
        if (!ok) throw new ShardFormatError(`${where}: shard ${s.key}: index, rows, offsets or size disagree with the layout`);
        next += s.rows;
      });
    if (next !== m.rows[split]) throw new ShardFormatError(`${where}: the ${split} shards hold ${next} rows, rows.${split} says ${m.rows[split]}`);
  }
  if (m.rows.train + m.rows.test !== m.rows.total) throw new ShardFormatError(`${where}: rows.train + rows.test ≠ rows.total`);
  return m;
}

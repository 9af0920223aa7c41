// Parquet files (hyparquet: pure JS, no dependencies; the codecs beyond Snappy from
// hyparquet-compressors), streamed one row group at a time in two passes like CSV: pass 1 checks
// every value and collects the labels (their order fixes the class indices), pass 2 writes.
// Schema: exactly one top-level column named "label" (any case: string, integer, float or
// boolean); every other column a flat INT32, INT64, FLOAT or DOUBLE column of finite numbers, in
// the file's column order. Memory: one decoded row group, column by column (the file's writer
// chose the group's size).
import { open as openFile, stat } from "node:fs/promises";
import { parquetMetadataAsync, parquetRead, parquetSchema, type AsyncBuffer, type ColumnData, type FileMetaData } from "hyparquet";
import { compressors } from "hyparquet-compressors";
import { DatasetError } from "../../data/types";
import { datasetFileError, modelNameFromPath } from "../../data/tabular";
import { addLabel, classIndex, classes } from "./tabular";
import type { RowSource, SourceOptions, SourceRow } from "./types";

const ROW_ID = "the row's values as text, label first (content-addressed: identical rows share a side, reordering the file moves none)";
const FEATURE_TYPES = new Set(["INT32", "INT64", "FLOAT", "DOUBLE"]);
const LABEL_TYPES = new Set([...FEATURE_TYPES, "BOOLEAN", "BYTE_ARRAY"]);

type Layout = { features: string[]; label: string; groups: { start: number; end: number }[] };

/**
 * The file as hyparquet reads it: each slice one read into a buffer of its size (hyparquet's own
 * file reader streams 64 KiB chunks, concatenates and copies them: three buffers per slice).
 */
async function fileBuffer(path: string): Promise<AsyncBuffer> {
  const { size } = await stat(path);
  return {
    byteLength: size,
    async slice(start: number, end = size): Promise<ArrayBuffer> {
      const out = new Uint8Array(end - start);
      const fh = await openFile(path, "r");
      try {
        for (let at = 0; at < out.length; ) {
          const { bytesRead } = await fh.read(out, at, out.length - at, start + at);
          if (bytesRead === 0) throw new Error(`${path}: ended at ${start + at} bytes, ${size} expected (did the file change while it was read?)`);
          at += bytesRead;
        }
      } finally {
        await fh.close();
      }
      return out.buffer;
    },
  };
}

async function open(path: string): Promise<{ file: AsyncBuffer; metadata: FileMetaData }> {
  let file: AsyncBuffer;
  try {
    file = await fileBuffer(path);
  } catch (err) {
    throw datasetFileError(path, err);
  }
  try {
    return { file, metadata: await parquetMetadataAsync(file) };
  } catch (err) {
    throw new DatasetError(`${path}: not a readable Parquet file (${err instanceof Error ? err.message : String(err)})`);
  }
}

/** The columns' roles and the row groups' row ranges, from the footer alone. */
function layout(path: string, metadata: FileMetaData): Layout {
  const features: string[] = [];
  const labels: string[] = [];
  for (const col of parquetSchema(metadata).children) {
    const { name, type, repetition_type: rep } = col.element;
    const isLabel = name.toLowerCase() === "label";
    if (col.children.length > 0 || rep === "REPEATED") throw new DatasetError(`${path}: column "${name}" is nested or repeated; expected flat columns`);
    if (isLabel) {
      if (!type || !LABEL_TYPES.has(type)) throw new DatasetError(`${path}: column "${name}" has type ${type ?? "none"}; a label is a string, integer, float or boolean`);
      labels.push(name);
    } else {
      if (!type || !FEATURE_TYPES.has(type)) throw new DatasetError(`${path}: column "${name}" has type ${type ?? "none"}; every column but "label" must be INT32, INT64, FLOAT or DOUBLE`);
      features.push(name);
    }
  }
  if (labels.length !== 1) throw new DatasetError(`${path}: expected exactly one "label" column (any case), found ${labels.length ? labels.map((l) => `"${l}"`).join(", ") : "none"}`);
  if (features.length === 0) throw new DatasetError(`${path}: no feature columns beside "${labels[0]}"`);
  let start = 0;
  const groups = metadata.row_groups.map((g) => {
    const r = { start, end: start + Number(g.num_rows) };
    start = r.end;
    return r;
  });
  return { features, label: labels[0]!, groups };
}

type Column = { data: ArrayLike<unknown>; offset: number };

/**
 * Rows [start, end) as one column each, in `columns` order (features…, label): the decoded
 * column chunk itself when one covers the range (typed arrays, no copy), else the chunks copied
 * into place. No array per row.
 */
async function readGroup(file: AsyncBuffer, metadata: FileMetaData, columns: string[], start: number, end: number): Promise<Column[]> {
  const chunks: ColumnData[][] = [];
  // One column at a time: the transient memory is one column chunk's bytes and decoded values.
  for (const column of columns) {
    const parts: ColumnData[] = [];
    await parquetRead({ file, metadata, columns: [column], rowStart: start, rowEnd: end, compressors, utf8: true, onChunk: (ch) => parts.push(ch) });
    chunks.push(parts);
  }
  return chunks.map((parts) => {
    const whole = parts.find((ch) => ch.rowStart <= start && ch.rowEnd >= end);
    if (whole) return { data: whole.columnData, offset: start - whole.rowStart };
    // Chunks may hold rows outside the range asked for.
    const data = new Array<unknown>(end - start);
    for (const ch of parts) for (let r = Math.max(ch.rowStart, start); r < Math.min(ch.rowEnd, end); r++) data[r - start] = ch.columnData[r - ch.rowStart];
    return { data, offset: 0 };
  });
}

function featureValue(v: unknown, where: () => string, column: string): number {
  const n = typeof v === "bigint" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isFinite(n)) throw new DatasetError(`${where()}: column "${column}" is ${v === null || v === undefined ? "null" : String(v)}; features must be finite numbers`);
  if (typeof v === "bigint" && !Number.isSafeInteger(n)) throw new DatasetError(`${where()}: column "${column}" is ${v}, beyond the integers a float can hold exactly`);
  return n;
}

function labelValue(v: unknown, where: () => string, column: string): string {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "bigint" || typeof v === "boolean") return String(v);
  throw new DatasetError(`${where()}: column "${column}" is ${v === null || v === undefined ? "null" : typeof v}; every row needs a label`);
}

type Group = { start: number; end: number; cols: Column[] };

/** The row groups (cut at `limit`), decoded one at a time. */
async function* groups(path: string, file: AsyncBuffer, metadata: FileMetaData, l: Layout, limit: number | undefined): AsyncGenerator<Group> {
  const columns = [...l.features, l.label];
  let n = 0;
  for (const g of l.groups) {
    if (limit !== undefined && n >= limit) return;
    const end = limit === undefined ? g.end : Math.min(g.end, g.start + (limit - n));
    if (end <= g.start) continue;
    let cols: Column[];
    try {
      cols = await readGroup(file, metadata, columns, g.start, end);
    } catch (err) {
      throw new DatasetError(`${path}: rows ${g.start + 1}–${end}: ${err instanceof Error ? err.message : String(err)}`);
    }
    yield { start: g.start, end, cols };
    n += end - g.start;
  }
}

/**
 * A group's rows, checked, each with its features in `x` (overwritten per row) and its id (the
 * values as text, label first). Synchronous: a row costs no promise beyond the consumer's own.
 */
function* rowsOf(path: string, l: Layout, g: Group, x: Float32Array): Generator<{ label: string; id: () => string }> {
  const f = l.features.length;
  const values = new Array<number>(f);
  let label = "";
  const id = () => `${label},${values.join(",")}`;
  for (let r = 0; r < g.end - g.start; r++) {
    // Where a bad value is, built only for the error.
    const where = () => `${path}: row ${g.start + r + 1}`;
    for (let j = 0; j < f; j++) {
      const c = g.cols[j]!;
      x[j] = values[j] = featureValue(c.data[c.offset + r], where, l.features[j]!);
    }
    const lc = g.cols[f]!;
    label = labelValue(lc.data[lc.offset + r], where, l.label);
    yield { label, id };
  }
}

export async function parquetSource(path: string, opts: SourceOptions): Promise<RowSource> {
  const { file, metadata } = await open(path);
  const l = layout(path, metadata);
  const scratch = new Float32Array(l.features.length);
  const labels = new Set<string>();
  let rows = 0;
  for await (const g of groups(path, file, metadata, l, opts.limit)) {
    for (const row of rowsOf(path, l, g, scratch)) {
      addLabel(labels, row.label, `${path}: row ${rows + 1}`);
      rows++;
    }
  }
  if (rows === 0) throw new DatasetError(`${path}: no rows`);
  const { names, index } = classes(path, labels);
  return {
    spec: `parquet:${path}`,
    name: modelNameFromPath(path),
    description: `Parquet ${path} (${rows} rows, ${l.features.length} features: ${l.features.join(", ")}; ${l.groups.length} row groups)`,
    features: l.features.length,
    labels: names,
    ...(names.length === 2 ? { positive: 1 } : {}),
    rowId: ROW_ID,
    ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
    async *rows(): AsyncGenerator<SourceRow> {
      const x = new Float32Array(l.features.length);
      let n = 0;
      for await (const g of groups(path, file, metadata, l, opts.limit)) {
        for (const row of rowsOf(path, l, g, x)) {
          n++;
          const label = classIndex(index, row.label, `${path}: row ${n}`);
          yield { id: row.id(), label, write: (out, offset) => out.set(x, offset) };
        }
      }
    },
  };
}

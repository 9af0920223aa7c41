// User data: CSV and JSONL, with a stated schema. Every bad row is an error naming file:line.
//
// CSV  — UTF-8; the first non-blank line is the header; fields separated by commas, optionally
//        double-quoted ("" is a quote inside quotes; no line breaks inside fields). Exactly one
//        column is named `label` (any case); every other column is a numeric feature: a finite
//        number (3, -0.5, 1e-3), no empty cells. Blank lines are skipped.
// JSONL — one JSON object per non-blank line with a `label` (string or number) and either
//        `features`: an array of finite numbers (the same length on every line), or
//        `text`: a string (a text model: featurized with hashed-bow-v1, raw text at the edge), or
//        numeric feature fields: every key but `label` (the first line fixes the keys and order).
// Classes: the distinct labels as strings; ordered numerically if all are numbers, else by
// code point. A class's index is its position in that order. Two classes: the second is the
// positive one for precision/recall.
import { readFileSync } from "node:fs";
import { basename, extname } from "node:path";
import { featurizeBatch, hashedBow, type Featurizer } from "../../shared/featurize";
import { MODEL_NAME } from "../../shared/manifest";
import type { FeatureJoin } from "./feature-join";
import { splitIndices, splitNote, take } from "./split";
import { DatasetError, type Dataset, type LoadOptions } from "./types";

/** The one message for a dataset file that cannot be read (missing, a directory, no access). */
export function datasetFileError(path: string, err: unknown): DatasetError {
  const code = (err as { code?: string }).code;
  if (code === "ENOENT") return new DatasetError(`dataset file not found: ${path}`);
  if (code === "EISDIR") return new DatasetError(`dataset path is a directory, not a file: ${path}`);
  return new DatasetError(`cannot read dataset file ${path}: ${(err as Error).message}`);
}

function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw datasetFileError(path, err);
  }
}

/** Splits one CSV line into fields (RFC 4180 quoting, no embedded line breaks). */
export function parseCsvLine(line: string, where: string): string[] {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    let field = "";
    if (line[i] === '"') {
      i++;
      for (;;) {
        if (i >= line.length) throw new DatasetError(`${where}: unterminated quoted field`);
        const c = line[i]!;
        if (c === '"') {
          if (line[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += c;
        i++;
      }
      if (i < line.length && line[i] !== ",") throw new DatasetError(`${where}: unexpected text after a closing quote`);
    } else {
      const j = line.indexOf(",", i);
      field = j < 0 ? line.slice(i) : line.slice(i, j);
      i = j < 0 ? line.length : j;
    }
    out.push(field);
    if (i >= line.length) return out;
    i++; // skip the comma
  }
}

export const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function toNumber(raw: string, where: string, column: string): number {
  const s = raw.trim();
  if (!NUMBER.test(s)) {
    throw new DatasetError(`${where}: column "${column}": ${s === "" ? "empty value" : JSON.stringify(raw)} is not a number`);
  }
  const v = Number(s);
  if (!Number.isFinite(v)) throw new DatasetError(`${where}: column "${column}": ${JSON.stringify(raw)} is out of float range`);
  return v;
}

type Rows = { x: Float32Array; labels: string[]; features: number; featurizer?: Featurizer; columns: string[]; entities?: Array<{ id: string | undefined; where: string }> };

function lines(text: string): { line: string; no: number }[] {
  const out: { line: string; no: number }[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() !== "") out.push({ line, no: i + 1 });
  });
  return out;
}

// Line-level parsing, shared by the in-memory loader below and the streaming shard writer
// (trainer/shards/sources), so both accept the same rows with the same messages.

export type CsvHeader = { columns: string[]; labelIndex: number; features: number; featureColumns: string[] };

export function parseCsvHeader(line: string, where: string): CsvHeader {
  const columns = parseCsvLine(line, where).map((c) => c.trim());
  const labelCols = columns.flatMap((c, i) => (c.toLowerCase() === "label" ? [i] : []));
  if (labelCols.length !== 1) {
    throw new DatasetError(`${where}: header needs exactly one "label" column (found ${labelCols.length}): ${columns.join(",")}`);
  }
  const labelIndex = labelCols[0]!;
  const features = columns.length - 1;
  if (features < 1) throw new DatasetError(`${where}: no feature columns besides "label"`);
  return { columns, labelIndex, features, featureColumns: columns.filter((_, i) => i !== labelIndex) };
}

/** Parses one data line: its features go to out[offset ..), its label is returned. */
export function parseCsvRecord(h: CsvHeader, line: string, where: string, out: Float32Array, offset: number): string {
  const fields = parseCsvLine(line, where);
  if (fields.length !== h.columns.length) {
    throw new DatasetError(`${where}: expected ${h.columns.length} fields (as in the header), got ${fields.length}`);
  }
  let c = 0;
  fields.forEach((f, i) => {
    if (i === h.labelIndex) return;
    out[offset + c++] = toNumber(f, where, h.columns[i]!);
  });
  const label = fields[h.labelIndex]!.trim();
  if (label === "") throw new DatasetError(`${where}: empty label`);
  return label;
}

export type JsonlRecord = { label: string; entity?: string } & ({ kind: "features" | "fields"; values: number[] } | { kind: "text"; text: string });

/** The key naming a row's entity (joined to feature values by train --feature-values); never a feature. */
const ENTITY_KEY = "entity_id";

/** JSONL lines in order: the first record fixes the shape (and keys or width) the others must have. */
export class JsonlShape {
  kind: "features" | "text" | "fields" | undefined;
  keys: string[] = [];
  width = 0;

  /** Feature count for numeric shapes (0 before the first line, and for text). */
  get features(): number {
    return this.kind === "features" ? this.width : this.kind === "fields" ? this.keys.length : 0;
  }

  parse(line: string, where: string): JsonlRecord {
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (err) {
      throw new DatasetError(`${where}: not valid JSON (${(err as Error).message})`);
    }
    if (typeof obj !== "object" || obj === null || Array.isArray(obj)) throw new DatasetError(`${where}: expected a JSON object`);
    const rec = obj as Record<string, unknown>;
    const rawLabel = rec.label;
    if (!((typeof rawLabel === "string" && rawLabel.trim() !== "") || (typeof rawLabel === "number" && Number.isFinite(rawLabel)))) {
      throw new DatasetError(`${where}: "label" must be a non-empty string or a number`);
    }
    const label = String(rawLabel).trim();
    const entity = rec[ENTITY_KEY];
    if (entity !== undefined && !(typeof entity === "string" && entity !== "")) throw new DatasetError(`${where}: "${ENTITY_KEY}" must be a non-empty string`);
    const k = "features" in rec ? "features" : "text" in rec ? "text" : "fields";
    const at = { label, ...(entity !== undefined ? { entity } : {}) };
    if (this.kind === undefined) {
      this.kind = k;
      this.keys = Object.keys(rec).filter((key) => key !== "label" && key !== ENTITY_KEY);
      // With an entity, every feature may come from its views.
      if (k === "fields" && this.keys.length === 0 && entity === undefined) throw new DatasetError(`${where}: no feature fields besides "label"`);
    } else if (k !== this.kind) {
      throw new DatasetError(`${where}: mixes record shapes (first line uses ${this.kind === "fields" ? "numeric fields" : `"${this.kind}"`})`);
    }
    if (k === "features") {
      const f = rec.features;
      if (!Array.isArray(f) || f.length === 0 || !f.every((v) => typeof v === "number" && Number.isFinite(v))) {
        throw new DatasetError(`${where}: "features" must be a non-empty array of finite numbers`);
      }
      if (this.width === 0) this.width = f.length;
      if (f.length !== this.width) throw new DatasetError(`${where}: ${f.length} features, expected ${this.width} (as on the first line)`);
      return { ...at, kind: k, values: f as number[] };
    }
    if (k === "text") {
      if (typeof rec.text !== "string") throw new DatasetError(`${where}: "text" must be a string`);
      return { ...at, kind: k, text: rec.text };
    }
    const keys = this.keys;
    const got = Object.keys(rec).filter((key) => key !== "label" && key !== ENTITY_KEY);
    const missing = keys.filter((key) => !(key in rec));
    const extra = got.filter((key) => !keys.includes(key));
    if (missing.length || extra.length) {
      throw new DatasetError(
        `${where}: fields differ from the first line (${[...missing.map((m) => `missing "${m}"`), ...extra.map((e) => `unexpected "${e}"`)].join(", ")})`,
      );
    }
    const values = keys.map((key) => {
      const v = rec[key];
      if (typeof v !== "number" || !Number.isFinite(v)) {
        throw new DatasetError(`${where}: field "${key}": ${JSON.stringify(v)} is not a finite number`);
      }
      return v;
    });
    return { ...at, kind: k, values };
  }
}

export function readCsv(path: string): Rows {
  const all = lines(readText(path).replace(/^\uFEFF/, ""));
  const first = all.shift();
  if (!first) throw new DatasetError(`${path}: empty file (expected a header line with a "label" column)`);
  const header = parseCsvHeader(first.line, `${path}:${first.no}`);
  if (all.length === 0) throw new DatasetError(`${path}: no data rows after the header`);
  const features = header.features;
  const x = new Float32Array(all.length * features);
  const labels = all.map(({ line, no }, r) => parseCsvRecord(header, line, `${path}:${no}`, x, r * features));
  return { x, labels, features, columns: header.featureColumns };
}

export function readJsonl(path: string, featurizerParams?: Record<string, unknown>): Rows {
  const all = lines(readText(path));
  if (all.length === 0) throw new DatasetError(`${path}: empty file (expected one JSON object per line)`);
  const shape = new JsonlShape();
  const vectors: number[][] = [];
  const texts: string[] = [];
  const labels: string[] = [];
  const entities: NonNullable<Rows["entities"]> = [];
  for (const { line, no } of all) {
    const rec = shape.parse(line, `${path}:${no}`);
    labels.push(rec.label);
    entities.push({ id: rec.entity, where: `${path}:${no}` });
    if (rec.kind === "text") texts.push(rec.text);
    else vectors.push(rec.values);
  }
  if (shape.kind === "text") {
    const featurizer = hashedBow(featurizerParams ?? {});
    return { x: featurizeBatch(featurizer, texts), labels, features: featurizer.dimensions, featurizer, columns: [], entities };
  }
  const features = shape.features;
  const x = new Float32Array(vectors.length * features);
  vectors.forEach((v, r) => x.set(v, r * features));
  return { x, labels, features, columns: shape.kind === "fields" ? shape.keys : [], entities };
}

export function classOrder(labels: readonly string[]): string[] {
  const distinct = [...new Set(labels)];
  const numeric = distinct.every((l) => NUMBER.test(l));
  return numeric ? distinct.sort((a, b) => Number(a) - Number(b)) : distinct.sort();
}

export function modelNameFromPath(path: string): string {
  const base = basename(path, extname(path)).toLowerCase().replace(/[^a-z0-9_-]+/g, "-").replace(/^[^a-z0-9]+/, "");
  const name = base.slice(0, 64) || "model";
  return MODEL_NAME.test(name) ? name : "model";
}

/**
 * Each row with its entity's view inputs appended (FeatureJoin.fill, as the edge fills them); a
 * row whose entity lacks a feature that has no default is left out, as serving would refuse it.
 */
function joined(rows: Rows, join: FeatureJoin, path: string): Rows & { dropped: number; firstDrop?: string } {
  if (rows.featurizer) throw new DatasetError(`${path}: --feature-values joins numeric examples; text examples are not supported`);
  const width = rows.features + join.width;
  const x = new Float32Array(rows.labels.length * width);
  const labels: string[] = [];
  let dropped = 0;
  let firstDrop: string | undefined;
  rows.labels.forEach((label, r) => {
    const { id, where } = rows.entities![r]!;
    if (id === undefined) throw new DatasetError(`${where}: no "entity_id" (every example names the entity its feature values belong to)`);
    const at = labels.length * width;
    x.set(rows.x.subarray(r * rows.features, (r + 1) * rows.features), at);
    const missing = join.fill(id, x, at + rows.features);
    if (missing) {
      dropped++;
      firstDrop ??= `${where} (${id}): ${missing.message}`;
      return;
    }
    labels.push(label);
  });
  return { ...rows, x: x.subarray(0, labels.length * width), labels, features: width, dropped, ...(firstDrop ? { firstDrop } : {}) };
}

export function loadTabular(format: "csv" | "jsonl", path: string, opts: LoadOptions): Dataset {
  let rows = format === "csv" ? readCsv(path) : readJsonl(path, opts.featurizerParams);
  const callerWidth = rows.features;
  let joinNote = "";
  if (opts.join) {
    if (format !== "jsonl") throw new DatasetError(`--feature-values joins JSONL examples (each with an "entity_id"); ${path} is CSV`);
    const j = joined(rows, opts.join, path);
    if (j.labels.length === 0) throw new DatasetError(`${path}: no example could be joined to its feature values; the first: ${j.firstDrop}`);
    rows = j;
    joinNote = `; ${opts.join.width} values per row from feature views as of ${new Date(opts.join.asOf).toISOString()}${j.dropped ? `, ${j.dropped} examples left out for a feature with no value and no default (the first: ${j.firstDrop})` : ""}`;
  }
  const classes = classOrder(rows.labels);
  if (classes.length < 2) throw new DatasetError(`${path}: needs at least 2 distinct labels (found ${classes.length}: ${classes.join(", ")})`);
  const index = new Map(classes.map((c, i) => [c, i]));
  const y = Int32Array.from(rows.labels, (l) => index.get(l)!);
  const idx = splitIndices(y.length, opts);
  const dataset: Dataset = {
    name: modelNameFromPath(path),
    source: `${format.toUpperCase()} ${path} (${y.length} rows, ${rows.features} features${rows.featurizer ? ` from text by ${rows.featurizer.id}` : ""}${joinNote})`,
    splitNote: splitNote(opts, y.length),
    features: rows.features,
    labels: classes,
    train: take(rows.x, y, rows.features, idx.train),
    test: take(rows.x, y, rows.features, idx.test),
  };
  if (classes.length === 2) dataset.positive = 1;
  if (rows.featurizer) dataset.featurizer = rows.featurizer;
  if (opts.join) dataset.views = { bindings: opts.join.bindings, inputs: opts.join.inputs(callerWidth) };
  return dataset;
}

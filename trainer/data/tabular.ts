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
import { splitIndices, splitNote, take } from "./split";
import { DatasetError, type Dataset, type LoadOptions } from "./types";

function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "ENOENT") throw new DatasetError(`dataset file not found: ${path}`);
    if (code === "EISDIR") throw new DatasetError(`dataset path is a directory, not a file: ${path}`);
    throw new DatasetError(`cannot read dataset file ${path}: ${(err as Error).message}`);
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

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function toNumber(raw: string, where: string, column: string): number {
  const s = raw.trim();
  if (!NUMBER.test(s)) {
    throw new DatasetError(`${where}: column "${column}": ${s === "" ? "empty value" : JSON.stringify(raw)} is not a number`);
  }
  const v = Number(s);
  if (!Number.isFinite(v)) throw new DatasetError(`${where}: column "${column}": ${JSON.stringify(raw)} is out of float range`);
  return v;
}

type Rows = { x: Float32Array; labels: string[]; features: number; featurizer?: Featurizer; columns: string[] };

function lines(text: string): { line: string; no: number }[] {
  const out: { line: string; no: number }[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() !== "") out.push({ line, no: i + 1 });
  });
  return out;
}

export function readCsv(path: string): Rows {
  const all = lines(readText(path).replace(/^\uFEFF/, ""));
  const header = all.shift();
  if (!header) throw new DatasetError(`${path}: empty file (expected a header line with a "label" column)`);
  const columns = parseCsvLine(header.line, `${path}:${header.no}`).map((c) => c.trim());
  const labelCols = columns.flatMap((c, i) => (c.toLowerCase() === "label" ? [i] : []));
  if (labelCols.length !== 1) {
    throw new DatasetError(
      `${path}:${header.no}: header needs exactly one "label" column (found ${labelCols.length}): ${columns.join(",")}`,
    );
  }
  const li = labelCols[0]!;
  const features = columns.length - 1;
  if (features < 1) throw new DatasetError(`${path}:${header.no}: no feature columns besides "label"`);
  if (all.length === 0) throw new DatasetError(`${path}: no data rows after the header`);
  const x = new Float32Array(all.length * features);
  const labels: string[] = [];
  all.forEach(({ line, no }, r) => {
    const where = `${path}:${no}`;
    const fields = parseCsvLine(line, where);
    if (fields.length !== columns.length) {
      throw new DatasetError(`${where}: expected ${columns.length} fields (as in the header), got ${fields.length}`);
    }
    let c = 0;
    fields.forEach((f, i) => {
      if (i === li) return;
      x[r * features + c++] = toNumber(f, where, columns[i]!);
    });
    const label = fields[li]!.trim();
    if (label === "") throw new DatasetError(`${where}: empty label`);
    labels.push(label);
  });
  return { x, labels, features, columns: columns.filter((_, i) => i !== li) };
}

export function readJsonl(path: string, featurizerParams?: Record<string, unknown>): Rows {
  const all = lines(readText(path));
  if (all.length === 0) throw new DatasetError(`${path}: empty file (expected one JSON object per line)`);
  type Kind = "features" | "text" | "fields";
  let kind: Kind | undefined;
  let keys: string[] = [];
  let width = 0;
  const vectors: number[][] = [];
  const texts: string[] = [];
  const labels: string[] = [];
  for (const { line, no } of all) {
    const where = `${path}:${no}`;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (err) {
      throw new DatasetError(`${where}: not valid JSON (${(err as Error).message})`);
    }
    if (typeof obj !== "object" || obj === null || Array.isArray(obj)) throw new DatasetError(`${where}: expected a JSON object`);
    const rec = obj as Record<string, unknown>;
    const label = rec.label;
    if (!((typeof label === "string" && label.trim() !== "") || (typeof label === "number" && Number.isFinite(label)))) {
      throw new DatasetError(`${where}: "label" must be a non-empty string or a number`);
    }
    labels.push(String(label).trim());
    const k: Kind = "features" in rec ? "features" : "text" in rec ? "text" : "fields";
    if (kind === undefined) {
      kind = k;
      keys = Object.keys(rec).filter((key) => key !== "label");
      if (k === "fields" && keys.length === 0) throw new DatasetError(`${where}: no feature fields besides "label"`);
    } else if (k !== kind) {
      throw new DatasetError(`${where}: mixes record shapes (first line uses ${kind === "fields" ? "numeric fields" : `"${kind}"`})`);
    }
    if (k === "features") {
      const f = rec.features;
      if (!Array.isArray(f) || f.length === 0 || !f.every((v) => typeof v === "number" && Number.isFinite(v))) {
        throw new DatasetError(`${where}: "features" must be a non-empty array of finite numbers`);
      }
      if (width === 0) width = f.length;
      if (f.length !== width) throw new DatasetError(`${where}: ${f.length} features, expected ${width} (as on the first line)`);
      vectors.push(f as number[]);
    } else if (k === "text") {
      if (typeof rec.text !== "string") throw new DatasetError(`${where}: "text" must be a string`);
      texts.push(rec.text);
    } else {
      const got = Object.keys(rec).filter((key) => key !== "label");
      const missing = keys.filter((key) => !(key in rec));
      const extra = got.filter((key) => !keys.includes(key));
      if (missing.length || extra.length) {
        throw new DatasetError(
          `${where}: fields differ from the first line (${[...missing.map((m) => `missing "${m}"`), ...extra.map((e) => `unexpected "${e}"`)].join(", ")})`,
        );
      }
      vectors.push(
        keys.map((key) => {
          const v = rec[key];
          if (typeof v !== "number" || !Number.isFinite(v)) {
            throw new DatasetError(`${where}: field "${key}": ${JSON.stringify(v)} is not a finite number`);
          }
          return v;
        }),
      );
    }
  }
  if (kind === "text") {
    const featurizer = hashedBow(featurizerParams ?? {});
    return { x: featurizeBatch(featurizer, texts), labels, features: featurizer.dimensions, featurizer, columns: [] };
  }
  const features = kind === "features" ? width : keys.length;
  const x = new Float32Array(vectors.length * features);
  vectors.forEach((v, r) => x.set(v, r * features));
  return { x, labels, features, columns: kind === "fields" ? keys : [] };
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

export function loadTabular(format: "csv" | "jsonl", path: string, opts: LoadOptions): Dataset {
  const rows = format === "csv" ? readCsv(path) : readJsonl(path, opts.featurizerParams);
  const classes = classOrder(rows.labels);
  if (classes.length < 2) throw new DatasetError(`${path}: needs at least 2 distinct labels (found ${classes.length}: ${classes.join(", ")})`);
  const index = new Map(classes.map((c, i) => [c, i]));
  const y = Int32Array.from(rows.labels, (l) => index.get(l)!);
  const idx = splitIndices(y.length, opts);
  const dataset: Dataset = {
    name: modelNameFromPath(path),
    source: `${format.toUpperCase()} ${path} (${y.length} rows, ${rows.features} features${rows.featurizer ? ` from text by ${rows.featurizer.id}` : ""})`,
    splitNote: splitNote(opts, y.length),
    features: rows.features,
    labels: classes,
    train: take(rows.x, y, rows.features, idx.train),
    test: take(rows.x, y, rows.features, idx.test),
  };
  if (classes.length === 2) dataset.positive = 1;
  if (rows.featurizer) dataset.featurizer = rows.featurizer;
  return dataset;
}

// CSV and JSONL files (the schema of trainer/data/tabular.ts), streamed line by line in two
// passes. Pass 1 validates every row and collects the distinct labels: class indices follow the
// order of *all* labels (as `train` numbers them), which is known only at the end, and a bad
// line then fails before any shard is written. Pass 2 writes. Memory: one line plus the set of
// distinct labels (capped, so a numeric target column mistaken for a label fails clearly).
import { hashedBow, type Featurizer } from "../../../shared/featurize";
import { DatasetError } from "../../data/types";
import { JsonlShape, classOrder, modelNameFromPath, parseCsvHeader, parseCsvRecord, type CsvHeader } from "../../data/tabular";
import { readLines, type Line } from "./lines";
import type { RowSource, SourceOptions, SourceRow } from "./types";

export const MAX_CLASSES = 65_536;

const ROW_ID = "the row's line of text (content-addressed: identical rows share a side, reordering the file moves none)";

export function addLabel(labels: Set<string>, label: string, where: string): void {
  labels.add(label);
  if (labels.size > MAX_CLASSES) throw new DatasetError(`${where}: more than ${MAX_CLASSES} distinct labels; is "label" a class column?`);
}

export function classes(path: string, labels: Set<string>): { names: string[]; index: Map<string, number> } {
  const names = classOrder([...labels]);
  if (names.length < 2) throw new DatasetError(`${path}: needs at least 2 distinct labels (found ${names.length}: ${names.join(", ")})`);
  return { names, index: new Map(names.map((c, i) => [c, i])) };
}

export function classIndex(index: Map<string, number>, label: string, where: string): number {
  const i = index.get(label);
  if (i === undefined) throw new DatasetError(`${where}: label "${label}" was not there in the first pass (did the file change while it was read?)`);
  return i;
}

export async function csvSource(path: string, opts: SourceOptions): Promise<RowSource> {
  let header: CsvHeader | undefined;
  let headerLine: Line | undefined;
  const labels = new Set<string>();
  let rows = 0;
  let scratch = new Float32Array(0);
  for await (const l of readLines(path)) {
    const line = l.no === 1 ? l.line.replace(/^\uFEFF/, "") : l.line;
    const where = `${path}:${l.no}`;
    if (!header) {
      header = parseCsvHeader(line, where);
      headerLine = { line, no: l.no };
      scratch = new Float32Array(header.features);
      continue;
    }
    if (opts.limit !== undefined && rows >= opts.limit) break;
    addLabel(labels, parseCsvRecord(header, line, where, scratch, 0), where);
    rows++;
  }
  if (!header || !headerLine) throw new DatasetError(`${path}: empty file (expected a header line with a "label" column)`);
  if (rows === 0) throw new DatasetError(`${path}: no data rows after the header`);
  const h = header;
  const { names, index } = classes(path, labels);
  const headerNo = headerLine.no;
  return {
    spec: `csv:${path}`,
    name: modelNameFromPath(path),
    description: `CSV ${path} (${rows} rows, ${h.features} features)`,
    features: h.features,
    labels: names,
    ...(names.length === 2 ? { positive: 1 } : {}),
    rowId: ROW_ID,
    ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
    async *rows(): AsyncGenerator<SourceRow> {
      const x = new Float32Array(h.features);
      let n = 0;
      for await (const l of readLines(path)) {
        if (l.no <= headerNo) continue;
        if (opts.limit !== undefined && n >= opts.limit) return;
        const where = `${path}:${l.no}`;
        const label = classIndex(index, parseCsvRecord(h, l.line, where, x, 0), where);
        n++;
        yield { id: l.line, label, write: (out, offset) => out.set(x, offset) };
      }
    },
  };
}

export async function jsonlSource(path: string, opts: SourceOptions): Promise<RowSource> {
  const shape = new JsonlShape();
  const labels = new Set<string>();
  let rows = 0;
  for await (const l of readLines(path)) {
    if (opts.limit !== undefined && rows >= opts.limit) break;
    const where = `${path}:${l.no}`;
    addLabel(labels, shape.parse(l.line, where).label, where);
    rows++;
  }
  if (rows === 0) throw new DatasetError(`${path}: empty file (expected one JSON object per line)`);
  const { names, index } = classes(path, labels);
  const featurizer: Featurizer | undefined = shape.kind === "text" ? hashedBow(opts.featurizerParams ?? {}) : undefined;
  const features = featurizer ? featurizer.dimensions : shape.features;
  return {
    spec: `jsonl:${path}`,
    name: modelNameFromPath(path),
    description: `JSONL ${path} (${rows} rows, ${features} features${featurizer ? ` from text by ${featurizer.id}` : ""})`,
    features,
    labels: names,
    ...(names.length === 2 ? { positive: 1 } : {}),
    ...(featurizer ? { featurizer } : {}),
    rowId: ROW_ID,
    ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
    async *rows(): AsyncGenerator<SourceRow> {
      const again = new JsonlShape();
      let n = 0;
      for await (const l of readLines(path)) {
        if (opts.limit !== undefined && n >= opts.limit) return;
        const where = `${path}:${l.no}`;
        const rec = again.parse(l.line, where);
        const label = classIndex(index, rec.label, where);
        n++;
        if (rec.kind === "text") {
          const f = featurizer ?? hashedBow(opts.featurizerParams ?? {});
          yield { id: l.line, label, write: (out, offset) => f.into(rec.text, out, offset) };
        } else {
          const values = rec.values;
          if (values.length !== features) throw new DatasetError(`${where}: ${values.length} features, expected ${features} (did the file change while it was read?)`);
          yield { id: l.line, label, write: (out, offset) => out.set(values, offset) };
        }
      }
    },
  };
}

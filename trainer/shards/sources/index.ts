// `meridian shard <source>`: spam | mnist | weather | csv:<path> | jsonl:<path> | parquet:<path>, as a stream of rows.
import { stat } from "node:fs/promises";
import { datasetFileError } from "../../data/tabular";
import { DatasetError } from "../../data/types";
import { MAX_COPIES, mnistAugmentedSource } from "./augmented";
import { mnistSource, spamSource, weatherSource } from "./packaged";
import { parquetSource } from "./parquet";
import { csvSource, jsonlSource } from "./tabular";
import type { RowSource, SourceOptions } from "./types";

export type { RowSource, SourceOptions, SourceRow } from "./types";

export const SOURCE_HELP = "spam | mnist | weather | mnist-augmented:<copies> | csv:<path> | jsonl:<path> | parquet:<path>";

const PACKAGED = { spam: spamSource, mnist: mnistSource, weather: weatherSource } as const;
type PackagedName = keyof typeof PACKAGED;

type FileKind = "csv" | "jsonl" | "parquet";
type Parsed = { kind: PackagedName } | { kind: FileKind; path: string } | { kind: "mnist-augmented"; copies: number };

/** Checks a source spec's form without reading anything (so bad input fails before the output is touched). */
export function parseSourceSpec(spec: string): Parsed {
  if (Object.hasOwn(PACKAGED, spec)) return { kind: spec as PackagedName };
  const aug = /^mnist-augmented:(\d+)$/.exec(spec);
  if (aug) {
    const copies = Number(aug[1]);
    if (!(copies >= 1 && copies <= MAX_COPIES)) throw new DatasetError(`mnist-augmented:<copies> takes an integer from 1 to ${MAX_COPIES} (got "${aug[1]}")`);
    return { kind: "mnist-augmented", copies };
  }
  const m = /^(csv|jsonl|parquet):(.+)$/.exec(spec);
  if (m) return { kind: m[1] as FileKind, path: m[2]! };
  throw new DatasetError(`unknown source "${spec}" (expected ${SOURCE_HELP})`);
}

/** A file source's file exists and is a file (checked before the output is prepared). */
export async function checkSourceReadable(spec: string): Promise<void> {
  const p = parseSourceSpec(spec);
  if (!("path" in p)) return;
  let isDir: boolean;
  try {
    isDir = (await stat(p.path)).isDirectory();
  } catch (err) {
    throw datasetFileError(p.path, err);
  }
  if (isDir) throw datasetFileError(p.path, { code: "EISDIR" });
}

export async function openRowSource(spec: string, opts: SourceOptions): Promise<RowSource> {
  if (opts.limit !== undefined && !(Number.isInteger(opts.limit) && opts.limit >= 1)) {
    throw new DatasetError(`--limit must be a positive integer (got ${opts.limit})`);
  }
  const p = parseSourceSpec(spec);
  if (p.kind === "csv") return csvSource(p.path, opts);
  if (p.kind === "jsonl") return jsonlSource(p.path, opts);
  if (p.kind === "parquet") return parquetSource(p.path, opts);
  if (p.kind === "mnist-augmented") return mnistAugmentedSource(p.copies, opts);
  return PACKAGED[p.kind](opts);
}

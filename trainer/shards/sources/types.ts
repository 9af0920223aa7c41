// What the shard writer reads: rows one at a time, each with a stable id (the split hashes it),
// a class index, and a way to write its features into the writer's buffer (no per-row copies
// of featurized text).
import type { Featurizer } from "../../../shared/featurize";

export type SourceRow = {
  /** Stable across runs, orderings and shardings; unique within the source (duplicates share a side). */
  id: string;
  label: number;
  /** Writes exactly `features` values into out[offset ..), which the caller has zeroed. Valid until the next row is pulled. */
  write(out: Float32Array, offset: number): void;
};

export interface RowSource {
  spec: string;
  /** Default model name, as the in-memory loader names the dataset. */
  name: string;
  description: string;
  features: number;
  labels: string[];
  positive?: number;
  featurizer?: Featurizer;
  /** What a row id is for this source (recorded in the manifest). */
  rowId: string;
  limit?: number;
  /** The rows, streamed; may be called more than once. */
  rows(): AsyncIterable<SourceRow>;
}

export type SourceOptions = {
  /** Seeds the `--limit` subset of the packaged datasets (the same rows as `train --limit`). */
  splitSeed: number;
  limit?: number;
  featurizerParams?: Record<string, unknown>;
  /** The held-out fraction the writer splits by: sources that fit statistics on the training side only (weather) need it. */
  testFraction?: number;
};

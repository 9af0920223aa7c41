// Seeded shuffles and the train/test split. mulberry32 (shared/random.ts) gives the same
// sequence on every JS engine, so a split seed names one split everywhere.
import { seededRandom } from "../../shared/random";
import { DatasetError, type Split } from "./types";

/** Fisher–Yates permutation of 0..n-1 from a seed. */
export function seededPermutation(n: number, seed: number): Int32Array {
  const rand = seededRandom(seed);
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}

/**
 * Row order for a dataset of n rows: a seeded permutation, cut to `limit` rows, of which the
 * first round(testFraction · kept) are held out (at least one of each side).
 */
export function splitIndices(
  n: number,
  opts: { splitSeed: number; testFraction: number; limit?: number },
): { train: Int32Array; test: Int32Array } {
  if (!(opts.testFraction > 0 && opts.testFraction < 1)) {
    throw new DatasetError(`test fraction must be between 0 and 1 (got ${opts.testFraction})`);
  }
  const perm = seededPermutation(n, opts.splitSeed);
  const kept = opts.limit !== undefined ? perm.subarray(0, Math.min(n, opts.limit)) : perm;
  if (kept.length < 2) throw new DatasetError(`need at least 2 rows to split into train and test (have ${kept.length})`);
  const nTest = Math.min(kept.length - 1, Math.max(1, Math.round(kept.length * opts.testFraction)));
  return { test: kept.slice(0, nTest), train: kept.slice(nTest) };
}

/** Rows `idx` of a row-major matrix and their labels. */
export function take(x: Float32Array, y: ArrayLike<number>, cols: number, idx: Int32Array): Split {
  const out = new Float32Array(idx.length * cols);
  const labels = new Int32Array(idx.length);
  for (let r = 0; r < idx.length; r++) {
    const i = idx[r]!;
    out.set(x.subarray(i * cols, (i + 1) * cols), r * cols);
    labels[r] = y[i]!;
  }
  return { x: out, y: labels, rows: idx.length };
}

export function splitNote(opts: { splitSeed: number; testFraction: number; limit?: number }, total: number): string {
  const subset = opts.limit !== undefined && opts.limit < total ? `, a seeded subset of ${opts.limit} of ${total} rows` : "";
  return `${Math.round(opts.testFraction * 100)}% held out by a seeded shuffle (mulberry32 Fisher–Yates, split seed ${opts.splitSeed})${subset}`;
}

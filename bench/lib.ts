// Benchmark helpers shared by the Node benches and the bench Worker (bench/kernel-worker.ts),
// so nothing here may import node: modules.
import { normalRows } from "../shared/random";

export interface Summary {
  n: number;
  median: number;
  p10: number;
  p90: number;
  min: number;
  max: number;
}

/** Linearly interpolated percentile of sorted values, p in [0, 100]. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = ((sorted.length - 1) * p) / 100;
  const lo = sorted[Math.floor(i)]!;
  const hi = sorted[Math.ceil(i)]!;
  return lo + (hi - lo) * (i - Math.floor(i));
}

export function summarize(values: readonly number[]): Summary {
  const s = [...values].sort((a, b) => a - b);
  return { n: s.length, median: percentile(s, 50), p10: percentile(s, 10), p90: percentile(s, 90), min: s[0] ?? NaN, max: s.at(-1) ?? NaN };
}

/** Smallest step of a clock (workerd's performance.now() moves in whole milliseconds). */
export function clockResolutionMs(now: () => number = () => performance.now()): number {
  let best = Infinity;
  let last = now();
  const deadline = last + 100;
  for (let steps = 0; steps < 5; ) {
    const t = now();
    if (t !== last) {
      best = Math.min(best, t - last);
      last = t;
      steps++;
    }
    if (t > deadline) break;
  }
  return best;
}

export interface RoundTiming {
  /** Microseconds per run: each round's duration divided by its runs, summarised over rounds. */
  perRunUs: Summary;
  rounds: number;
  runsPerRound: number;
  warmupRuns: number;
  clockResolutionMs: number;
}

/**
 * Times `run` in rounds long enough for a coarse clock: warm up for `warmupMs`, size rounds from
 * the warm-up speed so each lasts about `roundMs`, then time `rounds` of them back to back.
 */
export async function timeRounds(
  run: (i: number) => unknown,
  opts: { warmupMs: number; roundMs: number; rounds: number },
): Promise<RoundTiming> {
  const now = () => performance.now();
  let i = 0;
  const w0 = now();
  while (now() - w0 < opts.warmupMs || i < 10) await run(i++);
  const warmupRuns = i;
  const runsPerRound = Math.max(1, Math.ceil(opts.roundMs / ((now() - w0) / warmupRuns)));
  const perRun: number[] = [];
  for (let r = 0; r < opts.rounds; r++) {
    const t0 = now();
    for (let k = 0; k < runsPerRound; k++) await run(i++);
    perRun.push(((now() - t0) * 1000) / runsPerRound);
  }
  return { perRunUs: summarize(perRun), rounds: opts.rounds, runsPerRound, warmupRuns, clockResolutionMs: clockResolutionMs(now) };
}

/** `count` distinct seeded standard-normal input matrices of `batch` rows (identical everywhere). */
export function randomInputs(batch: number, features: number, count = 8): Float32Array[] {
  return Array.from({ length: count }, (_, k) => normalRows(batch, features, 1000 + 97 * batch + k));
}

export type Cell = string | number | boolean | null | undefined;

/** Fixed-width text table; numbers are right-aligned. */
export function table(headers: readonly string[], rows: readonly Cell[][]): string {
  const text = rows.map((row) => row.map((c) => (typeof c === "number" ? fmt(c) : String(c ?? "-"))));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[], numeric: (i: number) => boolean) =>
    cells.map((c, i) => (numeric(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ").trimEnd();
  return [
    line(headers, () => false),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...text.map((r, ri) => line(r, (i) => typeof rows[ri]![i] === "number")),
  ].join("\n");
}

/** 3 significant digits for small numbers, thousands separators for big ones. */
export function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 1000 || Number.isInteger(n)) return Math.round(n).toLocaleString("en-US");
  return n.toPrecision(3);
}

/** Rounds every non-integer in a JSON-bound value to `digits` significant digits (readable results files). */
export function rounded<T>(value: T, digits = 4): T {
  return JSON.parse(JSON.stringify(value, (_k, v: unknown) => (typeof v === "number" && !Number.isInteger(v) ? Number(v.toPrecision(digits)) : v))) as T;
}

/** A figure's spread across rounds or runs (one value each, e.g. a per-round median). */
export interface Spread {
  /** Values it spans (rounds, runs, clients). */
  n: number;
  min: number;
  median: number;
  max: number;
}

export function spread(values: readonly number[]): Spread {
  const s = summarize(values);
  return { n: s.n, min: s.min, median: s.median, max: s.max };
}

/** "median (min–max)": how the benches print a spread. */
export function fmtSpread(s: Spread, unit = ""): string {
  return `${fmt(s.median)}${unit} (${fmt(s.min)}–${fmt(s.max)})`;
}

/**
 * A target judged on a spread: met only when every round is inside it (all below an upper
 * bound, all at or above a lower one), so one lucky round cannot meet it on a noisy machine.
 */
export function metBySpread(s: Spread, target: { below: number } | { atLeast: number }): boolean {
  return "below" in target ? s.max < target.below : s.min >= target.atLeast;
}

export type Pcts = { p50: number; p95: number; p99: number };

/** p50, p95 and p99 of unsorted values. */
export function pcts(values: readonly number[]): Pcts {
  const s = [...values].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p95: percentile(s, 95), p99: percentile(s, 99) };
}

/** Percentile by percentile: a / b. */
export function pctsRatio(a: Pcts, b: Pcts): Pcts {
  return { p50: a.p50 / b.p50, p95: a.p95 / b.p95, p99: a.p99 / b.p99 };
}

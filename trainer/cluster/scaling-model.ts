// A model of one synchronous data-parallel step, calibrated on measured steps (npm run
// bench:scaling) and used to project efficiency to more workers than this machine can run.
//
//   step ms = compute + fixed[reduce] + msPerMB × MB through Redis on the critical path
//                     + nsPerElement × elements the critical path averages and updates
//
// What travels, per step, for P parameters, N workers, e bytes per gradient value (4 fp32, 2 bf16):
//   hub         weights out 4P, read by N workers (4NP); N gradients in (NeP) and read by the
//               coordinator (NeP); it averages N·P values and runs Adam over P.
//   replicated  N gradients in (NeP), read by the reducers (NeP, a 1/N slice of each per
//               reducer), reduced slices in (eP), read by every worker (NeP); each worker reduces
//               its slice (P values in all) and runs Adam over P: 2P elements on the path. The
//               coordinator's own read of the reduced gradient is off the path.
// A single Redis serializes every byte; with the slices spread over R Redis nodes (replicated
// only: the hub's coordinator is one client) each node carries 1/R of them.
// Pure: no I/O.
import type { GradientEncoding } from "../train/gradient-encoding";
import type { ReduceMode } from "../train/reduce-mode";

export type PathSpec = { reduce: ReduceMode; encoding: GradientEncoding };

export type StepShape = {
  path: PathSpec;
  workers: number;
  params: number;
  /** The slowest shard's gradient time (measured, or projected from the per-row fit). */
  computeMs: number;
  /** Redis nodes the traffic spreads over (replicated only; default 1). */
  redisNodes?: number;
};

export type ModelConstants = {
  /** Per-step fixed cost of each reduce mode: wake-ups, round trips, bookkeeping. */
  fixedMs: Record<ReduceMode, number>;
  msPerMB: number;
  nsPerElement: number;
};

const BYTES: Record<GradientEncoding, number> = { fp32: 4, bf16: 2 };

/** Bytes one Redis node carries on the step's critical path. */
export function redisBytesOnPath(s: StepShape): number {
  const { workers: n, params: p } = s;
  const e = BYTES[s.path.encoding];
  if (s.path.reduce === "hub") return 4 * p + 4 * n * p + 2 * n * e * p;
  return ((3 * n + 1) * e * p) / Math.max(1, s.redisNodes ?? 1);
}

/** Values averaged and updated on the critical path. */
export function elementsOnPath(s: StepShape): number {
  return s.path.reduce === "hub" ? (s.workers + 1) * s.params : 2 * s.params;
}

export function predictStepMs(c: ModelConstants, s: StepShape): number {
  return s.computeMs + c.fixedMs[s.path.reduce] + (c.msPerMB * redisBytesOnPath(s)) / 1e6 + (c.nsPerElement * elementsOnPath(s)) / 1e6;
}

export type Observation = { shape: StepShape; stepMs: number; label?: string };

/**
 * Least squares on relative error (each row divided by its measured step) for the four
 * constants, none negative: every subset of free constants is solved and the best non-negative
 * solution kept (16 small systems; exact, no iteration).
 */
export function fitConstants(obs: readonly Observation[]): ModelConstants {
  if (obs.length < 4) throw new Error(`fitConstants: need at least 4 observations, got ${obs.length}`);
  const rows = obs.map((o) => {
    const w = 1 / o.stepMs;
    const features = [
      o.shape.path.reduce === "hub" ? 1 : 0,
      o.shape.path.reduce === "replicated" ? 1 : 0,
      redisBytesOnPath(o.shape) / 1e6,
      elementsOnPath(o.shape) / 1e6,
    ].map((f) => f * w);
    return { features, target: (o.stepMs - o.shape.computeMs) * w };
  });
  let best: { x: number[]; sse: number } | undefined;
  for (let mask = 1; mask < 16; mask++) {
    const cols = [0, 1, 2, 3].filter((j) => mask & (1 << j));
    const x = solveLeastSquares(
      rows.map((r) => cols.map((j) => r.features[j]!)),
      rows.map((r) => r.target),
    );
    if (!x || x.some((v) => v < 0)) continue;
    const full = [0, 0, 0, 0];
    cols.forEach((j, k) => (full[j] = x[k]!));
    const sse = rows.reduce((a, r) => a + (r.target - r.features.reduce((s, f, j) => s + f * full[j]!, 0)) ** 2, 0);
    if (!best || sse < best.sse) best = { x: full, sse };
  }
  const x = best?.x ?? [0, 0, 0, 0];
  return { fixedMs: { hub: x[0]!, replicated: x[1]! }, msPerMB: x[2]!, nsPerElement: x[3]! };
}

/** Normal equations with Gaussian elimination (partial pivoting); null when singular. */
function solveLeastSquares(a: number[][], b: number[]): number[] | null {
  const k = a[0]!.length;
  const m = Array.from({ length: k }, (_, i) => [
    ...Array.from({ length: k }, (_, j) => a.reduce((s, row) => s + row[i]! * row[j]!, 0)),
    a.reduce((s, row, r) => s + row[i]! * b[r]!, 0),
  ]);
  for (let c = 0; c < k; c++) {
    let p = c;
    for (let r = c + 1; r < k; r++) if (Math.abs(m[r]![c]!) > Math.abs(m[p]![c]!)) p = r;
    if (Math.abs(m[p]![c]!) < 1e-12) return null;
    [m[c], m[p]] = [m[p]!, m[c]!];
    for (let r = 0; r < k; r++) {
      if (r === c) continue;
      const f = m[r]![c]! / m[c]![c]!;
      for (let j = c; j <= k; j++) m[r]![j] = m[r]![j]! - f * m[c]![j]!;
    }
  }
  return m.map((row, i) => row[k]! / row[i]!);
}

/**
 * Gradient ms as a function of rows: a line fitted to (rows, ms) probes; `cv` is the step-to-step
 * coefficient of variation of one worker's gradient time, which makes the slowest of N shards
 * slower than the mean (stragglers): mean × (1 + cv × E[max of N standard normals]).
 */
export type ComputeFit = { fixedMs: number; msPerRow: number; cv?: number };

export function fitCompute(probes: readonly { batch: number; ms: number }[]): ComputeFit {
  const n = probes.length;
  const mx = probes.reduce((a, p) => a + p.batch, 0) / n;
  const my = probes.reduce((a, p) => a + p.ms, 0) / n;
  const sxx = probes.reduce((a, p) => a + (p.batch - mx) ** 2, 0);
  const msPerRow = sxx > 0 ? probes.reduce((a, p) => a + (p.batch - mx) * (p.ms - my), 0) / sxx : 0;
  return { fixedMs: Math.max(0, my - msPerRow * mx), msPerRow };
}

export type Projection = { workers: number; weak: number; strong: number };

/**
 * Efficiency at N workers, each on its own cores: weak scaling (each worker keeps `batch` rows:
 * T(1)/T(N)) and strong scaling (the global batch is split: T(1)/(N·T(N))).
 */
export function project(c: ModelConstants, compute: ComputeFit, path: PathSpec, params: number, batch: number, workers: readonly number[], redisNodes: (n: number) => number = () => 1): Projection[] {
  const at = (n: number, rows: number) =>
    predictStepMs(c, {
      path,
      workers: n,
      params,
      computeMs: (compute.fixedMs + compute.msPerRow * rows) * (1 + (compute.cv ?? 0) * expectedMaxNormal(n)),
      redisNodes: redisNodes(n),
    });
  const t1 = at(1, batch);
  return workers.map((n) => ({ workers: n, weak: t1 / at(n, batch), strong: t1 / (n * at(n, Math.ceil(batch / n))) }));
}

/** E[max of n independent standard normals] (0 for n = 1), by numerical integration. */
export function expectedMaxNormal(n: number): number {
  if (n <= 1) return 0;
  const phi = (x: number) => Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
  let cdf = 0;
  let sum = 0;
  const h = 0.001;
  // Φ by accumulating φ from -8 (the mass below is negligible).
  for (let x = -8; x < 8; x += h) {
    const mid = x + h / 2;
    const p = phi(mid);
    sum += mid * n * p * (cdf + (p * h) / 2) ** (n - 1) * h;
    cdf += p * h;
  }
  return sum;
}

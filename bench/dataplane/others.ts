// The kernel and model-size-ceiling figures, from the other two benches: their exported functions
// (bench/kernel/measure.ts measureKernels, bench/ceiling.ts measureCeiling) run in this run, or,
// when asked (DATAPLANE_KERNEL / DATAPLANE_CEILING = json) or when their module cannot be loaded,
// their last JSON results file, and the output says which.
import { mkdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Ceiling } from "../ceiling";
import type { KernelResults } from "../kernel/measure";

export type Mode = "run" | "json" | "skip";

export interface Sourced<T> {
  /** How the figures were obtained, in words (printed). */
  source: string;
  measuredInThisRun: boolean;
  results: T | null;
  error?: string;
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err)).split("\n").filter(Boolean).join(" / ").slice(0, 300);

async function fromJson<T>(dirs: string[], file: string, why: string): Promise<Sourced<T>> {
  for (const dir of dirs) {
    const path = join(dir, file);
    try {
      const text = await readFile(path, "utf8");
      const modified = (await stat(path)).mtime.toISOString();
      return { source: `read from ${path} (written ${modified}; ${why})`, measuredInThisRun: false, results: JSON.parse(text) as T };
    } catch {
      // try the next directory
    }
  }
  return { source: `not available: ${why}, and no ${file} in ${dirs.join(" or ")}`, measuredInThisRun: false, results: null };
}

export async function kernelFigures(
  mode: Mode,
  opts: { tmp: string; signal: AbortSignal; log: (line: string) => void; dirs: string[]; timing: { warmupMs: number; roundMs: number; rounds: number }; peak: { ms: number; rounds: number } },
): Promise<Sourced<KernelResults>> {
  if (mode === "skip") return { source: "skipped (DATAPLANE_KERNEL=skip)", measuredInThisRun: false, results: null };
  if (mode === "json") return fromJson(opts.dirs, "kernel.json", "DATAPLANE_KERNEL=json");
  let measure: typeof import("../kernel/measure").measureKernels;
  try {
    measure = (await import("../kernel/measure")).measureKernels;
  } catch (err) {
    return { ...(await fromJson<KernelResults>(opts.dirs, "kernel.json", `bench/kernel/measure.ts could not be loaded: ${message(err)}`)), error: message(err) };
  }
  try {
    await mkdir(opts.tmp, { recursive: true });
    const results = await measure({ tmp: opts.tmp, signal: opts.signal, log: (l) => opts.log(`  ${l}`), timing: opts.timing, peak: opts.peak });
    return { source: `measured in this run by bench/kernel/measure.ts measureKernels (timing ${JSON.stringify(opts.timing)}, peak ${JSON.stringify(opts.peak)})`, measuredInThisRun: true, results };
  } catch (err) {
    if (opts.signal.aborted) throw err;
    return { ...(await fromJson<KernelResults>(opts.dirs, "kernel.json", `measureKernels failed in this run: ${message(err)}`)), error: message(err) };
  }
}

export async function ceilingFigures(
  mode: Mode,
  opts: { tmp: string; log: (line: string) => void; dirs: string[]; sizesMiB: { fp32: number[]; int8: number[] } },
): Promise<Sourced<Ceiling>> {
  if (mode === "skip") return { source: "skipped (DATAPLANE_CEILING=skip)", measuredInThisRun: false, results: null };
  if (mode === "json") return fromJson(opts.dirs, "ceiling.json", "DATAPLANE_CEILING=json");
  let measure: typeof import("../ceiling").measureCeiling;
  try {
    measure = (await import("../ceiling")).measureCeiling;
  } catch (err) {
    return { ...(await fromJson<Ceiling>(opts.dirs, "ceiling.json", `bench/ceiling.ts could not be loaded: ${message(err)}`)), error: message(err) };
  }
  try {
    await mkdir(opts.tmp, { recursive: true });
    const results = await measure({ sizesMiB: opts.sizesMiB, tmp: opts.tmp, log: (l) => opts.log(`  ${l}`) });
    return {
      source: `measured in this run by bench/ceiling.ts measureCeiling (model sizes fp32 ${opts.sizesMiB.fp32.join(",")} MiB, int8 ${opts.sizesMiB.int8.join(",")} MiB)`,
      measuredInThisRun: true,
      results,
    };
  } catch (err) {
    return { ...(await fromJson<Ceiling>(opts.dirs, "ceiling.json", `measureCeiling failed in this run: ${message(err)}`)), error: message(err) };
  }
}

/** A share of peak in either shape bench/kernel has written: a number, or {median, …} under shareOfPeak[name]. */
function share(side: Record<string, unknown>, flat: string, key: string): number | null {
  if (typeof side[flat] === "number") return side[flat] as number;
  const byName = side.shareOfPeak as Record<string, { median?: number } | undefined> | undefined;
  return typeof byName?.[key]?.median === "number" ? byName[key]!.median! : null;
}

/**
 * The figures this bench prints from the kernel results, read defensively: bench/kernel is still
 * changing its result shape, and an older kernel.json may be read instead of a fresh run.
 */
export function kernelSummary(r: KernelResults) {
  const loose = r as unknown as {
    peaks: Record<string, { gflops?: { median: number } } | null | undefined>;
    achieved: { cells: Array<{ batch: number; mflop: number; webToNode: number; web: Record<string, unknown>; node: Record<string, unknown> }> };
    configs?: { fasterEverywhere?: string[] };
  };
  const peak = (name: string) => loose.peaks[name]?.gflops?.median ?? null;
  const num = (side: Record<string, unknown>, k: string) => (typeof side[k] === "number" ? (side[k] as number) : null);
  return {
    wasmMulAddPeakGflops: peak("wasmMulAddPeak"),
    relaxedMaddPeakGflops: peak("relaxedMaddPeak"),
    avx2FmaPeakGflops: peak("avx2FmaPeak"),
    avx512FmaPeakGflops: peak("avx512FmaPeak"),
    achieved: loose.achieved.cells.map((c) => ({
      batch: c.batch,
      mflop: c.mflop,
      webUs: num(c.web, "medianUs"),
      webGflops: num(c.web, "gflops"),
      webShareOfWasmPeak: share(c.web, "shareOfWasmMulAddPeak", "wasmMulAdd"),
      nodeUs: num(c.node, "medianUs"),
      nodeGflops: num(c.node, "gflops"),
      nodeShareOfAvx2Peak: share(c.node, "shareOfAvx2FmaPeak", "avx2Fma"),
      nodeShareOfAvx512Peak: share(c.node, "shareOfAvx512FmaPeak", "avx512Fma"),
      webToNode: c.webToNode,
    })),
    fasterEverywhere: loose.configs?.fasterEverywhere ?? [],
  };
}

export function ceilingSummary(c: Ceiling) {
  return {
    bundleRawBytes: c.bundle.rawBytes,
    bundleLimitBytes: c.bundle.limitBytes,
    bundleFits: c.bundle.fits,
    modelsServed: c.served.filter((s) => s.ok).length,
    modelsTried: c.served.length,
    bracket: c.derived.bracket,
    ceilingBytes: c.derived.ceilingBytes,
    maxModelBytes: c.derived.maxModelBytes,
    headroomBytes: c.derived.headroomBytes,
    limitBytes: c.derived.limitBytes,
    formula: c.derived.formula,
  };
}

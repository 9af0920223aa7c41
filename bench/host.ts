// Helpers shared by the Node benches that need Node itself (lib.ts must stay importable by the
// bench Worker, so nothing there may touch node: modules or process).
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { loadavg } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { fmt } from "./lib";

/** A positive number from the environment, else the default (knobs for reduced runs). */
export function envNumber(name: string, fallback: number): number {
  const v = process.env[name];
  return v !== undefined && v.trim() !== "" && Number.isFinite(Number(v)) && Number(v) > 0 ? Number(v) : fallback;
}

/**
 * Where a bench writes its JSON (and SVG): bench/results/, or BENCH_RESULTS_DIR for runs whose
 * figures must not replace the committed ones (busy machine, reduced sizes).
 */
export function resultsDir(root: string): string {
  return process.env.BENCH_RESULTS_DIR || join(root, "bench", "results");
}

export interface Contention {
  loadAverage1m5m15m: number[];
  cpuPressureSomeAvg10Pct: number;
  cpuPressureSomeAvg60Pct: number;
}

/** How busy the machine is: on 2 cores other processes skew every figure. */
export async function contention(): Promise<Contention> {
  const psi = await readFile("/proc/pressure/cpu", "utf8").catch(() => "");
  const avg = (key: string) => Number(new RegExp(`^some .*${key}=([\\d.]+)`, "m").exec(psi)?.[1] ?? NaN);
  return { loadAverage1m5m15m: loadavg(), cpuPressureSomeAvg10Pct: avg("avg10"), cpuPressureSomeAvg60Pct: avg("avg60") };
}

export const describeContention = (c: Contention): string =>
  `load average ${c.loadAverage1m5m15m.map(fmt).join(" ")}, CPU pressure (some, 60 s) ${fmt(c.cpuPressureSomeAvg60Pct)}%`;

/**
 * A copy of a wrangler config for one `wrangler dev` of a bench, in `dir`: `main` and
 * `migrations_dir` made absolute (optionally another entry point: same bindings, Durable Objects
 * and state), and an inspector port of its own. wrangler dev probes 9229 upwards and binds later,
 * so on a machine where others run wrangler dev too it races them for the port (seen: workerd
 * "Address already in use; 127.0.0.1:9229").
 */
export async function devConfig(source: string, dir: string, opts: { main?: string; inspectorPort: number }): Promise<string> {
  let text = await readFile(source, "utf8");
  const from = dirname(source);
  const absolute = (key: string, replace?: string) => {
    const re = new RegExp(`^(${key}\\s*=\\s*)"([^"]+)"`, "m");
    const m = re.exec(text);
    if (!m) return false;
    text = text.replace(re, `$1${JSON.stringify(replace ?? resolve(from, m[2]!))}`);
    return true;
  };
  if (!absolute("main", opts.main)) throw new Error(`${source} has no main = "..."`);
  absolute("migrations_dir");
  if (/^\[dev\]/m.test(text)) throw new Error(`${source} already has a [dev] table`);
  await mkdir(dir, { recursive: true });
  const file = join(dir, `wrangler.${basename(source, ".toml").replace(/^wrangler\.?/, "") || "main"}.toml`);
  await writeFile(file, `# Generated from ${source} by bench/host.ts\n${text}\n[dev]\ninspector_port = ${opts.inspectorPort}\n`);
  return file;
}

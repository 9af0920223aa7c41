// `npm run bench:kernel`: kernel peaks, onnxruntime-web/-node achieved GFLOP/s and share of peak,
// and onnxruntime-web session options in workerd (bench/kernel/measure.ts). Prints tables and
// writes kernel.json (bench/results/, or BENCH_RESULTS_DIR). Stops its wrangler dev on any exit.
//
// Options (environment): KERNEL_ROUNDS=15, KERNEL_ROUND_MS=30, KERNEL_WARMUP_MS=200 (session.run
// timing), KERNEL_PEAK_MS=50, KERNEL_PEAK_ROUNDS=10 (peak loops).
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../../dev/local";
import { describeContention, envNumber, resultsDir } from "../host";
import { fmt, rounded } from "../lib";
import { kernelTables, measureKernels } from "./measure";

const controller = new AbortController();
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(signal, () => controller.abort());

const tmp = await mkdtemp(join(tmpdir(), "meridian-kernel-"));
try {
  const results = await measureKernels({
    tmp,
    signal: controller.signal,
    log: (line) => process.stderr.write(`${line}\n`),
    timing: { warmupMs: envNumber("KERNEL_WARMUP_MS", 200), roundMs: envNumber("KERNEL_ROUND_MS", 30), rounds: Math.round(envNumber("KERNEL_ROUNDS", 15)) },
    peak: { ms: envNumber("KERNEL_PEAK_MS", 50), rounds: Math.round(envNumber("KERNEL_PEAK_ROUNDS", 10)) },
  });
  const m = results.machine;
  console.log(`bench:kernel on ${m.cpus}x ${m.cpu.model} (family ${m.cpu.family} model ${m.cpu.modelNumber}; ${m.cpu.flags.join(" ")}), ${m.workerd}, node ${m.node}; ${describeContention(m.atStart)}\n`);
  console.log(kernelTables(results));
  const dir = resultsDir(ROOT);
  await mkdir(dir, { recursive: true });
  const out = join(dir, "kernel.json");
  await writeFile(out, `${JSON.stringify(rounded(results, 3), null, 2)}\n`);
  console.log(`\nwrote ${out} (${fmt(results.wallS)} s); at the end (incl. this bench): ${describeContention(results.atEnd)}`);
} catch (err) {
  console.error(controller.signal.aborted ? "bench:kernel: stopped by a signal" : err);
  process.exitCode = controller.signal.aborted ? 130 : 1;
} finally {
  await rm(tmp, { recursive: true, force: true });
}

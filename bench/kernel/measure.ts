// What the kernels reach against what the instruction sets allow, on this machine, in one run:
//  1. peaks: WASM SIMD fp32 (f32x4 mul+add, and relaxed_madd) inside workerd, the same bytes in
//     Node as a cross-check, and native SSE mul+add / AVX2 FMA / AVX-512 FMA (g++ at bench time)
//  2. achieved: onnxruntime-web in workerd and onnxruntime-node (1 thread) on mlp784, GFLOP/s and
//     share of the matching peak, each timed in rounds interleaved with its peak loop
//  3. session options and int8 formats of onnxruntime-web in workerd, timed against today's
//     sessionOptions() with interleaved rounds
// measureKernels() returns the JSON object bench:kernel writes; kernelTables() prints it.
import { execFile } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { cpus, release } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import * as ortNode from "onnxruntime-node";
import { buildFixtureModels, mlp784 } from "../../dev/samples/index";
import { ROOT, WRANGLER_ENV, freePort, startDev, type DevServer } from "../../dev/local";
import { buildMlpInt8, type MlpSpec } from "../../shared/onnx/mlp";
import { contention } from "../host";
import { fmt, fmtSpread, randomInputs, summarize, table, type Spread } from "../lib";
import { peakGflops, processCpuClock, threadsCpuClock, timeCpu, workerPid, type Batch, type CpuClock, type CpuTiming } from "./cpu";
import { NATIVE_LOOPS, startNative, type Native } from "./native";
import { ACCUMULATORS, flopsPerIteration, peakFunction, peakModule, type PeakOp } from "./wasm";
import type { OpenRequest, SessionOverrides } from "./worker";

const run = promisify(execFile);
const HERE = join(ROOT, "bench", "kernel");
const BATCHES = [1, 8, 64];
const CONFIG_BATCHES = [1, 64];

export interface KernelBenchOptions {
  /** Scratch directory (generated Worker, .wasm, native binary, wrangler state); the caller removes it. */
  tmp: string;
  signal?: AbortSignal;
  log?: (line: string) => void;
  /** session.run timing: warm-up, round length, rounds (per session; configs interleave rounds). */
  timing?: { warmupMs: number; roundMs: number; rounds: number };
  /** Peak loops: length of one timed call and how many. */
  peak?: { ms: number; rounds: number };
}

/** Today's options plus one change each; "baseline again" is the A/A control (the noise floor). */
function configs(batch: number): { name: string; options: SessionOverrides; batchSpecific?: boolean }[] {
  return [
    { name: "baseline: sessionOptions()", options: {} },
    { name: "baseline again (A/A control)", options: {} },
    ...(["disabled", "basic", "extended", "layout"] as const).map((level) => ({ name: `graphOptimizationLevel ${level}`, options: { graphOptimizationLevel: level } })),
    { name: `freeDimensionOverrides batch=${batch}`, options: { freeDimensionOverrides: { batch } }, batchSpecific: true },
    { name: "enableCpuMemArena false", options: { enableCpuMemArena: false } },
    { name: "enableMemPattern false", options: { enableMemPattern: false } },
    { name: "executionMode parallel", options: { executionMode: "parallel" } },
    { name: "session.disable_prepacking 1", options: { extra: { session: { disable_prepacking: "1" } } } },
    { name: "session.disable_quant_qdq 1", options: { extra: { session: { disable_quant_qdq: "1" } } } },
    { name: "session.set_denormal_as_zero 1", options: { extra: { session: { set_denormal_as_zero: "1" } } } },
  ];
}

interface Model {
  name: string;
  onnx: string;
  input: string;
  features: number;
}

const weightCount = (spec: MlpSpec) => spec.layers.reduce((sum, l) => sum + l.inputs * l.outputs, 0);
const perRun = (t: CpuTiming) => ({
  medianUs: t.cpuPerRunUs.median,
  p10Us: t.cpuPerRunUs.p10,
  p90Us: t.cpuPerRunUs.p90,
  wallMedianUs: t.wallPerRunUs?.median ?? null,
  rounds: t.rounds,
  runsPerRound: t.runsPerRound,
  overheadUs: t.overheadUs,
});

/** Per-round ratios to the baseline (rounds interleaved, so they pair up), and the share of rounds it won. */
function ratios(t: CpuTiming, base: CpuTiming) {
  const r = t.cpuPerRoundUs.map((us, i) => us / base.cpuPerRoundUs[i]!);
  const s = summarize(r);
  return { ratioMedian: s.median, ratioP10: s.p10, ratioP90: s.p90, fasterRounds: r.filter((x) => x < 1).length / r.length };
}

/**
 * Ratios to the baseline and a verdict against both identical baseline sessions (the baseline and
 * the A/A control), so a baseline session that is itself slow or fast by placement decides
 * nothing: "faster" when it won at least 80% of the rounds against each (12 of 15: p < 0.02 for
 * equal sessions, a sign test) and its median ratio to each is further below 1 than the two
 * baselines differ; "slower" the same the other way.
 */
function versus(t: CpuTiming, base: CpuTiming, control: CpuTiming) {
  const pair = [ratios(t, base), ratios(t, control)];
  const margin = Math.abs(1 - ratios(control, base).ratioMedian);
  const faster = pair.every((r) => r.fasterRounds >= 0.8 && r.ratioMedian < 1 - margin);
  const slower = pair.every((r) => r.fasterRounds <= 0.2 && r.ratioMedian > 1 + margin);
  return { ...pair[0]!, ratioToControlMedian: pair[1]!.ratioMedian, verdict: faster ? "faster" : slower ? "slower" : "within noise" };
}

type ConfigRow = { config: string; batchSpecific: boolean } & ReturnType<typeof perRun> & ReturnType<typeof versus>;

/** POST, with a JSON body only when given: a body the Worker never reads breaks wrangler dev's proxy ("Can't read from request stream after response has been sent"). */
async function post<T>(url: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const init = body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) };
  const res = await fetch(url, { method: "POST", ...init, signal });
  const text = await res.text();
  if (!res.ok) throw new Error(`POST ${url}: HTTP ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

async function cpuInfo() {
  const text = await readFile("/proc/cpuinfo", "utf8");
  const field = (key: string) => new RegExp(`^${key}\\s*:\\s*(.*)$`, "m").exec(text)?.[1]?.trim() ?? "unknown";
  const flags = new Set(field("flags").split(/\s+/));
  return { model: field("model name"), family: field("cpu family"), modelNumber: field("model"), flags: ["sse4_2", "avx", "avx2", "fma", "avx512f"].filter((f) => flags.has(f)) };
}

/**
 * The bench Worker, bundled once into `tmp` and served from there: an entry that imports the peak
 * loops' .wasm (wrangler's CompiledWasm rule makes them modules). `wrangler dev` on the sources
 * would restart the isolate, losing its sessions, whenever someone edits a file it imports.
 */
async function buildWorker(tmp: string, signal?: AbortSignal): Promise<string> {
  const src = join(tmp, "worker-src");
  const out = join(tmp, "worker");
  await mkdir(src, { recursive: true });
  const ops: PeakOp[] = ["muladd", "madd"];
  for (const op of ops) await writeFile(join(src, `${op}.wasm`), peakModule(op));
  const imports = ops.map((op) => `import ${op} from "./${op}.wasm";`);
  await writeFile(join(src, "entry.js"), [...imports, `import { kernelWorker } from ${JSON.stringify(join(HERE, "worker.ts"))};`, `export default kernelWorker({ ${ops.join(", ")} });`, ""].join("\n"));
  const base = await readFile(join(ROOT, "bench", "wrangler.kernel.toml"), "utf8");
  const toml = (main: string, ...lines: string[]) =>
    [`name = "meridian-bench-kernel"`, `main = ${JSON.stringify(main)}`, /^compatibility_date\s*=.*$/m.exec(base)![0], ...lines, ""].join("\n");
  await writeFile(join(src, "wrangler.toml"), toml(join(src, "entry.js")));
  await run(join(ROOT, "node_modules", ".bin", "wrangler"), ["deploy", "--dry-run", "--outdir", out, "--config", join(src, "wrangler.toml")], { cwd: ROOT, env: WRANGLER_ENV, signal, maxBuffer: 1 << 24 });
  const config = join(tmp, "wrangler.kernel.toml");
  const rules = `rules = [{ type = "CompiledWasm", globs = ["**/*.wasm"], fallthrough = true }]`;
  await writeFile(config, toml(join(out, "entry.js"), "no_bundle = true", "find_additional_modules = true", rules, "[dev]", `inspector_port = ${await freePort()}`));
  return config;
}

type PeakRow = { where: string; loop: string; accumulators: number; flopsPerIteration: number; gflops: Spread; wallGflops: Spread | null };

/** Achieved ÷ peak GFLOP/s round by round (the two timed in interleaved rounds), and that peak. */
function share(flops: number, run: CpuTiming, peak: CpuTiming, peakFlopsPerIteration: number) {
  const s = summarize(run.cpuPerRoundUs.map((us, r) => flops / us / (peakFlopsPerIteration / peak.cpuPerRoundUs[r]!)));
  return { median: s.median, p10: s.p10, p90: s.p90, peakGflops: peakFlopsPerIteration / peak.cpuPerRunUs.median / 1e3 };
}
const best = (rows: PeakRow[], where: string, loop: string) => {
  const of = rows.filter((r) => r.where === where && r.loop === loop);
  return of.length ? of.reduce((a, b) => (b.gflops.median > a.gflops.median ? b : a)) : undefined;
};

export async function measureKernels(opts: KernelBenchOptions) {
  const log = opts.log ?? (() => {});
  const timing = opts.timing ?? { warmupMs: 200, roundMs: 30, rounds: 15 };
  const peakOpts = opts.peak ?? { ms: 50, rounds: 10 };
  const signal = opts.signal;
  const started = Date.now();
  const version = async (pkg: string) => (JSON.parse(await readFile(join(ROOT, "node_modules", pkg, "package.json"), "utf8")) as { version: string }).version;
  const cpu = await cpuInfo();
  if (!cpu.flags.includes("avx2") || !cpu.flags.includes("fma")) throw new Error(`this CPU has no AVX2+FMA (flags: ${cpu.flags.join(" ")})`);
  const machine = {
    cpus: cpus().length,
    cpu,
    platform: `${process.platform} ${release()}`,
    node: process.version,
    workerd: (await run(join(ROOT, "node_modules", ".bin", "workerd"), ["--version"])).stdout.trim(),
    versions: { onnxruntimeWeb: await version("onnxruntime-web"), onnxruntimeNode: await version("onnxruntime-node"), wrangler: await version("wrangler") },
    date: new Date().toISOString(),
    atStart: await contention(),
  };

  // Models: the fixtures plus mlp784 in the quantize_dynamic int8 format.
  const fixtures = await buildFixtureModels();
  const mlp = mlp784();
  const fixture = (name: string): Model => {
    const f = fixtures.find((m) => m.manifest.name === name)!;
    return { name, onnx: f.onnx, input: f.manifest.inputs[0]!.name, features: f.manifest.inputs[0]!.shape[1]! };
  };
  const fp32 = fixture("mlp784");
  const qlinear = fixture("mlp784-int8");
  const dynamic = { ...fp32, name: "mlp784-int8-dynamic", onnx: Buffer.from(buildMlpInt8(mlp.spec, mlp.calibration, mlp.rows, { format: "dynamic" })).toString("base64") };

  let native: Native | undefined;
  let server: DevServer | undefined;
  try {
    native = await startNative(opts.tmp, join(HERE, "peak.cpp"), signal);
    server = await startDev({ config: await buildWorker(opts.tmp, signal), stateDir: join(opts.tmp, "state"), quiet: true, signal });
    const workerd = threadsCpuClock(await workerPid(server.process.pid!));
    const url = (path: string, query: Record<string, string | number>) => `${server!.url}${path}?${new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)]))}`;
    const wasmLoop = (op: PeakOp, accumulators: number): Batch => async (iterations) => (await post<{ wallMs: number }>(url("/peak", { op, accumulators, iterations }), undefined, signal)).wallMs;
    /** Opens a session per run in the Worker, times them (and `also`) interleaved by workerd's CPU time, closes them. */
    const sessions = async (batch: number, runs: { model: Model; options: SessionOverrides }[], also: Batch[] = []) => {
      const ids: number[] = [];
      try {
        for (const { model, options } of runs) {
          const body: OpenRequest = { onnx: model.onnx, options, input: model.input, features: model.features, batch };
          ids.push((await post<{ id: number }>(`${server!.url}/open`, body, signal)).id);
        }
        const batches: Batch[] = ids.map((id) => async (n) => (await post<{ wallMs: number }>(url("/run", { id, runs: n }), undefined, signal)).wallMs);
        return await timeCpu([...batches, ...also], workerd, timing);
      } finally {
        for (const id of ids) await post(url("/close", { id }));
      }
    };
    await sessions(1, [{ model: fp32, options: {} }]); // unreported: lets the fresh isolate settle

    log("kernel 1/3: peaks: native (g++), WASM SIMD in workerd and in Node");
    const peaks: PeakRow[] = [];
    for (const { loop, lanes, accumulators } of NATIVE_LOOPS.filter((l) => l.loop !== "avx512-fma" || cpu.flags.includes("avx512f"))) {
      for (const k of accumulators) {
        const flopsPerIteration = k * lanes * 2;
        peaks.push({ where: "native", loop, accumulators: k, flopsPerIteration, ...(await peakGflops(native.call(loop, k), flopsPerIteration, native.clock, peakOpts)) });
      }
    }
    const nodeModule = new WebAssembly.Module(peakModule("muladd")); // Node 20's V8 has no relaxed SIMD
    for (const op of ["muladd", "madd"] as const) {
      for (const k of ACCUMULATORS) {
        peaks.push({ where: "workerd", loop: `wasm-${op}`, accumulators: k, flopsPerIteration: flopsPerIteration(k), ...(await peakGflops(wasmLoop(op, k), flopsPerIteration(k), workerd, peakOpts)) });
        if (op !== "muladd") continue;
        const fn = peakFunction(nodeModule, op, k);
        const inNode: Batch = async (iterations) => {
          const t0 = performance.now();
          if (iterations > 0) fn(iterations);
          return performance.now() - t0;
        };
        peaks.push({ where: "node", loop: `wasm-${op}`, accumulators: k, flopsPerIteration: flopsPerIteration(k), ...(await peakGflops(inNode, flopsPerIteration(k), processCpuClock, peakOpts)) });
      }
    }
    const wasmPeak = best(peaks, "workerd", "wasm-muladd")!;
    const avx2Peak = best(peaks, "native", "avx2-fma")!;
    const avx512Peak = best(peaks, "native", "avx512-fma");

    log("kernel 2/3: mlp784 achieved, each beside its peak loop in interleaved rounds");
    const nodeSession = await ortNode.InferenceSession.create(Buffer.from(fp32.onnx, "base64"), { executionProviders: ["cpu"], graphOptimizationLevel: "all", intraOpNumThreads: 1, interOpNumThreads: 1 });
    // ort-node and the native loops run in two processes: their clock is the sum of both.
    const nodeAndNative: CpuClock = async () => (await processCpuClock()) + (await native!.clock());
    const nativeLoop = (p: PeakRow) => native!.call(p.loop, p.accumulators);
    const achieved = [];
    try {
      for (const batch of BATCHES) {
        const flops = 2 * batch * weightCount(mlp.spec);
        const [web, webPeak] = await sessions(batch, [{ model: fp32, options: {} }], [wasmLoop("muladd", wasmPeak.accumulators)]);
        const feeds = randomInputs(batch, fp32.features).map((data) => ({ [fp32.input]: new ortNode.Tensor("float32", data, [batch, fp32.features]) }));
        const inNode: Batch = async (n) => {
          const t0 = performance.now();
          for (let i = 0; i < n; i++) await nodeSession.run(feeds[i % feeds.length]!);
          return performance.now() - t0;
        };
        const [node, avx2, avx512] = await timeCpu([inNode, nativeLoop(avx2Peak), ...(avx512Peak ? [nativeLoop(avx512Peak)] : [])], nodeAndNative, timing);
        const cell = (t: CpuTiming, peaksBeside: Record<string, { timing: CpuTiming; row: PeakRow }>) => ({
          ...perRun(t),
          gflops: flops / t.cpuPerRunUs.median / 1e3,
          // At small batches each run reads every fp32 weight for few flops: bytes/s says more there.
          weightGbPerS: (4 * weightCount(mlp.spec)) / t.cpuPerRunUs.median / 1e3,
          shareOfPeak: Object.fromEntries(Object.entries(peaksBeside).map(([name, p]) => [name, share(flops, t, p.timing, p.row.flopsPerIteration)])),
        });
        achieved.push({
          batch,
          mflop: flops / 1e6,
          web: cell(web!, { wasmMulAdd: { timing: webPeak!, row: wasmPeak } }),
          node: cell(node!, { avx2Fma: { timing: avx2!, row: avx2Peak }, ...(avx512Peak ? { avx512Fma: { timing: avx512!, row: avx512Peak } } : {}) }),
          webToNode: web!.cpuPerRunUs.median / node!.cpuPerRunUs.median,
        });
        log(`  batch ${batch}: web ${fmt(web!.cpuPerRunUs.median)} µs, node ${fmt(node!.cpuPerRunUs.median)} µs`);
        signal?.throwIfAborted();
      }
    } finally {
      await nodeSession.release();
    }

    log("kernel 3/3: session options and int8 formats (onnxruntime-web in workerd, interleaved rounds)");
    const cells = [
      ...CONFIG_BATCHES.flatMap((batch) => [fp32, qlinear, dynamic].map((model) => ({ model, batch }))),
      { model: fixture("iris"), batch: 1 },
      { model: fixture("iris-int8"), batch: 1 },
    ];
    const configCells: { model: string; batch: number; configs: ConfigRow[] }[] = [];
    for (const { model, batch } of cells) {
      const list = configs(batch);
      const timed = await sessions(batch, list.map((c) => ({ model, options: c.options })));
      const base = timed[0]!;
      const rows = list.map((c, i) => ({ config: c.name, batchSpecific: Boolean(c.batchSpecific), ...perRun(timed[i]!), ...versus(timed[i]!, base, timed[1]!) }));
      configCells.push({ model: model.name, batch, configs: rows });
      log(`  ${model.name} batch ${batch}: baseline ${fmt(base.cpuPerRunUs.median)} µs`);
    }
    const formats = [];
    for (const batch of BATCHES) {
      const models = [fp32, { ...fp32, name: "mlp784 again (A/A control)" }, qlinear, dynamic];
      const timed = await sessions(batch, models.map((model) => ({ model, options: {} })));
      formats.push({ batch, models: models.map((m, i) => ({ model: m.name, ...perRun(timed[i]!), ...versus(timed[i]!, timed[0]!, timed[1]!) })) });
    }
    // A change worth making to sessionOptions(): valid for every model, faster in every cell.
    const fasterEverywhere = configs(1)
      .slice(2)
      .filter((c) => !c.batchSpecific && configCells.every((cell) => cell.configs.find((x) => x.config === c.name)?.verdict === "faster"))
      .map((c) => c.name);

    return {
      machine,
      units: "Us microseconds, Gflops 1e9 floating-point operations per second, Mflop 1e6 operations; share = fraction of the named peak.",
      timeBase:
        "Times are CPU time unless named wall: this machine is shared, and CPU time leaves out other processes' turns on the core. The CPU time of a call is read by the bench before and after it: workerd (each request to the Worker) and the native peak child (each line it serves): the sum of the process's threads' on-CPU ns (/proc/<pid>/task/*/schedstat); this Node process: process.cpuUsage(). An empty call's CPU (median over rounds) is taken off. Wall figures are measured by the callee (performance.now in workerd, whole ms steps; steady_clock in C++).",
      peaks: {
        method:
          `measured: CPU time of one call of a loop over K independent accumulators, acc = acc * m + c, calls sized to ~${peakOpts.ms} ms of CPU, ${peakOpts.rounds} calls per row. ` +
          'WASM: a module hand-assembled in TypeScript at bench time (bench/kernel/wasm.ts): f32x4.mul then f32x4.add ("wasm-muladd", the instructions of onnxruntime-web 1.30\'s SIMD build) or one f32x4.relaxed_madd ("wasm-madd"), run inside workerd (imported .wasm module) and, muladd only, in this Node process. ' +
          `native: bench/kernel/peak.cpp (${native.compiler}), served by a child process: 128-bit mul then add ("sse-muladd", the native twin of wasm-muladd), 256-bit FMA ("avx2-fma"), 512-bit FMA ("avx512-fma", only with avx512f). ` +
          "derived: GFLOP/s = iterations × flops per iteration / time (a mul and an add, or one FMA, count 2 flops per lane); a loop's peak is its best K by median.",
        wasmMulAddPeak: wasmPeak,
        relaxedMaddPeak: best(peaks, "workerd", "wasm-madd") ?? null,
        avx2FmaPeak: avx2Peak,
        avx512FmaPeak: avx512Peak ?? null,
        rows: peaks,
      },
      achieved: {
        method: `measured: CPU time per session.run on mlp784 (784-256-128-10 fp32, seeded random inputs), median over ${timing.rounds} rounds of ~${timing.roundMs} ms after ${timing.warmupMs} ms warm-up, interleaved round by round with calls of the peak loop it is held against (its best K above): web = onnxruntime-web through edge/runtime/ort sessionOptions() inside workerd, beside wasm-muladd in the same isolate; node = onnxruntime-node in this process (cpu, graphOptimizationLevel all, 1 intra-op and 1 inter-op thread), beside avx2-fma and avx512-fma in the native child. derived: GFLOP/s = 2 × batch × Σ(inputs × outputs) / median time (the MatMuls' flops; bias, relu and softmax not counted); weights GB/s = 4 bytes × Σ(inputs × outputs) / median time (every fp32 weight read once per run); shareOfPeak = achieved ÷ peak GFLOP/s of the same round, median and p10–p90 over rounds (peakGflops: that peak's median in this cell).`,
        model: "mlp784",
        cells: achieved,
      },
      configs: {
        method: `measured: CPU time per session.run, every config of a cell a session of its own in the same isolate, their ${timing.rounds} rounds interleaved (order rotated each round). derived: ratio = a round's time / the baseline's time in the same round, median and p10–p90 over rounds; verdicts are judged against both identical baseline sessions (the baseline and the A/A control, a second session with its options: the noise floor, session placement included): "faster" when it won ≥ 80% of the rounds against each (fasterRounds; a sign test: 12 of 15 has p < 0.02 for equal sessions) and its median ratio to each is further below 1 than the two baselines differ; "slower" likewise the other way; else "within noise". Options are merged over edge/runtime/ort sessionOptions(); mlp784-int8 is QLinearMatMul (static scales), mlp784-int8-dynamic DynamicQuantizeLinear + MatMulInteger, same weights.`,
        cells: configCells,
        fasterEverywhere,
      },
      formats: {
        method: "measured and judged as configs: sessions of the three mlp784 formats (and fp32 again as the A/A control) with sessionOptions(), interleaved; ratios are against fp32.",
        cells: formats,
      },
      atEnd: { note: "includes this bench's own processes", ...(await contention()) },
      wallS: (Date.now() - started) / 1000,
    };
  } finally {
    native?.stop();
    await server?.stop();
  }
}

export type KernelResults = Awaited<ReturnType<typeof measureKernels>>;

const pct = (s?: { median: number; p10: number; p90: number }) => (s ? `${fmt(s.median * 100)}% (${fmt(s.p10 * 100)}–${fmt(s.p90 * 100)})` : "-");
const ratio = (c: { medianUs: number; ratioMedian: number; verdict: string }) =>
  `${fmt(c.medianUs)} ×${c.ratioMedian.toFixed(2)}${c.verdict === "faster" ? "+" : c.verdict === "slower" ? "-" : ""}`;

/** The tables bench:kernel prints. */
export function kernelTables(r: KernelResults): string {
  const out: string[] = [];
  out.push("Peaks, one thread, K accumulators: GFLOP/s by CPU time and by wall time, median (min–max) of calls");
  out.push(table(["where", "loop", "K", "GFLOP/s (CPU)", "GFLOP/s (wall)"], r.peaks.rows.map((p) => [p.where, p.loop, p.accumulators, fmtSpread(p.gflops), p.wallGflops ? fmtSpread(p.wallGflops) : "-"])));
  out.push("\nmlp784 achieved (CPU µs per run, median) and share of peak, median (p10–p90) of rounds interleaved with the peak loop: web vs wasm-muladd in workerd, node vs avx2-fma / avx512-fma");
  out.push(
    table(
      ["batch", "MFLOP", "web µs", "web GFLOP/s", "web % peak", "web weights GB/s", "node µs", "node GFLOP/s", "node % AVX2", "node % AVX-512", "node weights GB/s", "web/node"],
      r.achieved.cells.map((c) => [c.batch, c.mflop, c.web.medianUs, c.web.gflops, pct(c.web.shareOfPeak["wasmMulAdd"]), c.web.weightGbPerS, c.node.medianUs, c.node.gflops, pct(c.node.shareOfPeak["avx2Fma"]), pct(c.node.shareOfPeak["avx512Fma"]), c.node.weightGbPerS, c.webToNode]),
    ),
  );
  out.push("\nonnxruntime-web session options in workerd: CPU µs per run ×ratio to baseline (median of paired rounds; + faster, - slower beyond the A/A control's noise)");
  const cols = r.configs.cells.map((c) => `${c.model} b${c.batch}`);
  const rows = r.configs.cells[0]!.configs.map((_, i) => [r.configs.cells[0]!.configs[i]!.config.replace(/batch=\d+/, "batch=B"), ...r.configs.cells.map((cell) => ratio(cell.configs[i]!))]);
  out.push(table(["config", ...cols], rows));
  out.push(`   faster in every cell (and not batch-specific): ${r.configs.fasterEverywhere.join(", ") || "none"}`);
  out.push("\nint8 formats, mlp784 in workerd with sessionOptions(): CPU µs per run ×ratio to fp32 (paired rounds; + faster, - slower beyond noise)");
  out.push(
    table(
      ["batch", "fp32", "fp32 again (A/A)", "int8 qlinear", "int8 dynamic"],
      r.formats.cells.map((c) => [c.batch, ...c.models.map(ratio)]),
    ),
  );
  return out.join("\n");
}

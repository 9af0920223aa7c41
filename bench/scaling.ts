// `npm run bench:scaling`: the gradient paths side by side, and where they go with more workers.
//  Paths: the hub (the coordinator averages and broadcasts the weights) with fp32 and with bf16
//  gradients, and the replicas that reduce among themselves (--reduce replicated) with bf16 and
//  fp32. Each path runs, in every round, with 1 worker, 2 workers on the same global batch (strong
//  scaling) and 2 workers on twice the batch (weak scaling), back to back, so all share the
//  machine's load of the moment. Measured per configuration, over the measured steps only:
//    bytes through Redis per step   INFO total_net_input_bytes + total_net_output_bytes, deltas
//    coordination ms per step       step wall − slowest shard's compute − the coordinator's apply
//    CPU ms per step per process    the coordinator (this process), each worker (/proc), Redis (INFO)
//  Scaling per round: strong = steps/s(2) ÷ (2 × steps/s(1)); weak = rows/s(2, 2× batch) ÷
//  (2 × rows/s(1)); each also as a share of the compute-only ceiling (train-probes medianCeiling, three probes:
//  the same gradients in 2 processes at once without Redis). Accuracy: held-out after the bench:train
//  quality config with 2 shards, through the in-process reference of each path (the same bits as
//  its cluster run: trainer/cluster/bf16-cluster.test.ts, replicated-cluster.test.ts).
//  Model (trainer/cluster/scaling-model.ts): fitted to every configuration's median step, checked
//  within 10% at 1 and 2 workers, then projected to 8, 16 and 64 workers, each on its own cores
//  (MODELLED, not measured), with stragglers from the measured step-to-step compute variation, on
//  one Redis and, for the replicated path, with the slices spread over one Redis node per worker.
//  Step size: the best strong path of each data set again at batches calibrated to BENCH_SWEEP_MS
//  of compute (each with its own ceiling probes, same rounds): efficiency against the compute a
//  step carries, the per-step cost that does not shrink with the shards (2-worker step − the
//  ceiling probe's halves), and the fitted model checked on these points it was not fitted to.
// Uses REDIS_URL if set, else starts its own redis-server. Writes bench/results/scaling.json.
// Options: BENCH_STEPS=30, BENCH_ROUNDS=3, BENCH_DATASETS=spam,mnist, BENCH_COMPUTE_MS=50,
// BENCH_SPLIT_MS=2000, BENCH_QUALITY=1, BENCH_BACKEND=auto, BENCH_PATHS=<names> (default all),
// BENCH_SWEEP_MS=100,200 ("" for none).
import { readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { startRedis, type TestRedis } from "../dev/redis";
import { spawnWorker, type WorkerProcess } from "../dev/workers";
import { ClusterGradients } from "../trainer/cluster/coordinator";
import { fitCompute, fitConstants, predictStepMs, project, type ModelConstants, type Observation, type PathSpec, type StepShape } from "../trainer/cluster/scaling-model";
import { loadDataset, type Dataset } from "../trainer/data";
import { mlp } from "../trainer/train/arch";
import { selectBackend } from "../trainer/train/backend";
import { silentEvents, type StepEvent } from "../trainer/train/events";
import { LocalGradients, splitFingerprint, train, type TrainConfig } from "../trainer/train/loop";
import { envNumber, resultsDir } from "./host";
import { fmt, fmtSpread, metBySpread, rounded, spread, summarize, table, type Spread } from "./lib";
import { calibrateBatch, medianCeiling, parallelCapacity } from "./train-probes";

const ROOT = join(import.meta.dirname, "..");
const WARMUP_STEPS = 5;
const MEASURED_STEPS = Math.round(envNumber("BENCH_STEPS", 30));
const ROUNDS = Math.round(envNumber("BENCH_ROUNDS", 3));
const TARGET_COMPUTE_MS = envNumber("BENCH_COMPUTE_MS", 50);
const SPLIT_MS = envNumber("BENCH_SPLIT_MS", 2000);
const QUALITY = process.env.BENCH_QUALITY !== "0";
const DATASETS = (process.env.BENCH_DATASETS ?? "spam,mnist").split(",").map((d) => d.trim()).filter(Boolean);
const HIDDEN: Record<string, number> = { spam: 64, mnist: 128 };
const QUALITY_EPOCHS: Record<string, number> = { spam: 4, mnist: 5 };
const SWEEP_MS = (process.env.BENCH_SWEEP_MS ?? "100,200").split(",").map((v) => Number(v.trim())).filter((v) => v > 0);
const TARGETS = { shareOfCeilingAt2: 0.9, projectedWeakAt16: 0.8, modelError: 0.1 };
const PROJECT_TO = [1, 2, 8, 16, 64];
const log = (line: string): void => void process.stderr.write(`${line}\n`);

const ALL_PATHS: { name: string; spec: PathSpec }[] = [
  { name: "hub fp32", spec: { reduce: "hub", encoding: "fp32" } },
  { name: "hub bf16", spec: { reduce: "hub", encoding: "bf16" } },
  { name: "replicated bf16", spec: { reduce: "replicated", encoding: "bf16" } },
  { name: "replicated fp32", spec: { reduce: "replicated", encoding: "fp32" } },
];
// BENCH_PATHS="hub fp32,replicated bf16": a subset (profiling one path); every path by default.
const PATHS = process.env.BENCH_PATHS ? ALL_PATHS.filter((p) => process.env.BENCH_PATHS!.split(",").map((x) => x.trim()).includes(p.name)) : ALL_PATHS;
if (PATHS.length === 0) throw new Error(`BENCH_PATHS matches no path; the paths are: ${ALL_PATHS.map((p) => p.name).join(", ")}`);
const CONFIGS = [
  { name: "1 worker", workers: 1, batchFactor: 1 },
  { name: "2 workers strong", workers: 2, batchFactor: 1 },
  { name: "2 workers weak", workers: 2, batchFactor: 2 },
] as const;
type ConfigName = (typeof CONFIGS)[number]["name"];

type Run = {
  stepsPerSec: number;
  rowsPerSec: number;
  stepMs: number;
  computeMs: number;
  /** Step-to-step coefficient of variation of the slowest shard's compute. */
  computeCv: number;
  coordinationMs: number;
  redisBytesPerStep: number;
  cpuMsPerStep: { coordinator: number; workerMean: number; redis: number };
};

/** CPU ms of a process so far (utime + stime from /proc; clock ticks of 10 ms). */
function procCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function coefficientOfVariation(v: number[]): number {
  const mean = v.reduce((a, x) => a + x, 0) / v.length;
  return Math.sqrt(v.reduce((a, x) => a + (x - mean) ** 2, 0) / (v.length - 1)) / mean;
}

const workerPid = (w: WorkerProcess): number => Number(w.id.split(":").at(-2));

async function redisCounters(r: Redis): Promise<{ bytes: number; cpuMs: number }> {
  const info = await r.info();
  const num = (k: string) => Number(new RegExp(`^${k}:([\\d.]+)`, "m").exec(info)?.[1] ?? NaN);
  return { bytes: num("total_net_input_bytes") + num("total_net_output_bytes"), cpuMs: (num("used_cpu_user") + num("used_cpu_sys")) * 1000 };
}

async function runOnce(redis: TestRedis, conn: Redis, data: Dataset, cfg: TrainConfig, path: PathSpec, prefix: string, workers: WorkerProcess[], runId: string): Promise<Run> {
  const c = await ClusterGradients.open({
    redisUrl: redis.url,
    prefix,
    runId,
    arch: cfg.arch,
    train: data.train,
    features: data.features,
    dataFingerprint: splitFingerprint(data.train, data.features),
    leaseMs: 2000,
    gradients: path.encoding,
    reduce: path.reduce,
    optimizer: cfg.optimizer,
  });
  const steps: StepEvent[] = [];
  type Snap = { redis: { bytes: number; cpuMs: number }; coordinator: number; workers: number[]; at: number };
  const snap = async (): Promise<Snap> => {
    const u = process.cpuUsage();
    return { redis: await redisCounters(conn), coordinator: (u.user + u.system) / 1000, workers: workers.map((w) => procCpuMs(workerPid(w))), at: performance.now() };
  };
  let from: Snap | undefined;
  try {
    await train({
      cfg: { ...cfg, shards: workers.length, gradients: path.encoding, reduce: path.reduce, maxSteps: WARMUP_STEPS + MEASURED_STEPS },
      data,
      gradients: c,
      events: { ...silentEvents, step: (e: StepEvent) => void steps.push(e) },
      fresh: true,
      afterStep: async (step) => {
        if (step === WARMUP_STEPS) from = await snap();
      },
    });
  } finally {
    await c.close();
  }
  const to = await snap();
  const measured = steps.slice(WARMUP_STEPS);
  const n = measured.length;
  const wallS = measured.reduce((a, s) => a + s.ms, 0) / 1000;
  // An epoch's last batch is short (a few ms of compute against ~50): not a straggler, so the
  // step-to-step variation is taken over full batches only.
  const full = measured.filter((s) => s.rows === cfg.batchSize);
  return {
    stepsPerSec: n / wallS,
    rowsPerSec: measured.reduce((a, s) => a + s.rows, 0) / wallS,
    stepMs: summarize(measured.map((s) => s.ms)).median,
    computeMs: summarize(measured.map((s) => s.computeMs ?? NaN)).median,
    computeCv: coefficientOfVariation(full.map((s) => s.computeMs ?? NaN)),
    coordinationMs: summarize(measured.map((s) => s.ms - (s.computeMs ?? NaN) - s.applyMs)).median,
    redisBytesPerStep: (to.redis.bytes - from!.redis.bytes) / n,
    cpuMsPerStep: {
      coordinator: (to.coordinator - from!.coordinator) / n,
      workerMean: to.workers.reduce((a, w, i) => a + (w - from!.workers[i]!), 0) / workers.length / n,
      redis: (to.redis.cpuMs - from!.redis.cpuMs) / n,
    },
  };
}

type PathResult = {
  path: string;
  spec: PathSpec;
  runs: Record<ConfigName, Run[]>;
  strong: Spread;
  weak: Spread;
  strongShareOfCeiling: Spread;
  weakShareOfCeiling: Spread;
  accuracy?: number;
};

type Ceiling = Awaited<ReturnType<typeof medianCeiling>>;
type Efficiencies = Pick<PathResult, "strong" | "weak" | "strongShareOfCeiling" | "weakShareOfCeiling">;

/** Per round: strong and weak efficiency, and each as a share of its compute-only ceiling. */
function efficiencies(runs: Record<ConfigName, Run[]>, strongCeiling: number, weakCeiling: number): Efficiencies {
  const per = (f: (i: number) => number) => spread(runs["1 worker"].map((_, i) => f(i)));
  const strong = (i: number) => runs["2 workers strong"][i]!.stepsPerSec / (2 * runs["1 worker"][i]!.stepsPerSec);
  const weak = (i: number) => runs["2 workers weak"][i]!.rowsPerSec / (2 * runs["1 worker"][i]!.rowsPerSec);
  return { strong: per(strong), weak: per(weak), strongShareOfCeiling: per((i) => strong(i) / (strongCeiling / 2)), weakShareOfCeiling: per((i) => weak(i) / weakCeiling) };
}

type SweepPoint = Efficiencies & {
  computeTargetMs: number;
  batch: number;
  ceilings: { strong: Ceiling; weak: Ceiling };
  runs: Record<ConfigName, Run[]>;
  /** 2 workers strong: median step − the ceiling probe's halves computed at once (the part that does not shrink with the shards). */
  strongOverheadMs: number;
};

function sweepPoint(computeTargetMs: number, batch: number, ceilings: SweepPoint["ceilings"], runs: Record<ConfigName, Run[]>): SweepPoint {
  const strongStep = summarize(runs["2 workers strong"].map((r) => r.stepMs)).median;
  return { computeTargetMs, batch, ceilings, runs, ...efficiencies(runs, ceilings.strong.ceiling, ceilings.weak.ceiling), strongOverheadMs: strongStep - ceilings.strong.halfConcurrentMs };
}

async function dataset(redis: TestRedis, conn: Redis, pool: Record<1 | 2, WorkerProcess[]>, spec: string) {
  const data = loadDataset(spec, { splitSeed: 1, testFraction: 0.2 });
  const sizes = [data.features, HIDDEN[spec] ?? 64, data.labels.length];
  const params = sizes.slice(1).reduce((a, o, i) => a + (sizes[i]! + 1) * o, 0);
  const { batch, probes } = calibrateBatch(data, sizes, TARGET_COMPUTE_MS);
  log(`${spec}: ${params.toLocaleString("en-US")} parameters, batch ${batch} (${probes.map((p) => `${p.batch}: ${p.ms.toFixed(1)} ms`).join(", ")})`);
  const strongCeiling = await medianCeiling(sizes, batch, SPLIT_MS, "split");
  const weakCeiling = await medianCeiling(sizes, batch, SPLIT_MS, "replicate");
  log(`  ceilings: strong ${fmt(strongCeiling.ceiling)}x (efficiency ${fmt(strongCeiling.ceiling / 2)}), weak ${fmt(weakCeiling.ceiling)}`);
  const cfg: TrainConfig = { arch: mlp(sizes), epochs: 1000, batchSize: batch, optimizer: { kind: "adam", lr: 0.001 }, seed: 1, shards: 1, checkpointEvery: 0, evalEachEpoch: false };
  const results: PathResult[] = PATHS.map((p) => ({
    path: p.name,
    spec: p.spec,
    runs: { "1 worker": [], "2 workers strong": [], "2 workers weak": [] },
    strong: spread([0]),
    weak: spread([0]),
    strongShareOfCeiling: spread([0]),
    weakShareOfCeiling: spread([0]),
  }));
  const runConfigs = async (p: { path: string; spec: PathSpec; runs: Record<ConfigName, Run[]> }, b: number, tag: string) => {
    for (const k of CONFIGS) {
      const run = await runOnce(redis, conn, data, { ...cfg, batchSize: b * k.batchFactor }, p.spec, `${redis.prefix}-${k.workers}w`, pool[k.workers], `scaling-${spec}-${p.path.replace(/ /g, "-")}-${k.name.replace(/ /g, "-")}${tag}`);
      p.runs[k.name].push(run);
    }
    const [one, strong, weak] = CONFIGS.map((k) => p.runs[k.name].at(-1)!) as [Run, Run, Run];
    return `steps/s ${fmt(one.stepsPerSec)} / ${fmt(strong.stepsPerSec)} strong / ${fmt(weak.stepsPerSec)} weak; Redis ${fmt(one.redisBytesPerStep / 1e6)} / ${fmt(strong.redisBytesPerStep / 1e6)} MB per step`;
  };
  for (let r = 0; r < ROUNDS; r++) {
    for (const p of results) log(`  round ${r + 1} ${p.path}: ${await runConfigs(p, batch, "")}`);
  }
  for (const p of results) Object.assign(p, efficiencies(p.runs, strongCeiling.ceiling, weakCeiling.ceiling));

  // Step size: the best strong path again with more compute per step (its own ceilings, same rounds).
  const best = [...results].sort((a, b) => b.strongShareOfCeiling.median - a.strongShareOfCeiling.median)[0]!;
  const sweep: SweepPoint[] = [sweepPoint(TARGET_COMPUTE_MS, batch, { strong: strongCeiling, weak: weakCeiling }, best.runs)];
  for (const ms of SWEEP_MS) {
    const c = calibrateBatch(data, sizes, ms);
    const ceilings = { strong: await medianCeiling(sizes, c.batch, SPLIT_MS, "split"), weak: await medianCeiling(sizes, c.batch, SPLIT_MS, "replicate") };
    log(`  step size ${ms} ms: batch ${c.batch}, ceilings strong ${fmt(ceilings.strong.ceiling)}x, weak ${fmt(ceilings.weak.ceiling)}`);
    const p = { path: best.path, spec: best.spec, runs: { "1 worker": [], "2 workers strong": [], "2 workers weak": [] } as Record<ConfigName, Run[]> };
    for (let r = 0; r < ROUNDS; r++) log(`  round ${r + 1} ${best.path} at ${ms} ms: ${await runConfigs(p, c.batch, `-${ms}ms`)}`);
    sweep.push(sweepPoint(ms, c.batch, ceilings, p.runs));
  }
  if (QUALITY) {
    // Each path's in-process reference (the same bits as its cluster run), 2 shards.
    const qcfg: TrainConfig = { arch: mlp(sizes), epochs: QUALITY_EPOCHS[spec] ?? 4, batchSize: 64, optimizer: { kind: "adam", lr: 0.001 }, seed: 1, shards: 2, checkpointEvery: 0, evalEachEpoch: false };
    for (const p of results) {
      const r = await train({ cfg: { ...qcfg, gradients: p.spec.encoding, reduce: p.spec.reduce }, data, gradients: new LocalGradients(mlp(sizes), data.train, p.spec.encoding), events: silentEvents });
      p.accuracy = r.test.accuracy;
    }
  }
  return { dataset: spec, sizes, params, batch, probes, ceilings: { strong: strongCeiling, weak: weakCeiling }, paths: results, sweep: { path: best.path, spec: best.spec, points: sweep } };
}
type DatasetResult = Awaited<ReturnType<typeof dataset>>;

function observation(dataset: string, path: string, spec: PathSpec, params: number, k: (typeof CONFIGS)[number], runs: Run[], tag = ""): Observation {
  const shape: StepShape = { path: spec, workers: k.workers, params, computeMs: summarize(runs.map((r) => r.computeMs)).median };
  return { shape, stepMs: summarize(runs.map((r) => r.stepMs)).median, label: `${dataset} ${path} ${k.name}${tag}` };
}

/** The configurations the model is fitted to (every path at the base step size)… */
function observations(ds: DatasetResult[]): Observation[] {
  return ds.flatMap((d) => d.paths.flatMap((p) => CONFIGS.map((k) => observation(d.dataset, p.path, p.spec, d.params, k, p.runs[k.name]))));
}

/** …and the larger steps it is checked on without being fitted to them. */
function sweepObservations(ds: DatasetResult[]): Observation[] {
  return ds.flatMap((d) => d.sweep.points.slice(1).flatMap((pt) => CONFIGS.map((k) => observation(d.dataset, d.sweep.path, d.sweep.spec, d.params, k, pt.runs[k.name], ` at ${pt.computeTargetMs} ms`))));
}

async function main(): Promise<void> {
  const started = new Date().toISOString();
  const load0 = loadavg();
  const backend = await selectBackend(process.env.BENCH_BACKEND ?? "auto");
  const capacity = await parallelCapacity();
  log(`backend ${backend.name}; ${cpus().length} cores, parallel capacity ${capacity.cores.toFixed(2)}; load ${load0.map((l) => l.toFixed(2)).join(" ")}`);
  let redis: TestRedis | undefined;
  let conn: Redis | undefined;
  const all: WorkerProcess[] = [];
  const results: DatasetResult[] = [];
  try {
    redis = await startRedis();
    conn = new Redis(redis.url);
    const spawn = (n: number) => Promise.all(Array.from({ length: n }, () => spawnWorker({ redisUrl: redis!.url, prefix: `${redis!.prefix}-${n}w`, args: ["--quiet"] })));
    const pool = { 1: await spawn(1), 2: await spawn(2) };
    all.push(...pool[1], ...pool[2]);
    for (const spec of DATASETS) results.push(await dataset(redis, conn, pool, spec));
  } finally {
    await Promise.all(all.map((w) => w.stop()));
    conn?.disconnect();
    await redis?.stop();
  }

  // Four constants need at least four configurations (a single path on one data set has three).
  const obs = observations(results);
  const constants: ModelConstants | undefined = obs.length >= 4 ? fitConstants(obs) : undefined;
  if (!constants) log(`model: ${obs.length} configurations measured, the fit needs 4 (more paths or data sets): no model, no projection`);
  const check = (c: ModelConstants, o: Observation) => ({ label: o.label!, measuredMs: o.stepMs, modelMs: predictStepMs(c, o.shape), error: predictStepMs(c, o.shape) / o.stepMs - 1 });
  const checks = constants ? obs.map((o) => check(constants, o)) : [];
  const outOfFit = constants ? sweepObservations(results).map((o) => check(constants, o)) : [];
  const projections = !constants ? [] : results.flatMap((d) => {
    // Stragglers: one worker's step-to-step variation, median over every 1-worker run of the data set.
    const cv = summarize(d.paths.flatMap((p) => p.runs["1 worker"].map((r) => r.computeCv))).median;
    const compute = { ...fitCompute(d.probes), cv };
    return d.paths.flatMap((p) => {
      const rows = [{ dataset: d.dataset, path: p.path, redis: "one node", points: project(constants, compute, p.spec, d.params, d.batch, PROJECT_TO) }];
      if (p.spec.reduce === "replicated") rows.push({ dataset: d.dataset, path: p.path, redis: "a node per worker", points: project(constants, compute, p.spec, d.params, d.batch, PROJECT_TO, (n) => n) });
      return rows;
    });
  });

  for (const d of results) {
    console.log(`\n${d.dataset} ${d.sizes.join("-")} (${d.params.toLocaleString("en-US")} parameters), batch ${d.batch}; ${MEASURED_STEPS} steps after ${WARMUP_STEPS} warm-up, ${ROUNDS} rounds; medians across rounds (measured)`);
    console.log(
      table(
        ["path", "config", "steps/s", "step ms", "compute ms", "coord ms", "Redis MB/step", "CPU coord ms", "CPU worker ms", "CPU redis ms"],
        d.paths.flatMap((p) =>
          CONFIGS.map((k) => {
            const runs = p.runs[k.name];
            const med = (f: (r: Run) => number) => summarize(runs.map(f)).median;
            return [p.path, k.name, med((r) => r.stepsPerSec), med((r) => r.stepMs), med((r) => r.computeMs), med((r) => r.coordinationMs), med((r) => r.redisBytesPerStep / 1e6), med((r) => r.cpuMsPerStep.coordinator), med((r) => r.cpuMsPerStep.workerMean), med((r) => r.cpuMsPerStep.redis)];
          }),
        ),
      ),
    );
    const hub = d.paths[0]!;
    console.log(
      table(
        ["path", "strong eff", "share of ceiling", "weak eff", "share of ceiling", "bytes/step ÷ hub fp32 (2w)", "coord ÷ hub fp32 (2w)", "held-out acc"],
        d.paths.map((p) => {
          const ratio = (f: (r: Run) => number) => spread(p.runs["2 workers strong"].map((r, i) => f(r) / f(hub.runs["2 workers strong"][i]!)));
          return [p.path, fmtSpread(p.strong), fmtSpread(p.strongShareOfCeiling), fmtSpread(p.weak), fmtSpread(p.weakShareOfCeiling), fmtSpread(ratio((r) => r.redisBytesPerStep)), fmtSpread(ratio((r) => r.coordinationMs)), p.accuracy ?? null];
        }),
      ),
    );
    console.log(`compute-only ceilings: strong ${fmt(d.ceilings.strong.ceiling)}x of 2 (${fmt(d.ceilings.strong.fullMs)} ms full vs ${fmt(d.ceilings.strong.halfConcurrentMs)} ms halves at once), weak ${fmt(d.ceilings.weak.ceiling)} (${fmt(d.ceilings.weak.halfConcurrentMs)} ms for the full batch beside another)`);
    if (d.sweep.points.length > 1) {
      console.log(`\n${d.dataset} ${d.sweep.path} against the compute a step carries (measured; each step size with its own ceilings, ${ROUNDS} rounds)`);
      console.log(
        table(
          ["compute target ms", "batch", "ceiling strong", "strong share of ceiling", "2w strong step ms", "overhead ms (step − halves)", "ceiling weak", "weak share of ceiling"],
          d.sweep.points.map((pt) => [pt.computeTargetMs, pt.batch, pt.ceilings.strong.ceiling, fmtSpread(pt.strongShareOfCeiling), summarize(pt.runs["2 workers strong"].map((r) => r.stepMs)).median, pt.strongOverheadMs, pt.ceilings.weak.ceiling, fmtSpread(pt.weakShareOfCeiling)]),
        ),
      );
    }
  }
  if (constants) {
    console.log(`\nModel (MODELLED): fixed ms hub ${fmt(constants.fixedMs.hub)}, replicated ${fmt(constants.fixedMs.replicated)}; ${fmt(constants.msPerMB)} ms per MB through Redis; ${fmt(constants.nsPerElement)} ns per element averaged/updated`);
    console.log(table(["configuration", "measured ms", "model ms", "error"], [...checks, ...outOfFit.map((c) => ({ ...c, label: `${c.label} (not fitted)` }))].map((c) => [c.label, c.measuredMs, c.modelMs, `${(c.error * 100).toFixed(1)}%`])));
    console.log(`\nProjected efficiency, each worker on its own cores (MODELLED): weak / strong`);
    console.log(table(["dataset", "path", "redis", ...PROJECT_TO.map((n) => `${n} workers`)], projections.map((p) => [p.dataset, p.path, p.redis, ...p.points.map((x) => `${fmt(x.weak)} / ${fmt(x.strong)}`)])));
  }

  const targets = [
    ...results.flatMap((d) => {
      const best = [...d.paths].sort((a, b) => b.strongShareOfCeiling.median - a.strongShareOfCeiling.median)[0]!;
      // The issue does not say strong or weak: both are reported, strong is the harder one.
      const bestWeak = [...d.paths].sort((a, b) => b.weakShareOfCeiling.median - a.weakShareOfCeiling.median)[0]!;
      return [
        { target: `2 workers (strong) >= ${TARGETS.shareOfCeilingAt2 * 100}% of the compute-only ceiling, best path (${best.path})`, dataset: d.dataset, value: best.strongShareOfCeiling.median, spread: best.strongShareOfCeiling, met: metBySpread(best.strongShareOfCeiling, { atLeast: TARGETS.shareOfCeilingAt2 }) },
        { target: `2 workers (weak) >= ${TARGETS.shareOfCeilingAt2 * 100}% of the compute-only ceiling, best path (${bestWeak.path})`, dataset: d.dataset, value: bestWeak.weakShareOfCeiling.median, spread: bestWeak.weakShareOfCeiling, met: metBySpread(bestWeak.weakShareOfCeiling, { atLeast: TARGETS.shareOfCeilingAt2 }) },
      ];
    }),
    ...results.flatMap((d) =>
      d.sweep.points.slice(1).map((pt) => ({ target: `2 workers (strong) >= ${TARGETS.shareOfCeilingAt2 * 100}% of the compute-only ceiling at ${pt.computeTargetMs} ms steps (${d.sweep.path})`, dataset: d.dataset, value: pt.strongShareOfCeiling.median, spread: pt.strongShareOfCeiling, met: metBySpread(pt.strongShareOfCeiling, { atLeast: TARGETS.shareOfCeilingAt2 }) })),
    ),
    ...projections.map((p) => {
      const at16 = p.points.find((x) => x.workers === 16)!.weak;
      return { target: `projected weak efficiency at 16 workers >= ${TARGETS.projectedWeakAt16} (${p.path}, ${p.redis})`, dataset: p.dataset, value: at16, spread: null, met: at16 >= TARGETS.projectedWeakAt16 };
    }),
    ...checks.map((c) => ({ target: `model within ${TARGETS.modelError * 100}% (${c.label.split(" ").slice(1).join(" ")})`, dataset: c.label.split(" ")[0]!, value: c.error, spread: null, met: Math.abs(c.error) <= TARGETS.modelError })),
  ];
  console.log(`\nTargets (a measured target is met only when its whole spread across rounds is inside it)`);
  console.log(table(["target", "dataset", "value", "result"], targets.map((t) => [t.target, t.dataset, t.spread ? fmtSpread(t.spread) : fmt(t.value), t.met ? "met" : "missed"])));
  const load1 = loadavg();
  console.log(`\nload average ${load0.map((l) => l.toFixed(2)).join(" ")} at start, ${load1.map((l) => l.toFixed(2)).join(" ")} at end; parallel capacity ${capacity.cores.toFixed(2)} cores`);

  const dir = resultsDir(ROOT);
  await mkdir(dir, { recursive: true });
  const out = join(dir, "scaling.json");
  await writeFile(
    out,
    JSON.stringify(
      rounded({
        started,
        machine: { cores: cpus().length, cpu: cpus()[0]?.model, node: process.version, loadAverageStart: load0, loadAverageEnd: load1, parallelCapacity: capacity },
        backend: { name: backend.name, detail: backend.detail },
        method: {
          warmupSteps: WARMUP_STEPS,
          measuredSteps: MEASURED_STEPS,
          rounds: ROUNDS,
          bytes: "Redis INFO total_net_input_bytes + total_net_output_bytes over the measured steps ÷ steps (everything through Redis: weights, gradients, slices, records, BullMQ)",
          cpu: "per step: this process (the coordinator) from process.cpuUsage, each worker from /proc/<pid>/stat, Redis from INFO used_cpu_user + used_cpu_sys",
          coordination: "step wall − slowest shard's compute − the coordinator's apply, median over steps",
          variation: "computeCv: the slowest shard's compute, standard deviation ÷ mean over the measured steps with a full batch (an epoch's short last batch is not a straggler); rows/s counts each step's actual rows",
          scaling: "strong: steps/s with 2 workers on the same global batch ÷ (2 × 1 worker's); weak: rows/s with 2 workers on twice the batch ÷ (2 × 1 worker's); per round; share of ceiling = efficiency ÷ the compute-only ceiling's efficiency",
          sweep: "per data set, the path with the best strong share at the base step size, run again at batches calibrated to larger compute per step, each with its own ceilings; strongOverheadMs = the 2-worker strong step's median − the ceiling probe's halves computed at once",
          model: "trainer/cluster/scaling-model.ts fitted (non-negative least squares on relative error) to the medians of every configuration; projections assume each worker on its own cores and Redis latencies as measured here (one machine): modelled, not measured",
        },
        datasets: results,
        model: constants ? { constants, checks, checksOutsideTheFit: outOfFit, projections } : null,
        targets,
      }),
      null,
      2,
    ) + "\n",
  );
  log(`wrote ${out}`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:scaling failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

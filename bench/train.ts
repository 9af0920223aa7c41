// `npm run bench:train`: the trainer's speed and the quality of what it exports, in one run.
//  1. steps/s in-process vs 1 and 2 `meridian worker` processes through BullMQ, on the same data,
//     for spam (hashed-bow 4096 → 64 → 2, 1 MiB of weights) and mnist (784 → 128 → 10, 0.4 MiB),
//     each with a global batch sized so one gradient takes about 50 ms to compute in-process;
//  2. per step, where the time goes — the same breakdown in every mode:
//       compute       the slowest shard's gradient alone (computeGradient), timed where it ran
//       gather        that step's batch-row gather (buffer, rows, labels), timed the same way on
//                     both sides; in-process it sits on the step's path, a worker does it while
//                     it waits for the weights
//       apply         averaging + Adam on the coordinator
//       coordination  step wall time − compute − apply: everything that is not computing the
//                     gradient or applying it (in-process: the gather and loop bookkeeping; in a
//                     cluster also publishing weights, wake-ups, transfers and the barrier). Never
//                     negative, so coordination / compute cannot change sign with load;
//  3. scaling efficiency of 2 workers = steps/s with 2 workers ÷ (2 × steps/s of the baseline),
//     against 1 worker and against in-process;
//  4. fp32 vs int8 held-out accuracy and file size (spam and mnist);
//  5. gradient precision: the 2-worker hub with fp32 gradients (the exact reference, mode
//     "2 workers" above) vs bf16 gradients (`--gradients bf16`, run in the same round right after
//     it): gradient and done-record bytes per step as the coordinator received them, coordination
//     ms per step and steps/s, as bf16 ÷ fp32 ratios per round; and held-out accuracy after the
//     quality run's epochs with 2 shards, fp32 vs bf16 (in-process with each shard's gradient
//     rounded as a worker sends it: the same bits as the cluster run, trainer/cluster/bf16-cluster.test.ts).
// Each round runs the three modes back to back, so they share the machine's load of the moment;
// every figure is reported as its spread across rounds (min/median/max of per-round values), and
// a target counts as met only when the whole spread is inside it.
// Uses REDIS_URL if set, else starts its own redis-server on a free port. Prints tables and writes
// train.json (bench/results/, or BENCH_RESULTS_DIR).
//
// Options (environment): BENCH_STEPS=40 (measured steps per mode and round), BENCH_ROUNDS=3,
// BENCH_DATASETS=spam,mnist, BENCH_COMPUTE_MS=50 (calibrated gradient time), BENCH_SPLIT_MS=2000
// (compute-only ceiling's measuring window), BENCH_QUALITY=1 (0 skips part 4), BENCH_BACKEND=auto.
import { mkdir, writeFile } from "node:fs/promises";
import { cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import { startRedis, type TestRedis } from "../dev/redis";
import { ClusterGradients, type StepTrace } from "../trainer/cluster/coordinator";
import { spawnWorker, type WorkerProcess } from "../dev/workers";
import { loadDataset, type Dataset } from "../trainer/data";
import { buildExport } from "../trainer/export/export";
import { selectBackend } from "../trainer/train/backend";
import { silentEvents, type StepEvent } from "../trainer/train/events";
import type { GradientEncoding } from "../trainer/train/gradient-encoding";
import { LocalGradients, splitFingerprint, train, type GradientSource, type TimedGradient, type TrainConfig } from "../trainer/train/loop";
import type { StepPlan } from "../trainer/train/plan";
import { envNumber, resultsDir } from "./host";
import { fmt, fmtSpread, metBySpread, rounded, spread, summarize, table, type Cell, type Spread, type Summary } from "./lib";
import { calibrateBatch, medianCeiling, parallelCapacity, redisPingPong } from "./train-probes";
import { mlp } from "../trainer/train/arch";

const ROOT = join(import.meta.dirname, "..");
const TARGET_COMPUTE_MS = envNumber("BENCH_COMPUTE_MS", 50);
const WARMUP_STEPS = 5;
const MEASURED_STEPS = Math.round(envNumber("BENCH_STEPS", 40));
const ROUNDS = Math.round(envNumber("BENCH_ROUNDS", 3));
const SPLIT_MS = envNumber("BENCH_SPLIT_MS", 2000);
const QUALITY = process.env.BENCH_QUALITY !== "0";
const DATASETS = (process.env.BENCH_DATASETS ?? "spam,mnist").split(",").map((d) => d.trim()).filter(Boolean);
const HIDDEN: Record<string, number> = { spam: 64, mnist: 128 };
const QUALITY_EPOCHS: Record<string, number> = { spam: 4, mnist: 5 };
const TARGETS = { coordinationPerCompute: 0.1, scalingEfficiency: 0.8, int8AccuracyDropPoints: 0.5, int8SizeRatio: 3.5 };
const log = (line: string): void => void process.stderr.write(`${line}\n`);

const MODES = ["in-process", "1 worker", "2 workers"] as const;
type Mode = (typeof MODES)[number];
const SHARDS: Record<Mode, number> = { "in-process": 1, "1 worker": 1, "2 workers": 2 };

/** One mode in one round: medians over its measured steps. */
type ModeRound = {
  stepsPerSec: number;
  stepMs: Summary;
  computeMs: Summary;
  gatherMs: Summary;
  applyMs: Summary;
  coordinationMs: Summary;
  /** Per step coordination ÷ compute, summarised over the round's steps. */
  coordinationPerCompute: Summary;
};

/** A mode across rounds: each figure's spread of per-round medians. */
type ModeSpread = { mode: Mode; shards: number } & Record<keyof ModeRound, Spread>;

/** Passes gradients through and keeps each step's batch-gather time (the longest of its shards). */
class GatherRecorder implements GradientSource {
  readonly gatherMs: number[] = [];
  constructor(private readonly inner: GradientSource) {}
  get kind(): string {
    return this.inner.kind;
  }
  get encoding(): GradientEncoding | undefined {
    return this.inner.encoding;
  }
  async compute(params: Float32Array, plan: StepPlan, next?: StepPlan): Promise<TimedGradient[]> {
    const parts = await this.inner.compute(params, plan, next);
    this.gatherMs.push(Math.max(...parts.map((p) => p.gatherMs ?? NaN)));
    return parts;
  }
}

async function measure(data: Dataset, cfg: TrainConfig, inner: GradientSource): Promise<ModeRound> {
  const steps: StepEvent[] = [];
  const source = new GatherRecorder(inner);
  const events = { ...silentEvents, step: (e: StepEvent) => void steps.push(e) };
  await train({ cfg: { ...cfg, maxSteps: WARMUP_STEPS + MEASURED_STEPS }, data, gradients: source, events, fresh: true });
  const measured = steps.slice(WARMUP_STEPS);
  const gather = source.gatherMs.slice(WARMUP_STEPS);
  const compute = measured.map((s) => s.computeMs ?? NaN);
  const coordination = measured.map((s) => s.ms - (s.computeMs ?? NaN) - s.applyMs);
  const wallS = measured.reduce((a, s) => a + s.ms, 0) / 1000;
  return {
    stepsPerSec: measured.length / wallS,
    stepMs: summarize(measured.map((s) => s.ms)),
    computeMs: summarize(compute),
    gatherMs: summarize(gather),
    applyMs: summarize(measured.map((s) => s.applyMs)),
    coordinationMs: summarize(coordination),
    coordinationPerCompute: summarize(coordination.map((c, i) => c / compute[i]!)),
  };
}

function modeSpread(mode: Mode, rounds: ModeRound[]): ModeSpread {
  const of = (pick: (r: ModeRound) => number) => spread(rounds.map(pick));
  return {
    mode,
    shards: SHARDS[mode],
    stepsPerSec: of((r) => r.stepsPerSec),
    stepMs: of((r) => r.stepMs.median),
    computeMs: of((r) => r.computeMs.median),
    gatherMs: of((r) => r.gatherMs.median),
    applyMs: of((r) => r.applyMs.median),
    coordinationMs: of((r) => r.coordinationMs.median),
    coordinationPerCompute: of((r) => r.coordinationPerCompute.median),
  };
}

type SpeedResult = {
  dataset: string;
  architecture: number[];
  params: number;
  batch: number;
  calibration: { batch: number; ms: number }[];
  modes: ModeSpread[];
  rounds: Record<Mode, ModeRound[]>;
  /** Per round, 2 workers' steps/s ÷ (2 × the baseline's), and 1 worker's ÷ in-process (no factor 2). */
  scaling: { vsOneWorker: Spread; vsInProcess: Spread; oneWorkerVsInProcess: Spread };
  /** Gradient of the full batch alone vs two half batches at once, in separate processes, no Redis. */
  split: { fullMs: number; halfConcurrentMs: number; ceiling: number };
  /** Median Redis round trip (out and back, this payload size) at the time: the protocol's floor. */
  pingPongMs: number;
  /** Coordinator-side breakdown of cluster steps (medians over all rounds, ms). */
  trace: Record<"oneWorker" | "twoWorkers", { publishMs: number; barrierMs: number; waitedMs: number }>;
  /** 2 workers with fp32 gradients (= mode "2 workers") vs bf16 gradients, same round. */
  gradients: GradientComparison;
};

type GradientSide = {
  /** Medians over all rounds' measured steps (bytes) … */
  gradientBytesPerStep: number;
  doneRecordBytesPerStep: number;
  weightsBytesPerStep: number;
  coordinationMs: Spread;
  stepsPerSec: Spread;
  publishMs: number;
  barrierMs: number;
};
type GradientComparison = {
  fp32: GradientSide;
  bf16: GradientSide & { rounds: ModeRound[] };
  /** bf16 ÷ fp32: bytes (deterministic) and per-round ratios of coordination ms and steps/s. */
  ratios: { gradientBytes: number; doneRecordBytes: number; transferBytes: number; coordinationMs: Spread; stepsPerSec: Spread };
};

async function speed(redis: TestRedis, workers: WorkerProcess[], spec: string): Promise<SpeedResult> {
  const t0 = performance.now();
  const data = loadDataset(spec, { splitSeed: 1, testFraction: 0.2 });
  const sizes = [data.features, HIDDEN[spec] ?? 64, data.labels.length];
  const params = sizes.slice(1).reduce((a, o, i) => a + (sizes[i]! + 1) * o, 0);
  const { batch, probes } = calibrateBatch(data, sizes, TARGET_COMPUTE_MS);
  log(`${spec}: ${data.train.rows} train rows (${Math.round(performance.now() - t0)} ms); batch ${batch}: ${probes.map((p) => `${p.batch} rows ${p.ms.toFixed(1)} ms`).join(", ")}`);
  const cfg: TrainConfig = {
    arch: mlp(sizes),
    epochs: 1000,
    batchSize: batch,
    optimizer: { kind: "adam", lr: 0.001 },
    seed: 1,
    shards: 1,
    checkpointEvery: 0,
    evalEachEpoch: false,
  };
  const rounds: Record<Mode, ModeRound[]> = { "in-process": [], "1 worker": [], "2 workers": [] };
  const traces: Record<"oneWorker" | "twoWorkers" | "twoWorkersBf16", StepTrace[]> = { oneWorker: [], twoWorkers: [], twoWorkersBf16: [] };
  const bf16Rounds: ModeRound[] = [];
  // Three worker processes: one alone on its own queue prefix ("1 worker"), two sharing another
  // ("2 workers"). Idle workers block in Redis and use no CPU, so every round can run all three
  // modes back to back under the same machine load, and ratios are taken within a round.
  const prefixOf = (shards: number) => `${redis.prefix}-${shards}w`;
  const cluster = async (shards: number, gradients: GradientEncoding = "fp32"): Promise<ModeRound> => {
    const c = await ClusterGradients.open({
      redisUrl: redis.url,
      prefix: prefixOf(shards),
      runId: `bench-${spec}-${shards}${gradients === "fp32" ? "" : `-${gradients}`}`,
      gradients,
      arch: mlp(sizes),
      train: data.train,
      features: data.features,
      dataFingerprint: splitFingerprint(data.train, data.features),
      leaseMs: 2000,
    });
    try {
      const r = await measure(data, { ...cfg, shards, gradients }, c);
      traces[shards === 1 ? "oneWorker" : gradients === "bf16" ? "twoWorkersBf16" : "twoWorkers"].push(...c.traces.slice(WARMUP_STEPS));
      return r;
    } finally {
      await c.close();
    }
  };

  if (workers.length === 0) {
    workers.push(...(await Promise.all([1, 2, 2].map((n) => spawnWorker({ redisUrl: redis.url, prefix: prefixOf(n), args: ["--quiet"] })))));
  }
  for (let r = 0; r < ROUNDS; r++) {
    rounds["in-process"].push(await measure(data, cfg, new LocalGradients(mlp(sizes), data.train)));
    rounds["1 worker"].push(await cluster(1));
    rounds["2 workers"].push(await cluster(2));
    bf16Rounds.push(await cluster(2, "bf16"));
    const [a, b, c] = MODES.map((m) => rounds[m].at(-1)!) as [ModeRound, ModeRound, ModeRound];
    log(
      `  round ${r + 1}: steps/s in-process ${fmt(a.stepsPerSec)}, 1 worker ${fmt(b.stepsPerSec)}, 2 workers ${fmt(c.stepsPerSec)}; ` +
        `coordination/compute ${[a, b, c].map((m) => fmt(m.coordinationPerCompute.median)).join(" / ")}; ` +
        `2 workers bf16 gradients: ${fmt(bf16Rounds.at(-1)!.stepsPerSec)} steps/s, coord ${fmt(bf16Rounds.at(-1)!.coordinationMs.median)} ms vs fp32 ${fmt(c.coordinationMs.median)} ms`,
    );
  }

  const perRound = (f: (i: number) => number) => spread(Array.from({ length: ROUNDS }, (_, i) => f(i)));
  const sps = (m: Mode, i: number) => rounds[m][i]!.stepsPerSec;
  const traceSummary = (t: StepTrace[]) => ({
    publishMs: summarize(t.map((x) => x.publishMs)).median,
    barrierMs: summarize(t.map((x) => x.barrierMs)).median,
    waitedMs: summarize(t.map((x) => x.waitedMs ?? NaN).filter(Number.isFinite)).median,
  });
  return {
    dataset: spec,
    architecture: sizes,
    params,
    batch,
    calibration: probes,
    modes: MODES.map((m) => modeSpread(m, rounds[m])),
    rounds,
    scaling: {
      vsOneWorker: perRound((i) => sps("2 workers", i) / (2 * sps("1 worker", i))),
      vsInProcess: perRound((i) => sps("2 workers", i) / (2 * sps("in-process", i))),
      oneWorkerVsInProcess: perRound((i) => sps("1 worker", i) / sps("in-process", i)),
    },
    split: await medianCeiling(sizes, batch, SPLIT_MS),
    pingPongMs: await redisPingPong(redis.url, params * 4),
    trace: { oneWorker: traceSummary(traces.oneWorker), twoWorkers: traceSummary(traces.twoWorkers) },
    gradients: gradientComparison(rounds["2 workers"], bf16Rounds, traces.twoWorkers, traces.twoWorkersBf16),
  };
}

function gradientComparison(fp32Rounds: ModeRound[], bf16Rounds: ModeRound[], fp32Traces: StepTrace[], bf16Traces: StepTrace[]): GradientComparison {
  const side = (rounds: ModeRound[], t: StepTrace[]): GradientSide => ({
    gradientBytesPerStep: summarize(t.map((x) => x.gradientBytes)).median,
    doneRecordBytesPerStep: summarize(t.map((x) => x.recordBytes)).median,
    weightsBytesPerStep: summarize(t.map((x) => x.weightsBytes)).median,
    coordinationMs: spread(rounds.map((r) => r.coordinationMs.median)),
    stepsPerSec: spread(rounds.map((r) => r.stepsPerSec)),
    publishMs: summarize(t.map((x) => x.publishMs)).median,
    barrierMs: summarize(t.map((x) => x.barrierMs)).median,
  });
  const fp32 = side(fp32Rounds, fp32Traces);
  const bf16 = side(bf16Rounds, bf16Traces);
  const perRound = (f: (i: number) => number) => spread(bf16Rounds.map((_, i) => f(i)));
  return {
    fp32,
    bf16: { ...bf16, rounds: bf16Rounds },
    ratios: {
      gradientBytes: bf16.gradientBytesPerStep / fp32.gradientBytesPerStep,
      doneRecordBytes: bf16.doneRecordBytesPerStep / fp32.doneRecordBytesPerStep,
      // Out (weights broadcast, fp32 either way) and in (done records).
      transferBytes: (bf16.weightsBytesPerStep + bf16.doneRecordBytesPerStep) / (fp32.weightsBytesPerStep + fp32.doneRecordBytesPerStep),
      coordinationMs: perRound((i) => bf16Rounds[i]!.coordinationMs.median / fp32Rounds[i]!.coordinationMs.median),
      stepsPerSec: perRound((i) => bf16Rounds[i]!.stepsPerSec / fp32Rounds[i]!.stepsPerSec),
    },
  };
}

/** fp32 vs int8: train in-process, export, score both graphs with onnxruntime on the held-out split. */
async function quality(spec: string) {
  const data = loadDataset(spec, { splitSeed: 1, testFraction: 0.2 });
  const sizes = [data.features, HIDDEN[spec] ?? 64, data.labels.length];
  const epochs = QUALITY_EPOCHS[spec] ?? 4;
  const cfg: TrainConfig = { arch: mlp(sizes), epochs, batchSize: 64, optimizer: { kind: "adam", lr: 0.001 }, seed: 1, shards: 1, checkpointEvery: 0, evalEachEpoch: false };
  const t = performance.now();
  const r = await train({ cfg, data, gradients: new LocalGradients(mlp(sizes), data.train), events: silentEvents });
  const trainSeconds = (performance.now() - t) / 1000;
  const ex = await buildExport({ arch: mlp(sizes), params: r.params, data, name: spec, version: 1, int8Format: "auto" });
  // Gradient precision: the same run with 2 shards, fp32 vs bf16 gradients (what a 2-worker hub computes).
  const twoShards = async (gradients: GradientEncoding) =>
    (await train({ cfg: { ...cfg, shards: 2, gradients }, data, gradients: new LocalGradients(mlp(sizes), data.train, gradients), events: silentEvents })).test.accuracy;
  const [fp32Acc, bf16Acc] = [await twoShards("fp32"), await twoShards("bf16")];
  const pr = (e: { precision?: number; recall?: number }) => (e.precision !== undefined ? { precision: e.precision, recall: e.recall! } : {});
  return {
    dataset: spec,
    architecture: sizes.join("-"),
    epochs,
    trainSeconds,
    heldOutRows: data.test.rows,
    fp32: { accuracy: ex.fp32.evaluation.accuracy, bytes: ex.fp32.bytes.length, ...pr(ex.fp32.evaluation) },
    int8: { format: ex.int8.format, accuracy: ex.int8.evaluation.accuracy, bytes: ex.int8.bytes.length, ...pr(ex.int8.evaluation) },
    accuracyDropPoints: (ex.fp32.evaluation.accuracy - ex.int8.evaluation.accuracy) * 100,
    sizeRatio: ex.sizeRatio,
    parityMaxAbsDiff: ex.parity.maxAbsDiff,
    runtime: ex.runtime,
    gradients: { shards: 2, fp32Accuracy: fp32Acc, bf16Accuracy: bf16Acc, bf16MinusFp32Points: (bf16Acc - fp32Acc) * 100 },
  };
}
type Quality = Awaited<ReturnType<typeof quality>>;

type TargetRow = { target: string; dataset: string; spread: Spread | null; value: number; met: boolean };

function targetRows(speeds: SpeedResult[], qualities: Quality[]): TargetRow[] {
  const rows: TargetRow[] = [];
  const bySpread = (target: string, dataset: string, s: Spread, t: { below: number } | { atLeast: number }) =>
    rows.push({ target, dataset, spread: s, value: s.median, met: metBySpread(s, t) });
  for (const sp of speeds) {
    for (const m of sp.modes.filter((m) => m.mode !== "in-process")) {
      bySpread(`coordination/compute, ${m.mode} < ${TARGETS.coordinationPerCompute}`, sp.dataset, m.coordinationPerCompute, { below: TARGETS.coordinationPerCompute });
    }
    bySpread(`scaling efficiency vs 1 worker >= ${TARGETS.scalingEfficiency}`, sp.dataset, sp.scaling.vsOneWorker, { atLeast: TARGETS.scalingEfficiency });
    bySpread(`scaling efficiency vs in-process >= ${TARGETS.scalingEfficiency}`, sp.dataset, sp.scaling.vsInProcess, { atLeast: TARGETS.scalingEfficiency });
  }
  // Deterministic (fixed seeds, same bytes every run): one value, no spread.
  for (const q of qualities) {
    rows.push({ target: `int8 accuracy drop <= ${TARGETS.int8AccuracyDropPoints} points`, dataset: q.dataset, spread: null, value: q.accuracyDropPoints, met: q.accuracyDropPoints <= TARGETS.int8AccuracyDropPoints });
    rows.push({ target: `int8 size ratio >= ${TARGETS.int8SizeRatio}`, dataset: q.dataset, spread: null, value: q.sizeRatio, met: q.sizeRatio >= TARGETS.int8SizeRatio });
  }
  return rows;
}

function printSpeed(sp: SpeedResult, backend: string): void {
  const mib = ((sp.params * 4) / 2 ** 20).toFixed(2);
  console.log(
    `\nTraining speed — ${sp.dataset} ${sp.architecture.join("-")} (${sp.params.toLocaleString("en-US")} parameters, ${mib} MiB), global batch ${sp.batch}, Adam; ` +
      `${MEASURED_STEPS} steps after ${WARMUP_STEPS} warm-up per mode and round, ${ROUNDS} rounds (${backend} backend)`,
  );
  console.log("per-round medians over steps, shown as median (min–max) across rounds; ms per step");
  console.log(
    table(
      ["mode", "shards", "steps/s", "step ms", "compute ms", "gather ms", "apply ms", "coord ms", "coord/compute"],
      sp.modes.map((m) => [m.mode, m.shards, fmtSpread(m.stepsPerSec), m.stepMs.median, m.computeMs.median, m.gatherMs.median, m.applyMs.median, m.coordinationMs.median, fmtSpread(m.coordinationPerCompute)]),
    ),
  );
  const [, one, two] = sp.modes as [ModeSpread, ModeSpread, ModeSpread];
  console.log(
    `coord = step − compute − apply (in-process: the batch gather, ${fmt(sp.modes[0]!.gatherMs.median)} ms, and loop bookkeeping; workers gather while waiting for the weights: ` +
      `${fmt(one.gatherMs.median)} / ${fmt(two.gatherMs.median)} ms). Floor: a ${mib} MiB Redis round trip between two threads took ${fmt(sp.pingPongMs)} ms; ` +
      `coordinator trace (medians): publish ${fmt(sp.trace.oneWorker.publishMs)} / ${fmt(sp.trace.twoWorkers.publishMs)} ms, worker waited for weights ${fmt(sp.trace.oneWorker.waitedMs)} / ${fmt(sp.trace.twoWorkers.waitedMs)} ms (1 / 2 workers)`,
  );
  console.log(
    `scaling efficiency of 2 workers: vs 1 worker ${fmtSpread(sp.scaling.vsOneWorker)}, vs in-process ${fmtSpread(sp.scaling.vsInProcess)}; ` +
      `1 worker runs at ${fmtSpread(sp.scaling.oneWorkerVsInProcess)} of in-process steps/s. ` +
      `Compute-only ceiling: full batch ${fmt(sp.split.fullMs)} ms alone vs half batches ${fmt(sp.split.halfConcurrentMs)} ms in 2 processes at once = ` +
      `${fmt(sp.split.ceiling)}x (${fmt((sp.split.ceiling / 2) * 100)}% efficiency before any coordination)`,
  );
}

async function main(): Promise<void> {
  const started = new Date().toISOString();
  const load0 = loadavg();
  const backend = await selectBackend(process.env.BENCH_BACKEND ?? "auto");
  log(`backend: ${backend.name} (${backend.detail}); ${cpus().length} cores; load average ${load0.map((l) => l.toFixed(2)).join(" ")}`);

  const capacityBefore = await parallelCapacity();
  log(`parallel capacity: ${capacityBefore.cores.toFixed(2)} cores (1 thread ${capacityBefore.oneMs.toFixed(0)} ms, 2 threads ${capacityBefore.twoMs.toFixed(0)} ms)`);
  const speeds: SpeedResult[] = [];
  let redis: TestRedis | undefined;
  const workers: WorkerProcess[] = [];
  try {
    redis = await startRedis();
    log(`redis: ${redis.url} (${redis.owned ? "started for this run" : "REDIS_URL"})`);
    for (const spec of DATASETS) speeds.push(await speed(redis, workers, spec));
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await redis?.stop();
  }
  const qualities: Quality[] = [];
  if (QUALITY) for (const spec of DATASETS) qualities.push(await quality(spec));

  const capacityAfter = await parallelCapacity();
  const load1 = loadavg();
  for (const sp of speeds) printSpeed(sp, backend.name);
  console.log(
    `(${cpus().length} cores shared by 2 workers, the coordinator, Redis and whatever else runs on the machine: ` +
      `parallel capacity measured ${capacityBefore.cores.toFixed(2)} cores before, ${capacityAfter.cores.toFixed(2)} after)`,
  );
  if (qualities.length) {
    console.log(`\nExported models — held-out accuracy and size (${qualities[0]!.runtime})`);
    console.log(
      table(
        ["dataset", "model", "fp32 acc", "int8 acc", "drop (points)", "fp32 bytes", "int8 bytes", "ratio", "int8 form"],
        qualities.map((q) => [q.dataset, q.architecture, q.fp32.accuracy, q.int8.accuracy, q.accuracyDropPoints, q.fp32.bytes, q.int8.bytes, q.sizeRatio, q.int8.format]),
      ),
    );
  }
  if (speeds.length) {
    console.log(`\nGradient precision — 2 workers, fp32 (exact, = "2 workers" above) vs bf16 gradients, same rounds; bytes are medians per step as the coordinator received them`);
    const q = (d: string) => qualities.find((x) => x.dataset === d)?.gradients;
    console.log(
      table(
        ["dataset", "grad B fp32", "grad B bf16", "ratio", "records ratio", "out+in ratio", "coord ms fp32", "coord ms bf16", "coord ratio", "steps/s ratio", "acc fp32", "acc bf16", "Δ points"],
        speeds.map((sp) => {
          const g = sp.gradients;
          return [
            sp.dataset, g.fp32.gradientBytesPerStep, g.bf16.gradientBytesPerStep, g.ratios.gradientBytes, g.ratios.doneRecordBytes, g.ratios.transferBytes,
            g.fp32.coordinationMs.median, g.bf16.coordinationMs.median, fmtSpread(g.ratios.coordinationMs), fmtSpread(g.ratios.stepsPerSec),
            q(sp.dataset)?.fp32Accuracy ?? null, q(sp.dataset)?.bf16Accuracy ?? null, q(sp.dataset)?.bf16MinusFp32Points ?? null,
          ];
        }),
      ),
    );
    console.log(`(out+in = weights broadcast, fp32 either way, + done records; accuracy: held-out after the quality run's epochs with 2 shards)`);
  }
  const targets = targetRows(speeds, qualities);
  console.log(`\nTargets: met only when the whole spread across ${ROUNDS} rounds is inside the target`);
  console.log(
    table(
      ["target", "dataset", "min", "median", "max", "result"],
      targets.map((t): Cell[] => [t.target, t.dataset, t.spread?.min ?? null, t.spread?.median ?? t.value, t.spread?.max ?? null, t.met ? "met" : "missed"]),
    ),
  );
  console.log(`\nload average: ${load0.map((l) => l.toFixed(2)).join(" ")} at start, ${load1.map((l) => l.toFixed(2)).join(" ")} at end`);

  const result = {
    started,
    machine: {
      cores: cpus().length,
      cpu: cpus()[0]?.model,
      memoryGiB: totalmem() / 2 ** 30,
      node: process.version,
      loadAverageStart: load0,
      loadAverageEnd: load1,
      parallelCapacityBefore: capacityBefore,
      parallelCapacityAfter: capacityAfter,
    },
    backend: { name: backend.name, detail: backend.detail },
    method: {
      warmupSteps: WARMUP_STEPS,
      measuredSteps: MEASURED_STEPS,
      rounds: ROUNDS,
      targetComputeMs: TARGET_COMPUTE_MS,
      compute: "the slowest shard's computeGradient alone, timed where it ran (in this process, or in the worker)",
      gather: "the batch-row gather (buffer, gatherRows, gatherLabels), timed the same way in LocalGradients and in the worker; in-process it is on the step's path, a worker does it before the weights arrive",
      coordination: "step wall time − compute − apply (averaging + Adam on the coordinator); never negative. coordinationPerCompute = coordination ÷ compute per step, median over the round's steps",
      scaling: "per round: steps/s with 2 workers (2 shards, same global batch) ÷ (2 × steps/s of 1 worker), and ÷ (2 × steps/s in-process)",
      spread: "each figure is a per-round value (median over that round's steps, or a within-round ratio); min/median/max across rounds",
      gradients: "2 workers with fp32 gradients (mode \"2 workers\") vs bf16 gradients, measured right after it in the same round; bytes per step from the coordinator's step traces (gradient payloads of the records used, whole done records, the weights broadcast); ratios bf16 ÷ fp32, coordination and steps/s per round. Accuracy: the quality run's config with 2 shards, fp32 vs each shard's gradient rounded to bf16 (the same bits as a cluster run)",
      targets: "met only when the whole spread is inside the target (max below an upper bound, min at or above a lower one); int8 figures are deterministic, one value",
    },
    speed: speeds,
    quality: qualities,
    targets: { thresholds: TARGETS, rows: targets },
    met: Object.fromEntries(targets.map((t) => [`${t.dataset}: ${t.target}`, t.met])),
  };
  const dir = resultsDir(ROOT);
  await mkdir(dir, { recursive: true });
  const out = join(dir, "train.json");
  await writeFile(out, JSON.stringify(rounded(result), null, 2) + "\n");
  log(`\nwrote ${out}`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:train failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

// `npm run bench:train`: the trainer's speed and the quality of what it exports, in one run.
//  1. steps/s in-process vs 1 and 2 `meridian worker` processes through BullMQ, on the same data,
//     for spam (hashed-bow 4096 → 64 → 2, 1 MiB of weights) and mnist (784 → 128 → 10, 0.4 MiB),
//     each with a global batch sized so one gradient takes about 50 ms to compute in-process;
//  2. coordination overhead per step as a fraction of compute, and 2-worker scaling efficiency
//     (each round runs the three modes back to back, so they share the machine's load of the
//     moment; ratios are taken within rounds);
//  3. fp32 vs int8 held-out accuracy and file size (spam and mnist).
// Uses REDIS_URL if set, else starts its own redis-server on a free port. Prints tables and writes
// bench/results/train.json.
import { spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { cpus, loadavg, totalmem } from "node:os";
import { Worker as Thread } from "node:worker_threads";
import { join } from "node:path";
import { startRedis, type TestRedis } from "../test/setup/redis";
import { ClusterGradients, type StepTrace } from "../trainer/cluster/coordinator";
import { spawnWorker, type WorkerProcess } from "../trainer/cluster/spawn";
import { loadDataset, type Dataset } from "../trainer/data";
import { buildExport } from "../trainer/export/export";
import { selectBackend } from "../trainer/train/backend";
import { LocalGradients, splitFingerprint, train, type GradientSource, type TrainConfig } from "../trainer/train/loop";
import { computeGradient, gatherRows, initParams } from "../trainer/train/model";
import { silentEvents, type StepEvent, type TrainEvents } from "../trainer/train/events";
import { rounded, summarize, table, type Summary } from "./lib";

const OUT = join(import.meta.dirname, "results", "train.json");
const TARGET_COMPUTE_MS = 50;
const WARMUP_STEPS = 5;
const MEASURED_STEPS = Number(process.env.BENCH_STEPS ?? 40);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const TARGETS = { overheadFraction: 0.1, scalingEfficiency: 0.8, int8AccuracyDrop: 0.005, int8SizeRatio: 3.5 };
const log = (line: string): void => void process.stderr.write(`${line}\n`);

type Mode = "in-process" | "1 worker" | "2 workers";

type ModeResult = {
  mode: Mode;
  shards: number;
  stepsPerSec: number;
  stepMs: Summary;
  /** Slowest shard's gradient time per step, measured where it ran. */
  computeMs: Summary;
  /** Averaging + Adam update on the coordinator. */
  applyMs: Summary;
  /** step − compute − apply: Redis transfers, BullMQ hand-offs, the barrier. */
  coordinationMs: Summary;
};

function recorder(): { events: TrainEvents; steps: StepEvent[] } {
  const steps: StepEvent[] = [];
  return { events: { ...silentEvents, step: (e) => void steps.push(e) }, steps };
}

/**
 * In-process gradient time for a batch of `batch` rows: the minimum of 7 runs after 2 warm-ups
 * (on a shared machine the minimum is the least disturbed figure).
 */
function gradientMs(data: Dataset, sizes: number[], batch: number): number {
  const params = initParams(sizes, 1);
  const rows = Int32Array.from({ length: batch }, (_, i) => i % data.train.rows);
  const x = gatherRows(data.train.x, data.features, rows);
  const y = Int32Array.from(rows, (r) => data.train.y[r]!);
  const times: number[] = [];
  for (let i = 0; i < 9; i++) {
    const t0 = performance.now();
    computeGradient(sizes, params, x, y);
    times.push(performance.now() - t0);
  }
  return Math.min(...times.slice(2));
}

/** The (even) batch whose in-process gradient takes about TARGET_COMPUTE_MS: doubling, then interpolation. */
function calibrateBatch(data: Dataset, sizes: number[]): { batch: number; probes: { batch: number; ms: number }[] } {
  const probes = [{ batch: 32, ms: gradientMs(data, sizes, 32) }];
  while (probes.at(-1)!.ms < TARGET_COMPUTE_MS && probes.at(-1)!.batch < 8192) {
    const batch = probes.at(-1)!.batch * 2;
    probes.push({ batch, ms: gradientMs(data, sizes, batch) });
  }
  let batch = probes.at(-1)!.batch;
  if (probes.length >= 2) {
    const [a, b] = probes.slice(-2) as [{ batch: number; ms: number }, { batch: number; ms: number }];
    const perRow = (b.ms - a.ms) / (b.batch - a.batch);
    if (perRow > 0) batch = a.batch + (TARGET_COMPUTE_MS - a.ms) / perRow;
  }
  batch = Math.min(Math.max(Math.round(batch / 2) * 2, 32), 8192);
  probes.push({ batch, ms: gradientMs(data, sizes, batch) });
  return { batch, probes };
}

async function measure(mode: Mode, data: Dataset, cfg: TrainConfig, source: GradientSource): Promise<ModeResult> {
  const { events, steps } = recorder();
  await train({ cfg: { ...cfg, maxSteps: WARMUP_STEPS + MEASURED_STEPS }, data, gradients: source, events, fresh: true });
  const measured = steps.slice(WARMUP_STEPS);
  const wall = measured.reduce((a, s) => a + s.ms, 0) / 1000;
  const compute = measured.map((s) => s.computeMs ?? NaN);
  return {
    mode,
    shards: cfg.shards,
    stepsPerSec: measured.length / wall,
    stepMs: summarize(measured.map((s) => s.ms)),
    computeMs: summarize(compute),
    applyMs: summarize(measured.map((s) => s.applyMs)),
    coordinationMs: summarize(measured.map((s) => s.ms - (s.computeMs ?? 0) - s.applyMs)),
  };
}

function medianOf(results: ModeResult[]): ModeResult {
  const sorted = [...results].sort((a, b) => a.stepsPerSec - b.stepsPerSec);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/**
 * How many cores this process can actually get right now: the same CPU-bound loop on 1 thread,
 * then on 2 threads at once. 2.0 means two idle cores; on a machine shared with other jobs it is
 * less, and no 2-worker speed-up can exceed it.
 */
async function parallelCapacity(): Promise<{ oneMs: number; twoMs: number; cores: number }> {
  const src = `
    const { parentPort } = require("node:worker_threads");
    let x = 0;
    const t0 = performance.now();
    for (let i = 0; i < 150_000_000; i++) x = (x + Math.imul(i, 2654435761)) | 0;
    parentPort.postMessage({ ms: performance.now() - t0, x });`;
  const run = (n: number): Promise<number> =>
    Promise.all(
      Array.from(
        { length: n },
        () =>
          new Promise<number>((resolve, reject) => {
            const t = new Thread(src, { eval: true });
            t.once("message", (m: { ms: number }) => resolve(m.ms));
            t.once("error", reject);
          }),
      ),
    ).then((ms) => Math.max(...ms));
  await run(1); // warm-up
  const oneMs = Math.min(await run(1), await run(1));
  const twoMs = Math.min(await run(2), await run(2));
  return { oneMs, twoMs, cores: (2 * oneMs) / twoMs };
}

/**
 * The floor under any Redis-mediated step: a payload goes from this thread to another (RPUSH →
 * BLPOP) and the same size comes back — two hops and two wake-ups, like weights out and a
 * gradient back. Median round trip in ms over `n` tries.
 */
async function redisPingPong(url: string, bytes: number, n = 40): Promise<number> {
  const src = `
    const { parentPort, workerData } = require("node:worker_threads");
    const { Redis } = require("ioredis");
    const r = new Redis(workerData.url);
    (async () => {
      parentPort.postMessage("ready");
      for (;;) {
        const got = await r.blpopBuffer(workerData.ping, 0);
        if (got[1].length === 1) break;
        await r.rpush(workerData.pong, got[1]);
      }
      r.disconnect();
    })();`;
  const tag = Math.random().toString(36).slice(2, 8);
  const keys = { ping: `bench-ping-${tag}`, pong: `bench-pong-${tag}` };
  const t = new Thread(src, { eval: true, workerData: { url, ...keys } });
  await new Promise((res) => t.once("message", res));
  const { Redis } = await import("ioredis");
  const r = new Redis(url);
  const payload = Buffer.alloc(bytes, 7);
  const times: number[] = [];
  for (let i = 0; i < n + 3; i++) {
    const t0 = performance.now();
    await r.rpush(keys.ping, payload);
    await r.blpopBuffer(keys.pong, 5);
    if (i >= 3) times.push(performance.now() - t0);
  }
  await r.rpush(keys.ping, Buffer.from("x"));
  r.disconnect();
  await new Promise((res) => t.once("exit", res));
  return summarize(times).median;
}

/**
 * The compute-only ceiling for 2 workers, without Redis or BullMQ: the gradient of the full batch
 * in one process, then of half the batch in two processes at once (median ms each). The two
 * start computing at the same agreed instant and keep going for the same wall time, so their
 * measured steps really overlap (process start-up varies by more than a whole measurement). On
 * this kind of VM the two halves slow each other down (shared memory bandwidth), so splitting a
 * batch gains less than 2x before any coordination cost.
 */
const START_DELAY_MS = 8000;
const MEASURE_MS = 2000;

async function splitCeiling(sizes: number[], batch: number): Promise<{ fullMs: number; halfConcurrentMs: number; ceiling: number }> {
  const root = join(import.meta.dirname, "..");
  const code = `(async () => {
    const [b, m, d] = await Promise.all([import(${JSON.stringify(join(root, "trainer/train/backend.ts"))}), import(${JSON.stringify(join(root, "trainer/train/model.ts"))}), import(${JSON.stringify(join(root, "shared/onnx/models.ts"))})]);
    await b.selectBackend(${JSON.stringify(process.env.BENCH_BACKEND ?? "auto")});
    const sizes = ${JSON.stringify(sizes)}; const rows = Number(process.argv[1]); const startAt = Number(process.argv[2]);
    const p = m.initParams(sizes, 1); const x = d.normalRows(rows, sizes[0], 2).map(Math.abs);
    const y = Int32Array.from({ length: rows }, (_, i) => i % sizes[sizes.length - 1]);
    for (let i = 0; i < 3; i++) m.computeGradient(sizes, p, x, y); // warm-up
    while (Date.now() < startAt) await new Promise((r) => setTimeout(r, Math.min(50, startAt - Date.now())));
    const t = [];
    while (Date.now() < startAt + ${MEASURE_MS} || t.length < 5) { const t0 = performance.now(); m.computeGradient(sizes, p, x, y); t.push(performance.now() - t0); }
    t.sort((a, b) => a - b); process.stdout.write(String(t[t.length >> 1]));
  })()`;
  // Late enough for both children to have started and warmed up (tsx start-up takes seconds here).
  const run = (rows: number, startAt = Date.now() + START_DELAY_MS): Promise<number> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ["--import", "tsx", "-e", code, String(rows), String(startAt)], { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
      let out = "";
      child.stdout.on("data", (d: Buffer) => (out += d.toString()));
      child.on("close", (c) => (c === 0 ? resolve(Number(out)) : reject(new Error(`split probe exited with ${c}`))));
    });
  const fullMs = await run(batch);
  const startAt = Date.now() + START_DELAY_MS;
  const halves = await Promise.all([run(Math.ceil(batch / 2), startAt), run(Math.floor(batch / 2), startAt)]);
  const halfConcurrentMs = Math.max(...halves);
  return { fullMs, halfConcurrentMs, ceiling: fullMs / halfConcurrentMs };
}

type SpeedResult = {
  dataset: string;
  architecture: number[];
  params: number;
  batch: number;
  calibration: { batch: number; ms: number }[];
  modes: { inProcess: ModeResult; oneWorker: ModeResult; twoWorkers: ModeResult };
  allRuns: Record<Mode, ModeResult[]>;
  /** Gradient of the full batch alone vs two half batches at once, in separate processes, no Redis. */
  split: { fullMs: number; halfConcurrentMs: number; ceiling: number };
  /** Median Redis round trip (out and back, this payload size) at the time: the protocol's floor. */
  pingPongMs: number;
  /** Coordinator-side breakdown of cluster steps (medians, ms). */
  trace: Record<"oneWorker" | "twoWorkers", { publishMs: number; barrierMs: number; waitedMs: number }>;
  overheadFraction: number;
  speedup2v1: number;
  scalingEfficiency: number;
  speedup2vInProcess: number;
};

async function speed(redis: TestRedis, workers: WorkerProcess[], spec: string, hidden: number): Promise<SpeedResult> {
  const t0 = performance.now();
  const data = loadDataset(spec, { splitSeed: 1, testFraction: 0.2 });
  const sizes = [data.features, hidden, data.labels.length];
  const { batch, probes } = calibrateBatch(data, sizes);
  log(`${spec}: ${data.train.rows} train rows (${Math.round(performance.now() - t0)} ms); batch ${batch}: ${probes.map((p) => `${p.batch} rows ${p.ms.toFixed(1)} ms`).join(", ")}`);
  const cfg: TrainConfig = {
    sizes,
    epochs: 1000,
    batchSize: batch,
    optimizer: { kind: "adam", lr: 0.001 },
    seed: 1,
    shards: 1,
    checkpointEvery: 0,
    evalEachEpoch: false,
  };
  const runs: Record<Mode, ModeResult[]> = { "in-process": [], "1 worker": [], "2 workers": [] };
  const traces: Record<"oneWorker" | "twoWorkers", StepTrace[]> = { oneWorker: [], twoWorkers: [] };
  // Three worker processes: one alone on its own queue prefix ("1 worker"), two sharing another
  // ("2 workers"). Idle workers block in Redis and use no CPU, so every round can run all three
  // modes back to back under the same machine load, and ratios are taken within a round.
  const prefixOf = (shards: number) => `${redis.prefix}-${shards}w`;
  const cluster = async (mode: Mode, shards: number): Promise<ModeResult> => {
    const c = await ClusterGradients.open({
      redisUrl: redis.url,
      prefix: prefixOf(shards),
      runId: `bench-${spec}-${shards}`,
      sizes,
      train: data.train,
      features: data.features,
      dataFingerprint: splitFingerprint(data.train, data.features),
      leaseMs: 2000,
    });
    try {
      const r = await measure(mode, data, { ...cfg, shards }, c);
      traces[shards === 1 ? "oneWorker" : "twoWorkers"].push(...c.traces.slice(WARMUP_STEPS));
      return r;
    } finally {
      await c.close();
    }
  };
  const local = (): Promise<ModeResult> => measure("in-process", data, cfg, new LocalGradients(sizes, data.train));

  if (workers.length === 0) {
    workers.push(
      ...(await Promise.all(
        [1, 2, 2].map((n) => spawnWorker({ redisUrl: redis.url, prefix: prefixOf(n), args: ["--quiet"] })),
      )),
    );
  }
  const ratios: { speedup: number; slowdown: number }[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    runs["in-process"].push(await local());
    runs["1 worker"].push(await cluster("1 worker", 1));
    runs["2 workers"].push(await cluster("2 workers", 2));
    const [a, b, c] = [runs["in-process"].at(-1)!, runs["1 worker"].at(-1)!, runs["2 workers"].at(-1)!];
    ratios.push({ speedup: c.stepsPerSec / b.stepsPerSec, slowdown: a.stepsPerSec / b.stepsPerSec - 1 });
    log(`  round ${r + 1}: in-process ${a.stepsPerSec.toFixed(2)} steps/s, 1 worker ${b.stepsPerSec.toFixed(2)}, 2 workers ${c.stepsPerSec.toFixed(2)} (${ratios.at(-1)!.speedup.toFixed(2)}x)`);
  }

  const inproc = medianOf(runs["in-process"]);
  const one = medianOf(runs["1 worker"]);
  const two = medianOf(runs["2 workers"]);
  const traceSummary = (t: StepTrace[]) => ({
    publishMs: summarize(t.map((x) => x.publishMs)).median,
    barrierMs: summarize(t.map((x) => x.barrierMs)).median,
    waitedMs: summarize(t.map((x) => x.waitedMs ?? NaN).filter(Number.isFinite)).median,
  });
  const speedup = summarize(ratios.map((x) => x.speedup)).median;
  const split = await splitCeiling(sizes, batch);
  const pingPongMs = await redisPingPong(redis.url, sizes.slice(1).reduce((a, o, i) => a + (sizes[i]! + 1) * o, 0) * 4);
  return {
    split,
    pingPongMs,
    dataset: spec,
    architecture: sizes,
    params: sizes.slice(1).reduce((a, o, i) => a + (sizes[i]! + 1) * o, 0),
    batch,
    calibration: probes,
    modes: { inProcess: inproc, oneWorker: one, twoWorkers: two },
    allRuns: runs,
    trace: { oneWorker: traceSummary(traces.oneWorker), twoWorkers: traceSummary(traces.twoWorkers) },
    // What the cluster adds per step, as a fraction of the same step in-process (compute + update):
    // from steps/s within each round, so it does not depend on where each side draws "compute".
    overheadFraction: summarize(ratios.map((x) => x.slowdown)).median,
    speedup2v1: speedup,
    scalingEfficiency: speedup / 2,
    speedup2vInProcess: two.stepsPerSec / inproc.stepsPerSec,
  };
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
    for (const [spec, hidden] of [
      ["spam", 64],
      ["mnist", 128],
    ] as const) {
      speeds.push(await speed(redis, workers, spec, hidden));
    }
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await redis?.stop();
  }

  // fp32 vs int8: train in-process, export, score both graphs with onnxruntime on the held-out split.
  const quality = [];
  for (const [spec, epochs, hidden] of [
    ["spam", 4, 64],
    ["mnist", 5, 128],
  ] as const) {
    const data = loadDataset(spec, { splitSeed: 1, testFraction: 0.2 });
    const s = [data.features, hidden, data.labels.length];
    const c: TrainConfig = { sizes: s, epochs, batchSize: 64, optimizer: { kind: "adam", lr: 0.001 }, seed: 1, shards: 1, checkpointEvery: 0, evalEachEpoch: false };
    const t = performance.now();
    const r = await train({ cfg: c, data, gradients: new LocalGradients(s, data.train), events: silentEvents });
    const trainSeconds = (performance.now() - t) / 1000;
    const ex = await buildExport({ sizes: s, params: r.params, data, name: spec, version: 1, int8Format: "auto" });
    quality.push({
      dataset: spec,
      architecture: s.join("-"),
      epochs,
      trainSeconds,
      heldOutRows: data.test.rows,
      fp32: { accuracy: ex.fp32.evaluation.accuracy, bytes: ex.fp32.bytes.length, ...pr(ex.fp32.evaluation) },
      int8: { format: ex.int8.format, accuracy: ex.int8.evaluation.accuracy, bytes: ex.int8.bytes.length, ...pr(ex.int8.evaluation) },
      accuracyDropPoints: (ex.fp32.evaluation.accuracy - ex.int8.evaluation.accuracy) * 100,
      sizeRatio: ex.sizeRatio,
      parityMaxAbsDiff: ex.parity.maxAbsDiff,
      runtime: ex.runtime,
    });
  }

  const capacityAfter = await parallelCapacity();
  const load1 = loadavg();
  for (const sp of speeds) {
    const { inProcess, oneWorker, twoWorkers } = sp.modes;
    console.log(
      `\nTraining speed — ${sp.dataset} ${sp.architecture.join("-")} (${sp.params.toLocaleString("en-US")} parameters, ${((sp.params * 4) / 2 ** 20).toFixed(2)} MiB), ` +
        `global batch ${sp.batch}, Adam; ${MEASURED_STEPS} steps after ${WARMUP_STEPS} warm-up, median of ${ROUNDS} runs (${backend.name} backend)`,
    );
    console.log(
      table(
        ["mode", "shards", "steps/s", "steps/s @p10", "step ms", "compute ms", "apply ms", "coord ms", "coord/compute"],
        [inProcess, oneWorker, twoWorkers].map((m) => [
          m.mode,
          m.shards,
          m.stepsPerSec,
          1000 / m.stepMs.p10,
          m.stepMs.median,
          m.computeMs.median,
          m.applyMs.median,
          m.mode === "in-process" ? null : m.coordinationMs.median,
          m.mode === "in-process" ? null : m.coordinationMs.median / m.computeMs.median,
        ]),
      ),
    );
    console.log(
      `coordination overhead (1 worker): a step takes ${(sp.overheadFraction * 100).toFixed(1)}% longer than the same step in-process (target < ${TARGETS.overheadFraction * 100}%); ` +
        `the worker's gradient alone is ${sp.modes.oneWorker.computeMs.median.toFixed(1)} ms (it gathers its rows while waiting for the weights); ` +
        `floor: a ${((sp.params * 4) / 2 ** 20).toFixed(2)} MiB Redis round trip between two threads took ${sp.pingPongMs.toFixed(1)} ms`,
    );
    console.log(
      `2 workers: ${sp.speedup2v1.toFixed(2)}x the steps/s of 1 worker = ${(sp.scalingEfficiency * 100).toFixed(0)}% scaling efficiency (target >= ${TARGETS.scalingEfficiency * 100}%), ` +
        `${sp.speedup2vInProcess.toFixed(2)}x in-process; compute-only ceiling on this machine: full batch ${sp.split.fullMs.toFixed(1)} ms alone vs ` +
        `half batches ${sp.split.halfConcurrentMs.toFixed(1)} ms in 2 processes at once = ${sp.split.ceiling.toFixed(2)}x (${((sp.split.ceiling / 2) * 100).toFixed(0)}% efficiency before any coordination)`,
    );
  }
  console.log(
    `(${cpus().length} cores shared by 2 workers, the coordinator, Redis and whatever else runs on the machine: ` +
      `parallel capacity measured ${capacityBefore.cores.toFixed(2)} cores before, ${capacityAfter.cores.toFixed(2)} after; ` +
      `"steps/s @p10" = 1000 / the 10th-percentile step time, the least disturbed steps)`,
  );
  console.log(`\nExported models — held-out accuracy and size (${quality[0]!.runtime})`);
  console.log(
    table(
      ["dataset", "model", "fp32 acc", "int8 acc", "drop (points)", "fp32 bytes", "int8 bytes", "ratio", "int8 form"],
      quality.map((q) => [q.dataset, q.architecture, q.fp32.accuracy, q.int8.accuracy, q.accuracyDropPoints, q.fp32.bytes, q.int8.bytes, q.sizeRatio, q.int8.format]),
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
      overhead: "(step time with 1 worker ÷ step time in-process) − 1, from steps/s within each round (same batch, back to back), median over rounds",
      coordination: "per-step breakdown: wall time − slowest shard's gradient time (measured where it ran; workers gather their rows before the weights arrive) − averaging/Adam on the coordinator",
      scaling: "steps/s with 2 workers (2 shards) ÷ steps/s with 1 worker (1 shard) within each round (same global batch, back to back), median over rounds; efficiency = that ÷ 2",
    },
    speed: speeds,
    quality,
    targets: TARGETS,
    met: {
      overhead: Object.fromEntries(speeds.map((s) => [s.dataset, s.overheadFraction < TARGETS.overheadFraction])),
      scaling: Object.fromEntries(speeds.map((s) => [s.dataset, s.scalingEfficiency >= TARGETS.scalingEfficiency])),
      int8Accuracy: quality.every((q) => q.accuracyDropPoints / 100 <= TARGETS.int8AccuracyDrop),
      int8Size: quality.every((q) => q.sizeRatio >= TARGETS.int8SizeRatio),
    },
  };
  await mkdir(join(import.meta.dirname, "results"), { recursive: true });
  await writeFile(OUT, JSON.stringify(rounded(result), null, 2) + "\n");
  log(`\nwrote ${OUT}`);
}

function pr(e: { precision?: number; recall?: number }): { precision?: number; recall?: number } {
  return e.precision !== undefined ? { precision: e.precision, recall: e.recall! } : {};
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:train failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});


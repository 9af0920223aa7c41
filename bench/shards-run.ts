// One configuration of `npm run bench:shards`, in a process of its own (so its peak RSS is its
// own): `tsx bench/shards-run.ts '<json RunSpec>'`. Trains the same MLP with the same batch and
// seed from a shard set (in-process through the ShardCache, or as the coordinator of a cluster of
// `meridian worker`s), or from the same set's rows loaded into memory (the in-memory path:
// LocalGradients), and prints one JSON line (RunResult) on stdout.
import { readFile } from "node:fs/promises";
import { pathToFileURL } from "node:url";
import { ClusterGradients } from "../trainer/cluster/coordinator";
import type { Dataset, Split } from "../trainer/data/types";
import type { CacheStats } from "../trainer/shards/cache";
import { PartitionedOrder } from "../trainer/shards/partitions";
import { ShardSet } from "../trainer/shards/reader";
import { openSource } from "../trainer/shards/store";
import { mlp } from "../trainer/train/arch";
import { selectBackend } from "../trainer/train/backend";
import { silentEvents, type StepEvent } from "../trainer/train/events";
import type { GradientSource, TimedGradient } from "../trainer/train/loop";
import { LocalGradients, runIdFor, train, type TrainConfig } from "../trainer/train/loop";
import type { StepPlan } from "../trainer/train/plan";
import { ShardGradients, ShardTrainingData, shardSetFingerprint } from "../trainer/train/shard-data";

export type RunSpec = {
  kind: "memory" | "shards" | "cluster";
  /** Shard set directory. */
  set: string;
  batch: number;
  hidden: number;
  seed: number;
  blockShards: number;
  cacheBytes: number;
  /** Steps run in total (warm-up included) … */
  steps: number;
  /** … of which the first `warmup` are not measured. */
  warmup: number;
  /** Gradient jobs per step (cluster: one per worker); with `partitions`, one per partition. */
  shards?: number;
  /** Epochs of the run (default: unbounded, `steps` ends it; a bound stops prefetch at the run's end). */
  epochs?: number;
  /** Deal each epoch's shards into this many partitions (train --partitions). */
  partitions?: number;
  /** Cluster: Redis and key prefix of the workers. */
  redisUrl?: string;
  prefix?: string;
  backend?: string;
};

export type CacheSnapshot = CacheStats;

export type RunResult = {
  spec: RunSpec;
  trainRows: number;
  trainBytes: number;
  stepsPerEpoch: number;
  /** Loading the set (memory: reading every train and test shard into arrays). */
  loadMs: number;
  measured: { steps: number; rows: number; seconds: number; rowsPerSec: number; cpuMsPerKRows: number };
  /** Per measured step (ms): wall between step ends, and (in-process) the batch gather and gradient. */
  stepMs: number[];
  gatherMs: number[];
  computeMs: number[];
  /** In-process shard runs: the train-shard cache's counters at the end of each epoch (cumulative). */
  cacheAtEpochEnd: CacheSnapshot[];
  cache: CacheSnapshot | null;
  accuracy: number;
  /** Peak resident set of this process: VmHWM from /proc/self/status. */
  peakRssBytes: number;
};

export async function peakRss(pid: number | "self"): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = /^VmHWM:\s+(\d+) kB/m.exec(status)?.[1];
  if (kb === undefined) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return Number(kb) * 1024;
}

/** Every row of a split, in order, in one array pair (the in-memory path's data). */
async function loadSplit(set: ShardSet, split: "train" | "test"): Promise<Split> {
  const rows = set.manifest.rows[split];
  const F = set.features;
  const x = new Float32Array(rows * F);
  const y = new Int32Array(rows);
  for await (const b of set.blocks(split)) {
    x.set(b.x, b.entry.firstRow * F);
    y.set(b.y, b.entry.firstRow);
  }
  return { x, y, rows };
}

/** Keeps each step's gather/compute times (the slowest shard's). */
class Recorder implements GradientSource {
  readonly gatherMs: number[] = [];
  readonly computeMs: number[] = [];
  constructor(private readonly inner: GradientSource) {}
  get kind(): string {
    return this.inner.kind;
  }
  async compute(params: Float32Array, plan: StepPlan, next?: StepPlan): Promise<TimedGradient[]> {
    const parts = await this.inner.compute(params, plan, next);
    this.gatherMs.push(Math.max(...parts.map((p) => p.gatherMs ?? NaN)));
    this.computeMs.push(Math.max(...parts.map((p) => p.computeMs ?? NaN)));
    return parts;
  }
  close(): Promise<void> {
    return this.inner.close?.() ?? Promise.resolve();
  }
}

async function run(spec: RunSpec): Promise<RunResult> {
  await selectBackend(spec.backend ?? "auto");
  const source = await openSource(spec.set);
  try {
    const set = await ShardSet.open(source);
    const t0 = performance.now();
    const data = new ShardTrainingData(set, { blockShards: spec.blockShards, cacheBytes: spec.cacheBytes, ...(spec.partitions ? { partitions: spec.partitions } : {}) });
    const arch = mlp([set.features, spec.hidden, set.manifest.schema.labels.length]);
    const cfg: TrainConfig = {
      arch,
      epochs: spec.epochs ?? 1_000_000,
      batchSize: spec.batch,
      optimizer: { kind: "adam", lr: 0.001 },
      seed: spec.seed,
      shards: spec.partitions ?? spec.shards ?? 1,
      maxSteps: spec.steps,
      checkpointEvery: 0,
      evalEachEpoch: false,
    };
    let memory: Dataset | undefined;
    let inner: GradientSource;
    if (spec.kind === "memory") {
      const m = set.manifest;
      memory = { name: m.name, source: m.source.description, splitNote: "the shard set's split", features: set.features, labels: m.schema.labels, train: await loadSplit(set, "train"), test: await loadSplit(set, "test") };
      inner = new LocalGradients(arch, memory.train);
    } else if (spec.kind === "shards") {
      inner = new ShardGradients(arch, data);
    } else {
      inner = await ClusterGradients.open({
        redisUrl: spec.redisUrl!,
        prefix: spec.prefix!,
        runId: `bench-shards-${runIdFor(cfg, data.fingerprint())}-${Math.random().toString(36).slice(2, 8)}`,
        arch,
        features: set.features,
        shardSet: { location: source.location, fingerprint: shardSetFingerprint(set), ahead: (step, shard) => data.shardsAhead(step, shard), ...(spec.partitions ? { partitions: spec.partitions } : {}) },
        dataFingerprint: data.fingerprint(),
        leaseMs: 2000,
      });
    }
    const loadMs = performance.now() - t0;
    const gradients = new Recorder(inner);
    const ends: number[] = [];
    /** Process CPU time (all threads: the thread pool's reads and hashes too) at each step's end. */
    const cpu: number[] = [];
    const steps: StepEvent[] = [];
    const cacheAtEpochEnd: CacheSnapshot[] = [];
    // A partitioned epoch is whole batches only (shards/partitions.ts); else the last may be short.
    const partitioned = spec.partitions ? new PartitionedOrder({ rows: set.shards("train").map((e) => e.rows), seed: spec.seed, batchSize: spec.batch, blockShards: spec.blockShards, partitions: spec.partitions }) : null;
    const stepsPerEpoch = partitioned?.stepsPerEpoch ?? Math.ceil(set.manifest.rows.train / spec.batch);
    const events = { ...silentEvents, step: (e: StepEvent) => {
        ends.push(performance.now());
        const u = process.cpuUsage();
        cpu.push((u.user + u.system) / 1000);
        steps.push(e);
      },
    };
    let result;
    try {
      result = await train({
        cfg,
        data: memory ?? data,
        gradients,
        events,
        fresh: true,
        afterStep: (step) => {
          if (spec.kind === "shards" && step % stepsPerEpoch === 0) cacheAtEpochEnd.push({ ...data.cache.stats });
        },
      });
    } finally {
      await gradients.close();
    }
    const w = spec.warmup;
    let rows = 0;
    for (let s = w; s < steps.length; s++) {
      // Batches are full except an epoch's last (index is 1-based within the epoch).
      rows += steps[s]!.index === stepsPerEpoch && !partitioned ? set.manifest.rows.train - (stepsPerEpoch - 1) * spec.batch : spec.batch;
    }
    const seconds = (ends[ends.length - 1]! - ends[w - 1]!) / 1000;
    return {
      spec,
      trainRows: set.manifest.rows.train,
      trainBytes: set.shards("train").reduce((a, e) => a + e.bytes, 0),
      stepsPerEpoch,
      loadMs,
      measured: { steps: steps.length - w, rows, seconds, rowsPerSec: rows / seconds, cpuMsPerKRows: ((cpu[cpu.length - 1]! - cpu[w - 1]!) / rows) * 1000 },
      stepMs: ends.slice(w).map((t, i) => t - ends[w - 1 + i]!),
      gatherMs: gradients.gatherMs.slice(w),
      computeMs: gradients.computeMs.slice(w),
      cacheAtEpochEnd,
      cache: spec.kind === "shards" ? { ...data.cache.stats } : null,
      accuracy: result.test.accuracy,
      peakRssBytes: await peakRss("self"),
    };
  } finally {
    source.close();
  }
}

// Run only as a script (bench/shards.ts imports peakRss and the types).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  run(JSON.parse(process.argv[2]!) as RunSpec).then(
    (r) => {
      process.stdout.write(`${JSON.stringify(r)}\n`);
      process.exit(0);
    },
    (err: unknown) => {
      process.stderr.write(`shards-run failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}

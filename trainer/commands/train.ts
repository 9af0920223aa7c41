// `meridian train`: load data → choose backend → train (in-process, or --cluster through BullMQ)
// → export fp32 + int8 ONNX with manifests → write them to --out.
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { MODEL_NAME } from "../../shared/manifest";
import type { Int8Format } from "../../shared/onnx/mlp";
import type { ClusterGradients } from "../cluster/coordinator";
import type { PartitionedOrder } from "../shards/partitions";
import { UsageError } from "../errors";
import type { ExportResult } from "../export/export";
import type { BackendInfo } from "../train/backend";
import { ARCH_HELP, ArchError, describeArch, parseArch, type Arch } from "../train/arch";
import { parseBackendChoice } from "../train/backend-choice";
import type { CheckpointStore } from "../train/checkpoint";
import { GRADIENT_ENCODINGS, type GradientEncoding } from "../train/gradient-encoding";
import type { GradientSource, TrainConfig, TrainResult } from "../train/loop";
import { REDUCE_MODES, type ReduceMode } from "../train/reduce-mode";
import { OPTIMIZERS, type OptimizerKind } from "../train/optimizer";
import type { TrainEvents } from "../train/events";
import { formatAccuracy } from "../train/interval";
import { intervalMetrics, type Evaluation } from "../train/metrics";
import { HumanEvents, JsonEvents } from "../train/progress";
import { openTrainInput, type TrainInput } from "./train-input";

// TensorFlow.js, BullMQ and onnxruntime load only once the options are known to be good, so
// `--help` and flag mistakes answer at once.
const heavy = async () => {
  const [coordinator, protocol, redis, exporter, backend, checkpoint, loop, shardData, models] = await Promise.all([
    import("../cluster/coordinator"),
    import("../cluster/protocol"),
    import("../cluster/redis"),
    import("../export/export"),
    import("../train/backend"),
    import("../train/checkpoint"),
    import("../train/loop"),
    import("../train/shard-data"),
    import("../train/models"),
  ]);
  return { modelFor: models.modelFor, ...coordinator, keysFor: protocol.keysFor, ...redis, ...exporter, ...backend, ...checkpoint, ...loop, shardSetFingerprint: shardData.shardSetFingerprint };
};

export type TrainCommandOptions = {
  /** Exactly one of dataset (loaded into memory) and shardSet (streamed). */
  dataset?: string;
  shardSet?: string;
  /** Shard sets: shards shuffled together, and the shard cache's byte budget. */
  blockShards: number;
  /**
   * Shard sets: deal each epoch's shards into this many partitions (shards/partitions.ts), one
   * gradient job per partition per step; in a cluster each worker keeps to its partitions' shards.
   */
  partitions?: number;
  cacheBytes?: number;
  s3Endpoint?: string;
  s3Region?: string;
  out: string;
  epochs: number;
  batchSize: number;
  lr: number;
  optimizer: OptimizerKind;
  hidden?: number[];
  /** `--arch`: mlp (default), mlp:<hidden,…>, cnn, cnn:<filters,…>[/<dense,…>] (train/arch.ts parseArch). */
  arch?: string;
  seed: number;
  splitSeed: number;
  testFraction: number;
  limit?: number;
  maxSteps?: number;
  dimensions?: number;
  /** JSONL examples joined to feature views: the views file (as push --features) and one export per view. */
  features?: string;
  featureValues?: string[];
  backend: string;
  json: boolean;
  cluster: boolean;
  redisUrl?: string;
  prefix: string;
  shards?: number;
  waitWorkersMs: number;
  backupMinMs: number;
  backupFactor: number;
  /** --cluster: the coordinator lease's time to live (default 5000 ms). */
  leaseMs?: number;
  /** --cluster: how workers send gradients (fp32 exact, the default; bf16 half the bytes). */
  gradients: GradientEncoding;
  /** --cluster: who averages the gradient (hub: the coordinator; replicated: the workers, which keep replicas). */
  reduce?: ReduceMode;
  /** --reduce replicated: the reduce nodes slices spread over (comma-separated redis:// URLs; env REDUCE_REDIS_URLS). */
  reduceRedis?: string;
  checkpointEvery: number;
  checkpointDir?: string;
  fresh: boolean;
  name?: string;
  version: number;
  int8Format: Int8Format | "auto";
  push: boolean;
  promote: boolean;
};

export type TrainCommandResult = {
  backend: BackendInfo;
  data: TrainInput;
  config: TrainConfig;
  result: TrainResult;
  exported: ExportResult;
  files: string[];
};

export const TRAIN_DEFAULTS = {
  epochs: 5,
  batchSize: 64,
  lr: 0.001,
  optimizer: "adam" as OptimizerKind,
  seed: 1,
  splitSeed: 1,
  testFraction: 0.2,
  prefix: "meridian",
  waitWorkersMs: 30_000,
  backupMinMs: 2000,
  backupFactor: 4,
  gradients: "fp32" as GradientEncoding,
  checkpointEvery: 50,
  blockShards: 4,
  version: 1,
  int8Format: "auto" as const,
};

function validate(o: TrainCommandOptions): void {
  if ((o.dataset === undefined) === (o.shardSet === undefined)) throw new UsageError("pass exactly one of --dataset <spec> and --shard-set <location>");
  if (o.shardSet !== undefined) {
    if (o.shardSet.trim() === "") throw new UsageError("--shard-set is empty (expected a directory, http(s):// URL or s3://<bucket>/<prefix>)");
    // The rows, split and features of a shard set were fixed by `meridian shard`.
    if (o.limit !== undefined) throw new UsageError("--limit does not apply to --shard-set (pass it to `meridian shard`)");
    if (o.dimensions !== undefined) throw new UsageError("--dimensions does not apply to --shard-set (pass it to `meridian shard`)");
  }
  if ((o.features === undefined) !== (o.featureValues === undefined)) {
    throw new UsageError("--features (the views) and --feature-values (their exports: meridian features export) go together");
  }
  if (o.features !== undefined && !o.dataset?.startsWith("jsonl:")) {
    throw new UsageError("--feature-values joins examples of a JSONL dataset (--dataset jsonl:<path>, each line with an entity_id)");
  }
  if (!(Number.isInteger(o.blockShards) && o.blockShards >= 1)) throw new UsageError(`--block-shards must be a positive integer (got ${o.blockShards})`);
  if (o.partitions !== undefined) {
    if (o.shardSet === undefined) throw new UsageError("--partitions applies to --shard-set (rows in memory have no shards to partition)");
    if (!(Number.isInteger(o.partitions) && o.partitions >= 1)) throw new UsageError(`--partitions must be a positive integer (got ${o.partitions})`);
    if (o.shards !== undefined && o.shards !== o.partitions) throw new UsageError(`--partitions ${o.partitions} makes ${o.partitions} gradient jobs per step (one per partition); drop --shards ${o.shards}`);
  }
  if (o.cacheBytes !== undefined && !(Number.isSafeInteger(o.cacheBytes) && o.cacheBytes >= 1)) throw new UsageError(`--cache must be a positive size (got ${o.cacheBytes})`);
  const positiveInt = (v: number | undefined, flag: string): void => {
    if (v !== undefined && !(Number.isInteger(v) && v >= 1)) throw new UsageError(`${flag} must be a positive integer (got ${v})`);
  };
  positiveInt(o.epochs, "--epochs");
  positiveInt(o.batchSize, "--batch-size");
  positiveInt(o.maxSteps, "--max-steps");
  positiveInt(o.shards, "--shards");
  positiveInt(o.version, "--version");
  positiveInt(o.dimensions, "--dimensions");
  if (!(o.lr > 0 && Number.isFinite(o.lr))) throw new UsageError(`--lr must be a positive number (got ${o.lr})`);
  if (!(OPTIMIZERS as readonly string[]).includes(o.optimizer)) {
    throw new UsageError(`--optimizer must be one of ${OPTIMIZERS.join(", ")} (got ${o.optimizer})`);
  }
  if (!(Number.isInteger(o.checkpointEvery) && o.checkpointEvery >= 0)) {
    throw new UsageError(`--checkpoint-every must be an integer >= 0 (got ${o.checkpointEvery})`);
  }
  if (o.hidden?.some((h) => !(Number.isInteger(h) && h >= 1))) throw new UsageError(`--hidden must list positive integers`);
  if (o.arch !== undefined && !/^(mlp|cnn)(:.*)?$/.test(o.arch.trim())) throw new UsageError(`unknown --arch "${o.arch}" (expected ${ARCH_HELP})`);
  if (o.hidden !== undefined && o.arch !== undefined && o.arch.trim() !== "mlp") throw new UsageError(`--hidden applies to --arch mlp only (got --arch ${o.arch}; say mlp:<sizes> or cnn:<filters>/<dense>)`);
  if (o.name !== undefined && !MODEL_NAME.test(o.name)) throw new UsageError(`--name must match ${MODEL_NAME}`);
  if (!["auto", "qlinear", "dynamic"].includes(o.int8Format)) throw new UsageError(`--int8-format must be auto, qlinear or dynamic`);
  const gradients = o.gradients ?? "fp32";
  if (!(GRADIENT_ENCODINGS as readonly string[]).includes(gradients)) {
    throw new UsageError(`--gradients must be one of ${GRADIENT_ENCODINGS.join(", ")} (got ${gradients})`);
  }
  if (gradients !== "fp32" && !o.cluster) throw new UsageError(`--gradients ${gradients} applies to --cluster (in-process gradients never travel)`);
  const reduce = o.reduce ?? "hub";
  if (!(REDUCE_MODES as readonly string[]).includes(reduce)) throw new UsageError(`--reduce must be one of ${REDUCE_MODES.join(", ")} (got ${reduce})`);
  if (reduce !== "hub" && !o.cluster) throw new UsageError(`--reduce ${reduce} applies to --cluster`);
  if (o.reduceRedis !== undefined && reduce !== "replicated") throw new UsageError("--reduce-redis applies to --reduce replicated");
  parseBackendChoice(o.backend); // unknown backend → a clear error before any work
}

/**
 * What a standby coordinator needs to run this cluster run again: the options with local paths
 * made absolute and the shard count fixed (it is part of the run id), without anything that
 * publishes or names this process's Redis URL.
 */
export function runSpec(o: TrainCommandOptions, shards: number): TrainCommandOptions {
  const abs = (spec: string): string => {
    const m = /^(csv|jsonl):(.*)$/.exec(spec);
    return m ? `${m[1]}:${resolve(m[2]!)}` : spec;
  };
  const spec: TrainCommandOptions = { ...o, out: resolve(o.out), shards, fresh: false, push: false, promote: false };
  delete spec.redisUrl;
  if (o.dataset !== undefined) spec.dataset = abs(o.dataset);
  if (o.shardSet !== undefined && !/^[a-z][a-z0-9+.-]*:\/\//i.test(o.shardSet)) spec.shardSet = resolve(o.shardSet);
  if (o.checkpointDir !== undefined) spec.checkpointDir = resolve(o.checkpointDir);
  // Credentials stay out of Redis: a standby brings its own URLs.
  for (const k of ["url", "token", "key", "rollout", "reduceRedis"]) delete (spec as Record<string, unknown>)[k];
  return spec;
}

export type TrainHooks = {
  /** Once the data is open and the model's name known, before any training step (publishing's checks). */
  beforeTraining?(name: string): Promise<void>;
};

export async function runTrainCommand(o: TrainCommandOptions, events?: TrainEvents, hooks: TrainHooks = {}): Promise<TrainCommandResult> {
  validate(o);
  const ev = events ?? (o.json ? new JsonEvents() : new HumanEvents());
  const redisUrl = (o.redisUrl ?? process.env.REDIS_URL)?.trim() || undefined;
  if (o.cluster && !redisUrl) {
    throw new UsageError("--cluster needs a Redis: set REDIS_URL (or pass --redis-url); without --cluster, training runs in-process");
  }

  const {
    ClusterGradients,
    waitForWorkers,
    buildExport,
    writeExport,
    describeBackend,
    selectBackend,
    FileCheckpointStore,
    RedisCheckpointStore,
    runIdFor,
    splitFingerprint,
    shardSetFingerprint,
    train,
    probeRedis,
    reduceRedisUrls,
    keysFor,
    modelFor,
  } = await heavy();
  if (o.cluster) await probeRedis(redisUrl!); // Redis down: say so before loading anything
  const reduceRedis = o.cluster ? reduceRedisUrls(o.reduceRedis) : [];
  for (const u of reduceRedis) await probeRedis(u);
  const backend = await selectBackend(o.backend);
  ev.info(describeBackend(backend), { backend: backend.name, detail: backend.detail, skipped: backend.skipped });

  const t0 = performance.now();
  const data = await openTrainInput(o);
  ev.info(`data: ${data.source}; ${data.trainRows} train / ${data.testRows} held-out rows (${Math.round(performance.now() - t0)} ms)`, {
    source: data.source,
    train: data.trainRows,
    test: data.testRows,
  });
  ev.info(`split: ${data.splitNote}`, { split: data.splitNote });
  try {
    await hooks.beforeTraining?.(o.name ?? data.name);
  } catch (err) {
    data.close();
    throw err;
  }

  const hidden = o.hidden ?? [data.text ? 64 : 128];
  let arch: Arch;
  try {
    arch = parseArch(o.arch ?? "mlp", { features: data.features, classes: data.labels.length, ...(data.shape ? { shape: data.shape } : {}) }, hidden);
  } catch (err) {
    data.close();
    throw err instanceof ArchError ? new UsageError(err.message) : err;
  }
  const int8Formats = modelFor(arch).int8Formats;
  if (o.int8Format !== "auto" && !int8Formats.includes(o.int8Format)) {
    data.close();
    throw new UsageError(`int8 format ${o.int8Format} is not available for a ${arch.kind} (available: ${int8Formats.join(", ")})`);
  }
  ev.info(`model: ${describeArch(arch)}`, { arch });
  if (data.shards && o.partitions !== undefined) {
    // The epoch rule's cost, said before training: it is large when shards are large for the set.
    // The order train() will plan with (the same call), built here so a bad fit is a usage error.
    let order: PartitionedOrder;
    try {
      data.shards.planner(o.batchSize, o.seed, o.partitions, o.epochs);
      order = data.shards.orderFor(0) as PartitionedOrder;
    } catch (err) {
      data.close();
      throw new UsageError(err instanceof Error ? err.message : String(err));
    }
    const dropped = 1 - order.rowsPerEpoch / data.trainRows;
    ev.info(
      `partitions: ${o.partitions}; an epoch is ${order.stepsPerEpoch} steps on ${order.rowsPerEpoch} of ${data.trainRows} train rows (${(dropped * 100).toFixed(1)}% left out each epoch, different rows each time; smaller shards leave out less)`,
      { partitions: o.partitions, stepsPerEpoch: order.stepsPerEpoch, rowsPerEpoch: order.rowsPerEpoch },
    );
  }

  let gradients: GradientSource;
  let checkpoints: CheckpointStore | undefined;
  let cluster: ClusterGradients | undefined;
  let specKey: string | undefined;
  let shards = o.partitions ?? o.shards ?? 1;
  const cfgBase = {
    arch,
    epochs: o.epochs,
    batchSize: o.batchSize,
    optimizer: { kind: o.optimizer, lr: o.lr },
    seed: o.seed,
    checkpointEvery: o.checkpointEvery,
    evalEachEpoch: true,
    gradients: o.gradients ?? "fp32",
    reduce: o.reduce ?? "hub",
    ...(o.maxSteps !== undefined ? { maxSteps: o.maxSteps } : {}),
  };
  try {
    if (o.cluster) {
      // Rows in memory are uploaded to Redis once; a shard set is read by each worker through its own cache.
      const { dataset, shards: shardSet } = data;
      const fingerprint = shardSet ? shardSet.fingerprint() : splitFingerprint(dataset!.train, dataset!.features);
      // One gradient shard per connected worker unless --shards (or --partitions) says otherwise.
      const workers = await waitForWorkers({ redisUrl: redisUrl!, prefix: o.prefix, timeoutMs: o.waitWorkersMs, log: (m) => ev.info(m) });
      shards = o.partitions ?? o.shards ?? workers;
      const why = o.partitions !== undefined ? " (one per partition)" : o.shards ? "" : " (one per worker; pass --shards to fix it)";
      ev.info(`cluster: ${workers} worker${workers === 1 ? "" : "s"} connected; ${shards} gradient shard${shards === 1 ? "" : "s"} per step${why}`, {
        workers,
        shards,
      });
      const runId = runIdFor({ ...cfgBase, shards }, fingerprint);
      cluster = await ClusterGradients.open({
        redisUrl: redisUrl!,
        prefix: o.prefix,
        runId,
        arch,
        features: data.features,
        ...(shardSet
          ? {
              shardSet: {
                location: shardSet.set.source.location,
                fingerprint: shardSetFingerprint(shardSet.set),
                ahead: (step: number, shard: number) => shardSet.shardsAhead(step, shard),
                ...(o.partitions !== undefined ? { partitions: o.partitions } : {}),
              },
            }
          : { train: dataset!.train }),
        dataFingerprint: fingerprint,
        backupMinMs: o.backupMinMs,
        backupFactor: o.backupFactor,
        ...(o.leaseMs !== undefined ? { leaseMs: o.leaseMs } : {}),
        gradients: cfgBase.gradients,
        reduce: cfgBase.reduce,
        optimizer: cfgBase.optimizer,
        reduceRedis,
        log: (m, d) => ev.info(m, d),
      });
      gradients = cluster;
      // A shard set's held-out split is scored by the workers too (one job per held-out shard).
      if (shardSet) {
        const c = cluster;
        const heldOutShards = shardSet.set.shards("test").length;
        shardSet.heldOutEvaluator = (arch, params) => c.evaluateHeldOut(arch, params, heldOutShards, shardSet.positive);
      }
      checkpoints = o.checkpointDir ? new FileCheckpointStore(resolve(o.checkpointDir), cluster.fileFence) : new RedisCheckpointStore(cluster.connection, o.prefix, undefined, cluster.fencedWrites);
      // The run's spec, so `meridian coordinator --standby` can take over without this command line.
      specKey = keysFor(o.prefix).spec(runId);
      await cluster.fencedWrites.set(specKey, Buffer.from(JSON.stringify(runSpec(o, shards))), 7 * 24 * 3600);
      await cluster.connection.sadd(keysFor(o.prefix).runs, runId);
    } else {
      gradients = data.localGradients(arch);
      if (o.checkpointEvery > 0) checkpoints = new FileCheckpointStore(resolve(o.checkpointDir ?? join(o.out, "checkpoints")));
    }

    const config: TrainConfig = { ...cfgBase, shards };
    const result = await train({ cfg: config, data: data.train, gradients, events: ev, ...(checkpoints ? { checkpoints } : {}), fresh: o.fresh });
    if (cluster && specKey) {
      // Trained: nothing left for a standby to take over (export runs from result.params).
      await cluster.fencedWrites.del(specKey);
      await cluster.connection.srem(keysFor(o.prefix).runs, result.runId);
    }

    const exported = await buildExport({
      arch,
      params: result.params,
      data: data.exportData,
      name: o.name ?? data.name,
      version: o.version,
      int8Format: o.int8Format,
      extraMetrics: {
        train_accuracy: result.epochs[result.epochs.length - 1]?.trainAccuracy ?? 0,
        train_rows: data.trainRows,
        steps: result.steps,
      },
    });
    // Each manifest carries its own accuracy's interval (export's metricsOf does not know it yet).
    for (const m of [exported.fp32, exported.int8]) m.manifest.metrics = { ...m.manifest.metrics, ...intervalMetrics(m.evaluation) };
    const out = resolve(o.out);
    const files = await writeExport(out, exported);
    const report = {
      dataset: {
        spec: o.dataset ?? o.shardSet,
        source: data.source,
        split: data.splitNote,
        train: data.trainRows,
        test: data.testRows,
        labels: data.labels,
        ...(data.standardization ? { standardization: data.standardization } : {}),
      },
      backend: { name: backend.name, detail: backend.detail },
      mode: gradients.kind,
      config,
      runId: result.runId,
      resumedFrom: result.resumedFrom,
      epochs: result.epochs,
      timing: result.timing,
      heldOut: { tfjs: result.test, fp32: exported.fp32.evaluation, int8: exported.int8.evaluation },
      export: {
        runtime: exported.runtime,
        parity: exported.parity,
        fp32Bytes: exported.fp32.bytes.length,
        int8Bytes: exported.int8.bytes.length,
        int8Format: exported.int8.format,
        int8Tried: exported.int8Tried,
        sizeRatio: exported.sizeRatio,
        accuracyDrop: exported.accuracyDrop,
        targets: exported.targets,
      },
      ...(cluster ? { cluster: cluster.stats } : {}),
      ...(data.shards ? { shardCache: { budgetBytes: data.shards.cache.budgetBytes, ...data.shards.cache.stats } } : {}),
    };
    await mkdir(out, { recursive: true });
    await writeFile(join(out, "training.json"), JSON.stringify(report, null, 2) + "\n");
    files.push(join(out, "training.json"));

    ev.info(
      `export (${exported.runtime}): fp32 ONNX matches TF.js on ${exported.parity.rows} rows (max |Δp| ${exported.parity.maxAbsDiff.toExponential(1)})`,
      { parity: exported.parity },
    );
    const acc = (e: Evaluation): string => formatAccuracy(e.accuracy, e.accuracyInterval, e.rows);
    ev.info(
      `held-out: fp32 accuracy ${acc(exported.fp32.evaluation)} (${exported.fp32.bytes.length} B); int8 ${exported.int8.format} accuracy ${acc(exported.int8.evaluation)} (${exported.int8.bytes.length} B, ${exported.sizeRatio.toFixed(2)}x smaller, ${(exported.accuracyDrop * 100).toFixed(2)} points)`,
      { fp32: exported.fp32.evaluation, int8: exported.int8.evaluation, sizeRatio: exported.sizeRatio },
    );
    if (!exported.targets.int8Accuracy || !exported.targets.int8Size) {
      ev.info(
        `warning: int8 misses a target (${!exported.targets.int8Accuracy ? "accuracy drop > 0.5 points" : ""}${!exported.targets.int8Accuracy && !exported.targets.int8Size ? ", " : ""}${!exported.targets.int8Size ? "less than 3.5x smaller" : ""})`,
      );
    }
    ev.info(`wrote ${files.join(", ")}`, { files });
    return { backend, data, config, result, exported, files };
  } finally {
    await cluster?.close();
    data.close();
  }
}

// The training loop: synchronous data-parallel SGD, one code path for every mode.
//   for each step: plan the batch (seeded) → gradients for each shard (GradientSource: locally,
//   or jobs on BullMQ workers) → average them weighted by rows → apply (Adam/SGD) → checkpoint.
// In-process and cluster runs differ only in the GradientSource they pass in.
import { createHash } from "node:crypto";
import type { Dataset, Split } from "../data/types";
import { roundToBf16 } from "../../shared/bf16";
import type { Checkpoint, CheckpointStore } from "./checkpoint";
import type { GradientEncoding } from "./gradient-encoding";
import type { ReduceMode } from "./reduce-mode";
import { evaluateAsync, type Evaluation } from "./evaluate";
import { archClasses, archInputs, describeArch, type Arch } from "./arch";
import { averageGradients, gatherRows, type ShardGradient } from "./model";
import { modelFor, type ArchModel } from "./models";
import { applyGradients, createOptimizerState, type OptimizerConfig, type OptimizerState } from "./optimizer";
import { BatchPlanner, type Planner, type StepPlan } from "./plan";
import type { EpochStats, TrainEvents } from "./events";

export type TrainConfig = {
  /** The architecture (arch.ts); its module fixes the flat parameter layout. */
  arch: Arch;
  epochs: number;
  batchSize: number;
  optimizer: OptimizerConfig;
  seed: number;
  /** Gradient jobs per step. */
  shards: number;
  /** Stop after this many steps in total (tests, benchmarks). */
  maxSteps?: number;
  /** Save a checkpoint every N steps (0: never). */
  checkpointEvery: number;
  /** Evaluate on the held-out split at the end of each epoch (the final evaluation always runs). */
  evalEachEpoch: boolean;
  /** How shard gradients travel (default fp32, exact); must match the GradientSource's encoding. */
  gradients?: GradientEncoding;
  /**
   * Who averages: the coordinator (hub, default) or the workers' replicas (replicated). It changes
   * the math only with bf16 gradients: the replicas' reduced gradient travels in bf16 too, so the
   * average is rounded once more (done here for every source, so in-process is the reference).
   */
  reduce?: ReduceMode;
};

/** What a run's state is at a step boundary: a checkpoint's content. */
export type RunState = { step: number; params: Float32Array; opt: OptimizerState };

/**
 * A shard's gradient, and where it was computed how long gathering its batch rows and computing
 * the gradient took (timed the same way in-process and in workers, so the two compare).
 */
export type TimedGradient = ShardGradient & { computeMs?: number; gatherMs?: number; worker?: string };

/**
 * Where gradients come from. compute() returns one result per shard, in shard order; `next` is
 * the following step's plan (if any), which a source may prepare while this step computes.
 */
export interface GradientSource {
  readonly kind: string;
  /** The precision gradients arrive in (absent: fp32, exact). */
  readonly encoding?: GradientEncoding;
  compute(params: Float32Array, plan: StepPlan, next?: StepPlan): Promise<TimedGradient[]>;
  /** Told the run's state before the first step and every `syncEvery` steps (replicated sources publish it). */
  sync?(state: RunState): Promise<void>;
  readonly syncEvery?: number | undefined;
  close?(): Promise<void>;
}

/** Does the run round the averaged gradient to bf16 (replicas exchange it in bf16)? */
const roundsAverage = (cfg: TrainConfig): boolean => cfg.reduce === "replicated" && cfg.gradients === "bf16";

/** Labels of the given rows. */
export function gatherLabels(y: Int32Array, rows: ArrayLike<number>): Int32Array {
  return Int32Array.from({ length: rows.length }, (_, r) => y[rows[r]!]!);
}

/**
 * In-process gradients: each shard computed here, one after another. With encoding "bf16" each
 * shard's gradient is rounded to bfloat16 as a worker would send it (the reference for cluster
 * bf16 runs: same bits).
 */
export class LocalGradients implements GradientSource {
  readonly kind = "in-process";
  /** The batch buffer, reused every step (computeGradient keeps no reference to it). */
  private batch = new Float32Array(0);
  private readonly model: ArchModel;
  constructor(
    arch: Arch,
    private readonly train: Split,
    readonly encoding: GradientEncoding = "fp32",
  ) {
    this.model = modelFor(arch);
  }
  async compute(params: Float32Array, plan: StepPlan): Promise<TimedGradient[]> {
    const cols = this.model.inputs;
    return plan.shards.map((rows) => {
      const t0 = performance.now();
      if (this.batch.length < rows.length * cols) this.batch = new Float32Array(rows.length * cols);
      const x = gatherRows(this.train.x, cols, rows, this.batch);
      const y = gatherLabels(this.train.y, rows);
      const t1 = performance.now();
      const g = this.model.computeGradient(params, x, y);
      const computeMs = performance.now() - t1;
      if (this.encoding === "bf16") roundToBf16(g.grads);
      return { ...g, gatherMs: t1 - t0, computeMs };
    });
  }
}

/**
 * What train() needs of its data: shape, the batch order and held-out scoring. A Dataset in memory
 * is one (inMemoryData); a streamed shard set (train/shard-data.ts) is another.
 */
export interface TrainData {
  readonly features: number;
  readonly labels: readonly string[];
  readonly trainRows: number;
  /** Names the training data (and its order) in run ids. */
  fingerprint(): string;
  /** `epochs`: how many the run has (a streamed order prefetches no further). */
  planner(batchSize: number, seed: number, shards: number, epochs: number): Planner;
  /** Scores the model on the whole held-out split. */
  evaluate(arch: Arch, params: Float32Array): Promise<Evaluation>;
}

export function inMemoryData(data: Dataset): TrainData {
  return {
    features: data.features,
    labels: data.labels,
    trainRows: data.train.rows,
    fingerprint: () => splitFingerprint(data.train, data.features),
    planner: (batchSize, seed, shards) => new BatchPlanner(data.train.rows, batchSize, seed, shards),
    evaluate: (arch, params) => evaluateAsync(arch, params, data.test, data.positive),
  };
}

const isTrainData = (d: Dataset | TrainData): d is TrainData => "trainRows" in d;

/** Content hash of a split (rows, features and labels): names the data in run ids and Redis keys. */
export function splitFingerprint(split: Split, features: number): string {
  const h = createHash("sha256");
  h.update(`${split.rows}x${features}\n`);
  h.update(Buffer.from(split.x.buffer, split.x.byteOffset, split.x.byteLength));
  h.update(Buffer.from(split.y.buffer, split.y.byteOffset, split.y.byteLength));
  return h.digest("hex");
}

/**
 * A run's identity: what decides its trajectory — data, architecture, optimizer, seed, batch.
 * Left out: epochs and max steps (they only decide where it stops, so a longer run can resume a
 * shorter one's checkpoint) and the shard count (it changes only float rounding, so a cluster
 * restarted with fewer workers still resumes). Runs are bit-identical for the same seed AND
 * shard count. The gradient encoding is in it unless fp32 (so fp32 ids are those from before it
 * existed, and their checkpoints still resume): bf16 gradients change the trajectory. So does
 * reduce "replicated" with bf16 (the average is rounded too); with fp32 it is the same math as the hub.
 */
export function runIdFor(cfg: TrainConfig, dataFingerprint: string): string {
  const key = JSON.stringify({
    data: dataFingerprint,
    // An MLP is named by its sizes as before architectures existed (its run ids, and so its
    // checkpoints, are unchanged); other architectures by the whole Arch.
    ...(cfg.arch.kind === "mlp" ? { sizes: cfg.arch.sizes } : { arch: cfg.arch }),
    optimizer: cfg.optimizer,
    seed: cfg.seed,
    batch: cfg.batchSize,
    ...(cfg.gradients && cfg.gradients !== "fp32" ? { gradients: cfg.gradients } : {}),
    ...(roundsAverage(cfg) ? { reduce: cfg.reduce } : {}),
  });
  return createHash("sha256").update(key).digest("hex").slice(0, 16);
}


export type TrainResult = {
  runId: string;
  params: Float32Array;
  opt: OptimizerState;
  /** Steps completed in total (including those before a resume). */
  steps: number;
  resumedFrom: number | null;
  epochs: EpochStats[];
  test: Evaluation;
  timing: {
    /** Steps run in this process and their mean wall time. */
    stepsRun: number;
    stepMs: number;
    /** Mean per-step compute time reported by the gradient source (slowest shard), if known. */
    computeMs: number | null;
    /** Mean time to average the shard gradients and apply the optimizer step. */
    applyMs: number;
    seconds: number;
  };
};

export type TrainOptions = {
  cfg: TrainConfig;
  data: Dataset | TrainData;
  gradients: GradientSource;
  events: TrainEvents;
  checkpoints?: CheckpointStore;
  /** Defaults to runIdFor(cfg, fingerprint of the training split). */
  runId?: string;
  /** Ignore an existing checkpoint and start from step 0. */
  fresh?: boolean;
  /** Called after each applied step (tests use it to interrupt a run). */
  afterStep?: (step: number, params: Float32Array) => void | Promise<void>;
};

export function totalSteps(cfg: TrainConfig, stepsPerEpoch: number): number {
  const all = cfg.epochs * stepsPerEpoch;
  return cfg.maxSteps !== undefined ? Math.min(all, cfg.maxSteps) : all;
}

export async function train(o: TrainOptions): Promise<TrainResult> {
  const { cfg, gradients, events } = o;
  const data = isTrainData(o.data) ? o.data : inMemoryData(o.data);
  if (archInputs(cfg.arch) !== data.features) throw new Error(`model (${describeArch(cfg.arch)}) takes ${archInputs(cfg.arch)} inputs, the data has ${data.features}`);
  if (archClasses(cfg.arch) !== data.labels.length) {
    throw new Error(`model (${describeArch(cfg.arch)}) has ${archClasses(cfg.arch)} outputs, the data has ${data.labels.length} classes`);
  }
  const encoding = cfg.gradients ?? "fp32";
  if ((gradients.encoding ?? "fp32") !== encoding) {
    throw new Error(`the run is configured for ${encoding} gradients but its gradient source (${gradients.kind}) delivers ${gradients.encoding ?? "fp32"}`);
  }
  const runId = o.runId ?? runIdFor(cfg, data.fingerprint());
  const planner = data.planner(cfg.batchSize, cfg.seed, cfg.shards, cfg.epochs);
  // From the planner: a partitioned order's epoch is not ceil(rows / batch) steps.
  const total = totalSteps(cfg, planner.stepsPerEpoch);

  let params: Float32Array;
  let opt: OptimizerState;
  let step = 0;
  let resumedFrom: number | null = null;
  let startStep = 0;
  const ckpt: Checkpoint | null = o.checkpoints && !o.fresh ? await o.checkpoints.load(runId) : null;
  if (ckpt && (ckpt.gradients ?? "fp32") !== encoding) {
    throw new Error(`checkpoint of run ${runId} was trained with ${ckpt.gradients ?? "fp32"} gradients, this run uses ${encoding} (pass --fresh to start over)`);
  }
  if (ckpt) {
    params = ckpt.params;
    opt = ckpt.opt;
    step = ckpt.step;
    startStep = step;
    resumedFrom = ckpt.step;
  } else {
    params = modelFor(cfg.arch).init(cfg.seed);
    opt = createOptimizerState(cfg.optimizer, params.length);
  }
  events.runStart({
    runId,
    mode: gradients.kind,
    totalSteps: total,
    stepsPerEpoch: planner.stepsPerEpoch,
    epochs: cfg.epochs,
    startStep: step,
    resumedFrom,
    shards: cfg.shards,
    gradients: encoding,
    checkpoints: o.checkpoints && cfg.checkpointEvery > 0 ? `every ${cfg.checkpointEvery} steps to ${o.checkpoints.where}` : null,
  });

  const epochs: EpochStats[] = [];
  let ep = { epoch: -1, steps: 0, loss: 0, correct: 0, n: 0, t0: 0 };
  let stepsRun = 0;
  let stepMsSum = 0;
  let computeMsSum = 0;
  let computeKnown = true;
  let applyMsSum = 0;
  const t0 = performance.now();

  const finishEpoch = async (final: boolean): Promise<void> => {
    if (ep.steps === 0) return;
    const seconds = (performance.now() - ep.t0) / 1000;
    const stats: EpochStats = {
      epoch: ep.epoch,
      steps: ep.steps,
      trainLoss: ep.loss / ep.n,
      trainAccuracy: ep.correct / ep.n,
      seconds,
      stepsPerSec: ep.steps / seconds,
    };
    if (cfg.evalEachEpoch && !final) stats.test = await data.evaluate(cfg.arch, params);
    epochs.push(stats);
    events.epochEnd(stats);
  };

  /** The averaged gradient's array, reused every step (a step's parts are done with when it ends). */
  let averaged: Float32Array | undefined;
  for (; step < total; step++) {
    const plan = planner.plan(step);
    if (plan.epoch !== ep.epoch) {
      await finishEpoch(false);
      ep = { epoch: plan.epoch, steps: 0, loss: 0, correct: 0, n: 0, t0: performance.now() };
      const stepsThisEpoch = Math.min(planner.stepsPerEpoch, total - plan.epoch * planner.stepsPerEpoch);
      events.epochStart({ epoch: plan.epoch, epochs: Math.ceil(total / planner.stepsPerEpoch), steps: stepsThisEpoch, startAt: plan.index });
    }
    if (gradients.sync && (step === startStep || (gradients.syncEvery && step % gradients.syncEvery === 0))) {
      await gradients.sync({ step, params, opt });
    }
    const s0 = performance.now();
    const parts = await gradients.compute(params, plan, step + 1 < total ? planner.plan(step + 1) : undefined);
    const a0 = performance.now();
    const g = averageGradients(parts, (averaged ??= new Float32Array(params.length)));
    if (roundsAverage(cfg)) roundToBf16(g.grads);
    applyGradients(cfg.optimizer, params, g.grads, opt);
    const now = performance.now();
    const ms = now - s0;
    const applyMs = now - a0;
    stepsRun++;
    stepMsSum += ms;
    applyMsSum += applyMs;
    const slowest = Math.max(...parts.map((p) => p.computeMs ?? NaN));
    if (Number.isFinite(slowest)) computeMsSum += slowest;
    else computeKnown = false;
    ep.steps++;
    ep.loss += g.loss * g.n;
    ep.correct += g.correct;
    ep.n += g.n;
    events.step({
      step: step + 1,
      epoch: plan.epoch,
      index: plan.index + 1,
      loss: g.loss,
      accuracy: g.correct / g.n,
      rows: g.n,
      ms,
      computeMs: Number.isFinite(slowest) ? slowest : null,
      applyMs,
      stepsPerSec: ep.steps / ((performance.now() - ep.t0) / 1000),
    });
    if (o.checkpoints && cfg.checkpointEvery > 0 && (step + 1) % cfg.checkpointEvery === 0 && step + 1 < total) {
      await o.checkpoints.save({ runId, step: step + 1, params, opt, savedAt: new Date().toISOString(), gradients: encoding });
      events.checkpoint({ step: step + 1, where: o.checkpoints.where });
    }
    await o.afterStep?.(step + 1, params);
  }
  await finishEpoch(true);
  const test = await data.evaluate(cfg.arch, params);
  const last = epochs[epochs.length - 1];
  if (last) last.test = test;
  events.evaluation(test);
  // A finished run leaves no checkpoint behind: running the same command again starts afresh.
  await o.checkpoints?.clear(runId);
  return {
    runId,
    params,
    opt,
    steps: total,
    resumedFrom,
    epochs,
    test,
    timing: {
      stepsRun,
      stepMs: stepsRun ? stepMsSum / stepsRun : 0,
      computeMs: stepsRun && computeKnown ? computeMsSum / stepsRun : null,
      applyMs: stepsRun ? applyMsSum / stepsRun : 0,
      seconds: (performance.now() - t0) / 1000,
    },
  };
}

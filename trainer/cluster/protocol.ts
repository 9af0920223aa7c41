// What coordinator and workers agree on: Redis key names, the gradient job's data, and the
// binary records that carry weights and gradients. Weights, gradients and the training set travel
// as raw little-endian float32/int32 bytes in Redis keys with expiry; job data only names them.
// With a shard set (train --shard-set) the job names the set instead and workers read its shards.
//
// One step s, shard k:
//   coordinator  RPUSH w:s <weights>              (a one-element list: a broadcast readers peek at)
//   worker       picks job (s,k) — usually a step early — loads the data set (cached), checks
//                claim:s:k, then BLMOVE w:s w:s (blocking peek: returns the weights once published)
//   worker       computes, then one pipeline: RPUSH done:s <record+gradient>, SET claim:s:k NX
//   coordinator  BLPOP done:s until every shard has a record (the barrier); the first record per
//                shard wins, later ones (backup tasks, retried stalled jobs) are dropped. A worker
//                that finds the claim set before computing skips the work.
// Gradients: float32 (the exact reference), or with `gradients: "bf16"` in the job, bfloat16 rounded
// to nearest even (half the bytes); the record names its encoding and the coordinator refuses a
// record whose encoding is not the run's (a worker from before bf16, say).
// With `--reduce replicated` no weights are published after the session's snapshot and done
// records carry no gradient: workers exchange gradient slices among themselves (allreduce.ts).
// Partitioned runs (`--partitions P`): shard k of a step is partition k's sub-batch, and its job
// goes to partition k's own queue (partitionQueue), which only the worker holding k's slot takes.
// Fencing: each job carries the coordinator's epoch (lease.epoch, lease.epochKey); a worker drops a
// job whose epoch is older than the run's current one (coordinator.ts has the scripts).
// (Pushing 1 MB through a Lua script to make claim-and-push atomic cost ~3 ms against ~1.3 ms for
// the plain pipeline; the coordinator's first-wins rule is what keeps results correct anyway.)
import { z } from "zod";
import { bf16ToF32 } from "../../shared/bf16";
import { ArchSchema, mlp, type Arch } from "../train/arch";
import { GRADIENT_BYTES, GRADIENT_ENCODINGS } from "../train/gradient-encoding";
import { OPTIMIZERS } from "../train/optimizer";

export const GRAD_QUEUE = "grad";

export type Keys = ReturnType<typeof keysFor>;

/** Key layout under a prefix ("meridian" by default; "{meridian}" on Redis Cluster). */
export function keysFor(prefix: string) {
  const run = (runId: string, session: string) => `${prefix}:run:${runId}:${session}`;
  return {
    /** A coordinator session's run key (replicated runs keep their reduction under it). */
    session: run,
    data: (fingerprint: string) => ({
      x: `${prefix}:data:${fingerprint}:x`,
      y: `${prefix}:data:${fingerprint}:y`,
      meta: `${prefix}:data:${fingerprint}:meta`,
    }),
    /** A list holding one element: the step's weights (or CANCELLED). */
    weights: (runId: string, session: string, step: number) => `${run(runId, session)}:w:${step}`,
    /** Set (NX) by the first worker to deliver (step, shard). */
    claim: (runId: string, session: string, step: number, shard: number) => `${run(runId, session)}:c:${step}:${shard}`,
    /** The step's barrier: one record (with its gradient) per delivered shard. */
    done: (runId: string, session: string, step: number) => `${run(runId, session)}:done:${step}`,
    /** Holds "<epoch>:<session>" of the coordinator holding the run (PX leaseMs, renewed by it). */
    lease: (runId: string) => `${prefix}:run:${runId}:lease`,
    /** The run's fencing token: INCR by each coordinator that takes the lease; never expires early. */
    epoch: (runId: string) => `${prefix}:run:${runId}:epoch`,
    checkpoint: (runId: string) => `${prefix}:ckpt:${runId}`,
    /** A cluster run's `train` options (JSON), for `meridian coordinator --standby`; gone once the run finished. */
    spec: (runId: string) => `${prefix}:run:${runId}:spec`,
    /** Set of run ids that stored a spec. */
    runs: `${prefix}:runs`,
    /** A partitioned run's partition count, set (with expiry) while its coordinator lives. */
    partitions: (runId: string) => `${prefix}:run:${runId}:partitions`,
    /** Set of partitioned run ids: where workers look for partition slots to hold. */
    partitioned: `${prefix}:partitioned`,
    /** The id of the worker holding partition p's slot (PX: its lease, renewed by it). */
    slot: (runId: string, p: number) => `${prefix}:run:${runId}:slot:${p}`,
    /** Workers that hold or may claim partition slots, by the time (ms) of their last tick. */
    slotWorkers: `${prefix}:slot-workers`,
  };
}

/**
 * BullMQ queue of partition p's gradient jobs in a partitioned run (`train --partitions`): only
 * the worker holding p's slot consumes it (slots.ts), so partition p's shards are read by one
 * worker. (BullMQ queue names may not contain ":".)
 */
export const partitionQueue = (runId: string, p: number): string => `${GRAD_QUEUE}-${runId}-p${p}`;

/** Pushed into a weights list when a pre-issued step will never come (run ended or failed). */
export const CANCELLED = Buffer.from("CANCELLED");

export const GradJobSchema = z.object({
  v: z.literal(2),
  runId: z.string(),
  step: z.number().int().min(0),
  shard: z.number().int().min(0),
  /** 0 for the original task, k for the k-th backup. */
  attempt: z.number().int().min(0),
  /** The architecture (jobs from before architectures carry only `sizes`, an MLP's). */
  arch: ArchSchema.optional(),
  /** An MLP's sizes; coordinators still send it for MLPs so workers from before `arch` keep working. */
  sizes: z.array(z.number().int().positive()).min(2).optional(),
  weightsKey: z.string(),
  claimKey: z.string(),
  doneKey: z.string(),
  /**
   * Where the rows are: Redis keys the coordinator uploaded, or a shard set (directory, http(s)://,
   * s3://) each worker reads through its own cache; then nothing of the data passes through Redis.
   * A shard set's `ahead`: train shards the steps from this one read, in order of need (the
   * current block, then the next; in a partitioned run the job's partition's only): the worker
   * prefetches what fits its cache.
   */
  data: z.union([z.object({ x: z.string(), y: z.string(), meta: z.string() }), z.object({ shardSet: z.string(), fingerprint: z.string(), ahead: z.array(z.number().int().min(0)).optional() })]),
  /** Train-row indices of this shard (for a shard set: a train shard's firstRow + the row in it). */
  rows: z.array(z.number().int().min(0)).min(1),
  /** How long to wait for the weights to be published before giving up on the step. */
  waitMs: z.number().int().positive(),
  /**
   * The coordinator's lease: a worker stops waiting for weights once it is gone or changed hands.
   * `session` is the lease key's whole value ("<epoch>:<session>"); `epoch`/`epochKey` (absent
   * in jobs from before fencing) let a worker drop a job whose epoch is older than the run's.
   */
  lease: z.object({ key: z.string(), session: z.string(), epoch: z.number().int().min(0).optional(), epochKey: z.string().optional() }),
  ttlSeconds: z.number().int().positive(),
  /** How the worker encodes the gradient it pushes (absent in jobs from before bf16: fp32). */
  gradients: z.enum(GRADIENT_ENCODINGS).default("fp32"),
  /**
   * `--reduce replicated` (allreduce.ts): the worker keeps a replica, computes with it instead of
   * waiting for weights, delivers its gradient in slices and helps reduce. Absent: the hub.
   */
  replica: z
    .object({
      /** The session's run key: reduction keys and the snapshot live under it. */
      base: z.string(),
      /** Slices of this step (= its shards). */
      slices: z.number().int().positive(),
      optimizer: z.object({
        kind: z.enum(OPTIMIZERS),
        lr: z.number().positive(),
        beta1: z.number().optional(),
        beta2: z.number().optional(),
        epsilon: z.number().optional(),
      }),
      /** Step of the session's latest snapshot: a replica behind it starts over from the snapshot. */
      snapshotStep: z.number().int().min(0),
      /** Send the replica's checksum when the step is a multiple of this (0: never). */
      checksumEvery: z.number().int().min(0),
      /** Reducer slot lease. */
      claimMs: z.number().int().positive(),
      /**
       * Slices on dedicated reduce nodes (`--reduce-redis`): how many, and their fingerprint
       * (reduceNodesFingerprint: no credentials), which must match the worker's own list.
       * Absent: the run's Redis.
       */
      nodes: z.object({ count: z.number().int().positive(), fingerprint: z.string() }).optional(),
    })
    .optional(),
}).refine((j) => j.arch !== undefined || j.sizes !== undefined, { message: "a gradient job needs arch (or an MLP's sizes)" });
export type GradJob = z.infer<typeof GradJobSchema>;

/** The BullMQ job name of held-out evaluation jobs (gradient jobs are "gradient"). */
export const EVAL_JOB = "evaluate";

/**
 * Held-out evaluation of a shard set, one job per held-out shard: the worker reads the weights
 * (a plain key), scores the shard with the TF.js model and pushes its sums to `resultKey`.
 */
export const EvalJobSchema = z.object({
  v: z.literal(2),
  runId: z.string(),
  arch: ArchSchema,
  weightsKey: z.string(),
  data: z.object({ shardSet: z.string(), fingerprint: z.string() }),
  /** Index into the set's held-out shards. */
  shard: z.number().int().min(0),
  positive: z.number().int().min(0).optional(),
  resultKey: z.string(),
  ttlSeconds: z.number().int().positive(),
});
export type EvalJob = z.infer<typeof EvalJobSchema>;

export const EvalResultSchema = z.object({
  shard: z.number().int().min(0),
  worker: z.string(),
  counts: z.object({ n: z.number(), correct: z.number(), tp: z.number(), fp: z.number(), fn: z.number(), loss: z.number() }).optional(),
  error: z.string().optional(),
});
export type EvalResult = z.infer<typeof EvalResultSchema>;

/** The job's architecture: `arch`, or an MLP from `sizes` (jobs from before architectures). */
export function jobArch(j: Pick<GradJob, "arch" | "sizes">): Arch {
  if (j.arch) return j.arch;
  if (j.sizes) return mlp(j.sizes);
  throw new Error("a gradient job needs arch (or an MLP's sizes)");
}

export const DoneSchema = z.object({
  shard: z.number().int().min(0),
  attempt: z.number().int().min(0),
  worker: z.string(),
  /** Absent when the worker failed; then `error` says why. */
  loss: z.number().optional(),
  correct: z.number().int().optional(),
  n: z.number().int().optional(),
  /** Worker-side timings (ms): the gradient alone; gathering the batch rows (done before the weights arrive); */
  computeMs: z.number().optional(),
  gatherMs: z.number().optional(),
  /** … and how long the worker then blocked waiting for the step's weights. */
  waitedMs: z.number().optional(),
  error: z.string().optional(),
  /** Encoding of the gradient that follows the header (absent: fp32, a worker from before bf16). */
  encoding: z.enum(GRADIENT_ENCODINGS).optional(),
  /** Replicated runs: the checksum of the worker's replica before this step (every checksumEvery steps). */
  replica: z.object({ step: z.number().int().min(0), checksum: z.string() }).optional(),
  /** Replicated runs: time this job spent reducing slices for earlier steps, and how many. */
  reduceMs: z.number().optional(),
  slicesReduced: z.number().int().optional(),
});
export type Done = z.infer<typeof DoneSchema>;

export const DataMetaSchema = z.object({ rows: z.number().int().positive(), features: z.number().int().positive() });

/**
 * A done record: u32 JSON length | JSON | zero padding to 4 | gradient (none on error): float32
 * values, or bfloat16 bit patterns when `rec.encoding` is "bf16".
 */
export function encodeDone(rec: Done, grads?: Float32Array | Uint16Array): Buffer {
  if (grads && (grads instanceof Uint16Array) !== (rec.encoding === "bf16")) {
    throw new Error(`encodeDone: a ${grads instanceof Uint16Array ? "bf16" : "fp32"} payload under encoding ${rec.encoding ?? "fp32"}`);
  }
  const json = Buffer.from(JSON.stringify(rec));
  const head = 4 + json.length;
  const pad = (4 - (head % 4)) % 4;
  // Not zero-filled (a megabyte per step): every byte is written below.
  const out = Buffer.allocUnsafe(head + pad + (grads ? grads.byteLength : 0));
  out.writeUInt32LE(json.length, 0);
  json.copy(out, 4);
  out.fill(0, head, head + pad);
  if (grads) Buffer.from(grads.buffer, grads.byteOffset, grads.byteLength).copy(out, head + pad);
  return out;
}

/**
 * Decodes a done record; a bf16 gradient comes back as float32 (exact: every bfloat16 is a float32).
 * `into` may give, per record, a Float32Array to decode the gradient into (used when it has exactly
 * the record's value count): the coordinator reuses one per shard instead of allocating per step.
 * An aligned fp32 payload without `into` is a view of `b`, not a copy.
 */
export function decodeDone(b: Buffer, into?: (rec: Done) => Float32Array | undefined): { rec: Done; grads: Float32Array | null; payloadBytes: number } {
  if (b.length < 4) throw new Error("truncated done record");
  const len = b.readUInt32LE(0);
  const rec = DoneSchema.parse(JSON.parse(b.toString("utf8", 4, 4 + len)));
  const start = 4 + len + ((4 - ((4 + len) % 4)) % 4);
  if (start >= b.length) return { rec, grads: null, payloadBytes: 0 };
  const payloadBytes = b.length - start;
  const width = GRADIENT_BYTES[rec.encoding ?? "fp32"];
  if (payloadBytes % width !== 0) throw new Error(`done record: ${payloadBytes} gradient bytes is not a whole number of ${rec.encoding ?? "fp32"} values`);
  const count = payloadBytes / width;
  const at = b.byteOffset + start;
  const given = into?.(rec);
  const out = given && given.length === count ? given : undefined;
  if (width === 2) {
    const src = at % 2 === 0 ? new Uint16Array(b.buffer, at, count) : new Uint16Array(b.buffer.slice(at, at + payloadBytes));
    return { rec, grads: bf16ToF32(src, out), payloadBytes };
  }
  const src = at % 4 === 0 ? new Float32Array(b.buffer, at, count) : new Float32Array(b.buffer.slice(at, at + payloadBytes));
  if (!out) return { rec, grads: src, payloadBytes };
  out.set(src);
  return { rec, grads: out, payloadBytes };
}

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
// (Pushing 1 MB through a Lua script to make claim-and-push atomic cost ~3 ms against ~1.3 ms for
// the plain pipeline; the coordinator's first-wins rule is what keeps results correct anyway.)
import { z } from "zod";

export const GRAD_QUEUE = "grad";

export type Keys = ReturnType<typeof keysFor>;

/** Key layout under a prefix ("meridian" by default; "{meridian}" on Redis Cluster). */
export function keysFor(prefix: string) {
  const run = (runId: string, session: string) => `${prefix}:run:${runId}:${session}`;
  return {
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
    lease: (runId: string) => `${prefix}:run:${runId}:lease`,
    checkpoint: (runId: string) => `${prefix}:ckpt:${runId}`,
  };
}

/** Pushed into a weights list when a pre-issued step will never come (run ended or failed). */
export const CANCELLED = Buffer.from("CANCELLED");

export const GradJobSchema = z.object({
  v: z.literal(2),
  runId: z.string(),
  step: z.number().int().min(0),
  shard: z.number().int().min(0),
  /** 0 for the original task, k for the k-th backup. */
  attempt: z.number().int().min(0),
  sizes: z.array(z.number().int().positive()).min(2),
  weightsKey: z.string(),
  claimKey: z.string(),
  doneKey: z.string(),
  /**
   * Where the rows are: Redis keys the coordinator uploaded, or a shard set (directory, http(s)://,
   * s3://) each worker reads through its own cache; then nothing of the data passes through Redis.
   */
  data: z.union([z.object({ x: z.string(), y: z.string(), meta: z.string() }), z.object({ shardSet: z.string(), fingerprint: z.string() })]),
  /** Train-row indices of this shard (for a shard set: a train shard's firstRow + the row in it). */
  rows: z.array(z.number().int().min(0)).min(1),
  /** How long to wait for the weights to be published before giving up on the step. */
  waitMs: z.number().int().positive(),
  /** The coordinator's lease: a worker stops waiting for weights once it is gone or changed hands. */
  lease: z.object({ key: z.string(), session: z.string() }),
  ttlSeconds: z.number().int().positive(),
});
export type GradJob = z.infer<typeof GradJobSchema>;

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
});
export type Done = z.infer<typeof DoneSchema>;

export const DataMetaSchema = z.object({ rows: z.number().int().positive(), features: z.number().int().positive() });

/** A done record: u32 JSON length | JSON | zero padding to 4 | float32 gradient (none on error). */
export function encodeDone(rec: Done, grads?: Float32Array): Buffer {
  const json = Buffer.from(JSON.stringify(rec));
  const head = 4 + json.length;
  const pad = (4 - (head % 4)) % 4;
  const out = Buffer.alloc(head + pad + (grads ? grads.byteLength : 0));
  out.writeUInt32LE(json.length, 0);
  json.copy(out, 4);
  if (grads) Buffer.from(grads.buffer, grads.byteOffset, grads.byteLength).copy(out, head + pad);
  return out;
}

export function decodeDone(b: Buffer): { rec: Done; grads: Float32Array | null } {
  if (b.length < 4) throw new Error("truncated done record");
  const len = b.readUInt32LE(0);
  const rec = DoneSchema.parse(JSON.parse(b.toString("utf8", 4, 4 + len)));
  const start = 4 + len + ((4 - ((4 + len) % 4)) % 4);
  if (start >= b.length) return { rec, grads: null };
  const bytes = b.buffer.slice(b.byteOffset + start, b.byteOffset + b.length);
  return { rec, grads: new Float32Array(bytes) };
}


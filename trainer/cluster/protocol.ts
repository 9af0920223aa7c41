// What coordinator and workers agree on: Redis key names, the gradient job's data, and the
// "done" record a worker appends when its gradient is stored. Weights, gradients and the data
// set travel as raw little-endian float32/int32 bytes in Redis keys with expiry; job data only
// names those keys.
import { z } from "zod";

export const GRAD_QUEUE = "grad";

export type Keys = ReturnType<typeof keysFor>;

/** Key layout under a prefix ("meridian" by default; "{meridian}" on Redis Cluster). */
export function keysFor(prefix: string) {
  return {
    data: (fingerprint: string) => ({
      x: `${prefix}:data:${fingerprint}:x`,
      y: `${prefix}:data:${fingerprint}:y`,
      meta: `${prefix}:data:${fingerprint}:meta`,
    }),
    weights: (runId: string, session: string, step: number) => `${prefix}:run:${runId}:${session}:w:${step}`,
    grad: (runId: string, session: string, step: number, shard: number) => `${prefix}:run:${runId}:${session}:g:${step}:${shard}`,
    done: (runId: string, session: string, step: number) => `${prefix}:run:${runId}:${session}:done:${step}`,
    lease: (runId: string) => `${prefix}:run:${runId}:lease`,
    checkpoint: (runId: string) => `${prefix}:ckpt:${runId}`,
  };
}

export const GradJobSchema = z.object({
  v: z.literal(1),
  runId: z.string(),
  step: z.number().int().min(0),
  shard: z.number().int().min(0),
  /** 0 for the original task, k for the k-th backup. */
  attempt: z.number().int().min(0),
  sizes: z.array(z.number().int().positive()).min(2),
  weightsKey: z.string(),
  data: z.object({ x: z.string(), y: z.string(), meta: z.string() }),
  /** Train-row indices of this shard. */
  rows: z.array(z.number().int().min(0)).min(1),
  gradKey: z.string(),
  doneKey: z.string(),
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
  computeMs: z.number().optional(),
  error: z.string().optional(),
});
export type Done = z.infer<typeof DoneSchema>;

export const DataMetaSchema = z.object({ rows: z.number().int().positive(), features: z.number().int().positive() });

/**
 * Stores a gradient and announces it, atomically and only once per (step, shard): the first
 * result wins, a late duplicate (backup task or retried stalled job) changes nothing.
 * KEYS: grad, done. ARGV: bytes, done record, ttl seconds. Returns 1 if stored, 0 if late.
 */
export const STORE_GRADIENT_LUA = `
if redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3], 'NX') then
  redis.call('RPUSH', KEYS[2], ARGV[2])
  redis.call('EXPIRE', KEYS[2], ARGV[3])
  return 1
end
return 0`;

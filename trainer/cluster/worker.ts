// `meridian worker`: a BullMQ Worker that computes gradient shards. For each job it reads the
// step's weights and (once, then cached) the training set from Redis, runs the same
// computeGradient as the in-process loop, and stores the gradient with STORE_GRADIENT_LUA.
// A killed worker's job is retried elsewhere through BullMQ's stalled-job check (its lock expires
// after lockDuration); the coordinator's backup tasks cover slow workers.
import { hostname } from "node:os";
import { Worker, type Job } from "bullmq";
import type { Redis } from "ioredis";
import { bytesF32, f32Bytes } from "../train/checkpoint";
import { computeGradient, gatherRows } from "../train/model";
import { gatherLabels } from "../train/loop";
import { DataMetaSchema, GRAD_QUEUE, GradJobSchema, STORE_GRADIENT_LUA, type Done, type GradJob } from "./protocol";
import { connectRedis, probeRedis } from "./redis";

export type WorkerOptions = {
  redisUrl: string;
  prefix: string;
  concurrency?: number;
  /** BullMQ lock duration: how long a dead worker's job stays locked before it counts as stalled. */
  lockMs?: number;
  /** How often this worker checks the queue for stalled jobs. */
  stalledMs?: number;
  /** Times a job may stall before BullMQ fails it. */
  maxStalled?: number;
  /** Testing aid: sleep this long before each gradient (a slow machine). */
  slowMs?: number;
  name?: string;
  log?: (event: string, data: Record<string, unknown>) => void;
};

type CachedData = { x: Float32Array; y: Int32Array; features: number };

export type GradientWorker = {
  id: string;
  worker: Worker;
  close(): Promise<void>;
  /** Jobs finished by this worker (won, late or stale). */
  stats: { won: number; late: number; stale: number; failed: number };
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function startGradientWorker(o: WorkerOptions): Promise<GradientWorker> {
  await probeRedis(o.redisUrl);
  const id = o.name ?? `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 6)}`;
  const redis: Redis = connectRedis(o.redisUrl);
  redis.defineCommand("storeGradient", { numberOfKeys: 2, lua: STORE_GRADIENT_LUA });
  const store = (redis as unknown as { storeGradient(g: string, d: string, bytes: Buffer, rec: string, ttl: number): Promise<number> })
    .storeGradient.bind(redis);
  const log = o.log ?? (() => {});
  const cache = new Map<string, CachedData>();
  const stats = { won: 0, late: 0, stale: 0, failed: 0 };

  const dataFor = async (job: GradJob): Promise<CachedData> => {
    const hit = cache.get(job.data.x);
    if (hit) return hit;
    const [x, y, meta] = await Promise.all([redis.getBuffer(job.data.x), redis.getBuffer(job.data.y), redis.get(job.data.meta)]);
    if (!x || !y || !meta) throw new Error(`training data ${job.data.x} is not in Redis (expired, or the coordinator is gone)`);
    const m = DataMetaSchema.parse(JSON.parse(meta));
    const entry: CachedData = { x: bytesF32(x), y: new Int32Array(bytesF32(y).buffer), features: m.features };
    if (entry.x.length !== m.rows * m.features || entry.y.length !== m.rows) throw new Error(`training data ${job.data.x} is truncated`);
    if (cache.size >= 2) cache.delete(cache.keys().next().value!);
    cache.set(job.data.x, entry);
    log("data_loaded", { key: job.data.x, rows: m.rows, features: m.features });
    return entry;
  };

  const processor = async (job: Job): Promise<Record<string, unknown>> => {
    const parsed = GradJobSchema.safeParse(job.data);
    if (!parsed.success) throw new Error(`malformed gradient job ${job.id}: ${parsed.error.issues[0]?.message}`);
    const g = parsed.data;
    const base = { shard: g.shard, attempt: g.attempt, worker: id };
    try {
      // Someone (the original or a backup) already delivered this shard: nothing to do.
      if (await redis.exists(g.gradKey)) {
        stats.late++;
        return { outcome: "late", step: g.step, shard: g.shard };
      }
      const wBytes = await redis.getBuffer(g.weightsKey);
      if (!wBytes) {
        stats.stale++;
        return { outcome: "stale", step: g.step, shard: g.shard }; // the step is over
      }
      const weights = bytesF32(wBytes);
      const data = await dataFor(g);
      if (o.slowMs) await sleep(o.slowMs);
      const t0 = performance.now();
      const x = gatherRows(data.x, data.features, g.rows);
      const grad = computeGradient(g.sizes, weights, x, gatherLabels(data.y, g.rows));
      const computeMs = performance.now() - t0;
      const done: Done = { ...base, loss: grad.loss, correct: grad.correct, n: grad.n, computeMs };
      const stored = await store(g.gradKey, g.doneKey, f32Bytes(grad.grads), JSON.stringify(done), g.ttlSeconds);
      if (stored === 1) stats.won++;
      else stats.late++;
      log("gradient", { step: g.step, shard: g.shard, attempt: g.attempt, ms: Math.round(computeMs * 10) / 10, won: stored === 1 });
      return { outcome: stored === 1 ? "won" : "late", step: g.step, shard: g.shard, computeMs };
    } catch (err) {
      stats.failed++;
      const message = err instanceof Error ? err.message : String(err);
      // Tell the coordinator now instead of letting it wait for a deadline.
      const rec: Done = { ...base, error: message };
      await redis.multi().rpush(g.doneKey, JSON.stringify(rec)).expire(g.doneKey, g.ttlSeconds).exec().catch(() => {});
      log("error", { step: g.step, shard: g.shard, message });
      throw err;
    }
  };

  const worker = new Worker(GRAD_QUEUE, processor, {
    connection: { url: o.redisUrl },
    prefix: o.prefix,
    concurrency: o.concurrency ?? 1,
    lockDuration: o.lockMs ?? 30_000,
    stalledInterval: o.stalledMs ?? 30_000,
    maxStalledCount: o.maxStalled ?? 3,
    name: id,
    removeOnComplete: { count: 100 },
    removeOnFail: { count: 1000 },
  });
  worker.on("error", (err) => log("worker_error", { message: err.message }));
  worker.on("stalled", (jobId) => log("stalled", { jobId }));
  await worker.waitUntilReady();
  return {
    id,
    worker,
    stats,
    async close() {
      await worker.close();
      redis.disconnect();
    },
  };
}

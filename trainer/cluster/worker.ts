// `meridian worker`: a BullMQ Worker that computes gradient shards. A job usually arrives a step
// before its weights: the worker loads the training set (once, then cached), then blocks on the
// step's weights list (BLMOVE w w: a peek that waits until the coordinator publishes), runs the
// same computeGradient as the in-process loop, and pushes its record with the gradient to the
// step's done list (protocol.ts) — float32, or bfloat16 (round to nearest even) when the job says
// `gradients: "bf16"`.
// A killed worker's job is retried elsewhere through BullMQ's stalled-job check (its lock expires
// after lockDuration); the coordinator's backup tasks cover slow workers.
import { hostname } from "node:os";
import { f32ToBf16 } from "../../shared/bf16";
import { Queue, WaitingError, Worker, type Job } from "bullmq";
import type { Redis } from "ioredis";
import { ShardCache } from "../shards/cache";
import { ShardSet } from "../shards/reader";
import { openSource, type S3Options, type ShardSource } from "../shards/store";
import { bytesF32 } from "../train/checkpoint";
import { gatherRows } from "../train/model";
import { modelFor } from "../train/models";
import { gatherLabels } from "../train/loop";
import { gatherShardRows, shardSetFingerprint } from "../train/shard-data";
import { CANCELLED, DataMetaSchema, GRAD_QUEUE, GradJobSchema, encodeDone, jobArch, type GradJob } from "./protocol";
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
  /** Shard-set jobs: byte budget of this worker's shard cache (default: 9 of the set's largest shards). */
  cacheBytes?: number;
  s3?: S3Options;
  name?: string;
  log?: (event: string, data: Record<string, unknown>) => void;
};

/** A job's rows, gathered into a batch: from the Redis copy of the training set or from a shard set. */
type CachedData = { features: number; gather(rows: number[], buffer: Float32Array): Promise<{ x: Float32Array; y: Int32Array }> };

export type GradientWorker = {
  id: string;
  worker: Worker;
  close(): Promise<void>;
  /** Jobs this worker finished: delivered first, late (someone else won), stale (step over), failed. */
  stats: { won: number; late: number; stale: number; failed: number; yielded: number };
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function startGradientWorker(o: WorkerOptions): Promise<GradientWorker> {
  await probeRedis(o.redisUrl);
  const id = o.name ?? `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 6)}`;
  const concurrency = o.concurrency ?? 1;
  // Batch buffers, one per job in progress, reused across steps (computeGradient keeps no reference).
  const batches: Float32Array[] = [];
  const redis: Redis = connectRedis(o.redisUrl);
  /** Delivers a record; true if this worker was the first to claim the shard. */
  const store = async (g: GradJob, record: Buffer): Promise<boolean> => {
    const res = await redis
      .pipeline()
      .rpush(g.doneKey, record)
      .expire(g.doneKey, g.ttlSeconds)
      .set(g.claimKey, "1", "EX", g.ttlSeconds, "NX")
      .exec();
    const err = res?.find(([e]) => e)?.[0];
    if (err) throw err;
    return res?.[2]?.[1] === "OK";
  };
  // A blocking BLMOVE holds its connection: one per job slot.
  const idle: Redis[] = Array.from({ length: concurrency }, () => connectRedis(o.redisUrl));
  const all = [redis, ...idle];
  const log = o.log ?? (() => {});
  const cache = new Map<string, Promise<CachedData>>();
  const stats = { won: 0, late: 0, stale: 0, failed: 0, yielded: 0 };

  const sources: ShardSource[] = [];
  const fromRedis = async (keys: { x: string; y: string; meta: string }): Promise<CachedData> => {
    const [xb, yb, meta] = await Promise.all([redis.getBuffer(keys.x), redis.getBuffer(keys.y), redis.get(keys.meta)]);
    if (!xb || !yb || !meta) throw new Error(`training data ${keys.x} is not in Redis (expired, or the coordinator is gone)`);
    const m = DataMetaSchema.parse(JSON.parse(meta));
    const x = bytesF32(xb);
    const y = new Int32Array(bytesF32(yb).buffer);
    if (x.length !== m.rows * m.features || y.length !== m.rows) throw new Error(`training data ${keys.x} is truncated`);
    log("data_loaded", { key: keys.x, rows: m.rows, features: m.features });
    return { features: m.features, gather: async (rows, buffer) => ({ x: gatherRows(x, m.features, rows, buffer), y: gatherLabels(y, rows) }) };
  };
  // A shard set: only its manifest up front; shards are read (and verified) as jobs need them.
  const fromShards = async (spec: { shardSet: string; fingerprint: string }): Promise<CachedData> => {
    const source = await openSource(spec.shardSet, o.s3 ? { s3: o.s3 } : {});
    sources.push(source);
    const set = await ShardSet.open(source);
    if (shardSetFingerprint(set) !== spec.fingerprint) throw new Error(`the shard set at ${spec.shardSet} is not the one the coordinator trains on (its train shards differ)`);
    const entries = set.shards("train");
    const largest = Math.max(...entries.map((e) => e.bytes));
    const shardCache = new ShardCache(set, entries, o.cacheBytes ?? 9 * largest);
    log("data_loaded", { shardSet: source.location, rows: set.manifest.rows.train, features: set.features, cacheBytes: shardCache.budgetBytes });
    return { features: set.features, gather: (rows, buffer) => gatherShardRows(shardCache, entries, set.features, Int32Array.from(rows), buffer) };
  };
  const dataFor = (job: GradJob): Promise<CachedData> => {
    const d = job.data;
    const key = "x" in d ? d.x : `${d.shardSet}#${d.fingerprint}`;
    let hit = cache.get(key);
    if (!hit) {
      hit = "x" in d ? fromRedis(d) : fromShards(d);
      hit.catch(() => cache.delete(key));
      if (cache.size >= 2) cache.delete(cache.keys().next().value!);
      cache.set(key, hit);
    }
    return hit;
  };

  // Used to look for more urgent jobs while holding one whose weights are not published yet.
  const queue = new Queue(GRAD_QUEUE, { connection: { url: o.redisUrl }, prefix: o.prefix });

  /**
   * Blocking peek at the step's weights, in short slices. Between slices: give up if the
   * coordinator is gone (its lease changed hands or expired), and hand the job back to the queue
   * if a job of an earlier step of the same run is waiting — a retried stalled job or a backup
   * task, which this worker should take instead of sitting on a step that cannot start before
   * that one finishes — or if the weights take longer than waitMs. A job is never dropped while
   * its coordinator is alive.
   */
  /**
   * Fencing: the run's current coordinator epoch is newer than the job's, so the coordinator that
   * issued it lost the run (it was paused or partitioned past its lease): drop the job, with a log line.
   */
  const staleEpoch = async (g: GradJob, current?: string | null): Promise<boolean> => {
    const { epoch, epochKey } = g.lease;
    if (epoch === undefined || epochKey === undefined) return false; // a job from before fencing
    const cur = Number(current === undefined ? await redis.get(epochKey) : current);
    if (!(cur > epoch)) return false;
    log("stale_epoch", { step: g.step, shard: g.shard, epoch, current: cur, message: `dropping job of step ${g.step + 1}, shard ${g.shard}: epoch ${epoch} < current ${cur}` });
    return true;
  };

  const waitForWeights = async (conn: Redis, g: GradJob): Promise<Buffer | "stale" | "yield"> => {
    const until = performance.now() + g.waitMs;
    for (;;) {
      const w = await conn.blmoveBuffer(g.weightsKey, g.weightsKey, "RIGHT", "LEFT", 0.2);
      if (w) return w.equals(CANCELLED) ? "stale" : w;
      const [lease, epoch, waiting] = await Promise.all([
        redis.get(g.lease.key),
        g.lease.epochKey !== undefined ? redis.get(g.lease.epochKey) : Promise.resolve(null),
        queue.getJobs(["prioritized", "wait"], 0, 3, true),
      ]);
      if (await staleEpoch(g, epoch)) return "stale";
      if (lease !== g.lease.session) return "stale";
      if (waiting.some((j) => j?.data?.runId === g.runId && typeof j.data.step === "number" && j.data.step < g.step)) return "yield";
      if (performance.now() >= until) return "yield";
    }
  };

  const processor = async (job: Job, token?: string): Promise<Record<string, unknown>> => {
    const parsed = GradJobSchema.safeParse(job.data);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const message = `malformed gradient job ${job.id}: ${issue?.path.join(".") ?? ""}: ${issue?.message}`;
      stats.failed++;
      // Say so to the coordinator if the job names its done list (a newer coordinator, say, with
      // a gradient encoding this worker does not know), instead of leaving it to a deadline.
      const d = job.data as { doneKey?: unknown; shard?: unknown; attempt?: unknown; ttlSeconds?: unknown } | undefined;
      if (typeof d?.doneKey === "string" && Number.isInteger(d.shard) && (d.shard as number) >= 0 && Number.isInteger(d.attempt) && (d.attempt as number) >= 0) {
        await redis
          .multi()
          .rpush(d.doneKey, encodeDone({ shard: d.shard as number, attempt: d.attempt as number, worker: id, error: message }))
          .expire(d.doneKey, typeof d.ttlSeconds === "number" ? d.ttlSeconds : 600)
          .exec()
          .catch(() => {});
      }
      log("error", { message });
      throw new Error(message);
    }
    const g = parsed.data;
    const base = { shard: g.shard, attempt: g.attempt, worker: id };
    const conn = idle.pop() ?? connectRedis(o.redisUrl);
    let batch: Float32Array | undefined;
    try {
      // Issued by a coordinator that has since lost the run to a newer epoch: nothing to do.
      if (await staleEpoch(g)) {
        stats.stale++;
        return { outcome: "stale_epoch", step: g.step, shard: g.shard };
      }
      // Someone (the original or a backup) already delivered this shard: nothing to do.
      if (await redis.exists(g.claimKey)) {
        stats.late++;
        return { outcome: "late", step: g.step, shard: g.shard };
      }
      const data = await dataFor(g);
      // The batch does not depend on the weights: gather it while they are not published yet
      // (usually during the coordinator's averaging and update of the step before).
      // Timed like LocalGradients (buffer, rows, labels), so in-process and cluster gathers compare.
      const g0 = performance.now();
      let buffer = batches.pop() ?? new Float32Array(0);
      if (buffer.length < g.rows.length * data.features) buffer = new Float32Array(g.rows.length * data.features);
      batch = buffer;
      const { x, y } = await data.gather(g.rows, buffer);
      const w0 = performance.now();
      const gatherMs = w0 - g0;
      const wBytes = await waitForWeights(conn, g);
      const waitedMs = performance.now() - w0;
      if (wBytes === "yield") {
        stats.yielded++;
        log("yield", { step: g.step, shard: g.shard });
        await job.moveToWait(token);
        throw new WaitingError();
      }
      if (wBytes === "stale") {
        stats.stale++;
        return { outcome: "stale", step: g.step, shard: g.shard }; // the step never came, or is over
      }
      const weights = bytesF32(wBytes);
      // The gradient is synchronous and blocks BullMQ's lock renewal timer: start it with a
      // fresh, full lock (the command goes out now; Redis applies it while we compute).
      if (token) void job.extendLock(token, o.lockMs ?? 30_000).catch(() => {});
      if (o.slowMs) await sleep(o.slowMs);
      const t0 = performance.now();
      const grad = modelFor(jobArch(g)).computeGradient(weights, x, y);
      const computeMs = performance.now() - t0;
      const head = { ...base, loss: grad.loss, correct: grad.correct, n: grad.n, computeMs, gatherMs, waitedMs, encoding: g.gradients };
      const record = encodeDone(head, g.gradients === "bf16" ? f32ToBf16(grad.grads) : grad.grads);
      const won = await store(g, record);
      if (won) stats.won++;
      else stats.late++;
      log("gradient", { step: g.step, shard: g.shard, attempt: g.attempt, ms: Math.round(computeMs * 10) / 10, won });
      return { outcome: won ? "won" : "late", step: g.step, shard: g.shard, computeMs };
    } catch (err) {
      if (err instanceof WaitingError) throw err;
      stats.failed++;
      const message = err instanceof Error ? err.message : String(err);
      // Tell the coordinator now instead of letting it wait for a deadline.
      await redis
        .multi()
        .rpush(g.doneKey, encodeDone({ ...base, error: message }))
        .expire(g.doneKey, g.ttlSeconds)
        .exec()
        .catch(() => {});
      log("error", { step: g.step, shard: g.shard, message });
      throw err;
    } finally {
      if (batch) batches.push(batch);
      if (idle.length < concurrency && conn.status === "ready") idle.push(conn);
      else if (!all.includes(conn)) conn.disconnect();
    }
  };

  const worker = new Worker(GRAD_QUEUE, processor, {
    connection: { url: o.redisUrl },
    prefix: o.prefix,
    concurrency,
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
      await queue.close();
      for (const c of all) c.disconnect();
      for (const s of sources) s.close();
    },
  };
}

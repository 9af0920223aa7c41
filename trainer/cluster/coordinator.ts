// The cluster's GradientSource: each step, the coordinator writes the weights to Redis, adds one
// gradient job per shard to the BullMQ queue, and waits at a barrier until every shard has a
// stored gradient; the loop (train/loop.ts) then averages and applies them like in-process.
//
// Barrier: workers RPUSH a record to the step's "done" list when their gradient is stored, and
// the coordinator BLPOPs it. (Not a FlowProducer parent: a parent waits for ALL of its children,
// so a backup task could never win the race against a slow original. The done list lets the
// first result per shard win and survives a coordinator restart.)
// Backup tasks: a shard still missing after the deadline — max(backupMinMs, backupFactor × the
// median shard compute time seen so far) — is issued again as a new job; whichever copy stores
// its gradient first wins (STORE_GRADIENT_LUA), later copies find the key and do nothing.
// A killed worker's job also comes back through BullMQ's stalled-job check (worker side).
import { randomBytes } from "node:crypto";
import { Queue } from "bullmq";
import type { Redis } from "ioredis";
import type { Split } from "../data/types";
import { bytesF32, f32Bytes } from "../train/checkpoint";
import type { GradientSource, TimedGradient } from "../train/loop";
import type { StepPlan } from "../train/plan";
import { DoneSchema, GRAD_QUEUE, keysFor, type Done, type GradJob, type Keys } from "./protocol";
import { connectRedis, probeRedis, redactUrl } from "./redis";

export type ClusterOptions = {
  redisUrl: string;
  prefix: string;
  runId: string;
  sizes: number[];
  train: Split;
  features: number;
  /** Fingerprint of the training split (names the data keys). */
  dataFingerprint: string;
  /** Backup deadline: at least this long after a task was issued … */
  backupMinMs?: number;
  /** … and at least this many times the median shard compute time. 0 disables backups. */
  backupFactor?: number;
  /** Backup deadline before any gradient has arrived (workers load the data set first). */
  firstDeadlineMs?: number;
  /** Backups per shard and step before the coordinator just keeps waiting. */
  maxBackups?: number;
  /** Give up on a step after this long. */
  stepTimeoutMs?: number;
  /** Expiry of weights, gradients and done lists. */
  ttlSeconds?: number;
  /** Expiry of the uploaded training set (refreshed while the run lasts). */
  dataTtlSeconds?: number;
  /** Wait this long for a coordinator lease held by a previous (crashed) coordinator. */
  leaseMs?: number;
  log?: (message: string, data?: Record<string, unknown>) => void;
};

export class ClusterError extends Error {
  override name = "ClusterError";
}

export type BarrierStats = { backups: number; lateOrDuplicate: number; workerErrors: number };

/**
 * Waits until at least one `meridian worker` is connected to the queue (BullMQ names its
 * workers' Redis connections); returns how many there are.
 */
export async function waitForWorkers(o: {
  redisUrl: string;
  prefix: string;
  timeoutMs: number;
  log?: (message: string) => void;
}): Promise<number> {
  await probeRedis(o.redisUrl);
  const queue = new Queue(GRAD_QUEUE, { connection: { url: o.redisUrl }, prefix: o.prefix });
  try {
    const until = Date.now() + o.timeoutMs;
    let announced = false;
    for (;;) {
      const n = await queue.getWorkersCount();
      if (n > 0) return n;
      if (Date.now() > until) {
        throw new ClusterError(
          `no \`meridian worker\` is connected to ${redactUrl(o.redisUrl)} (queue "${GRAD_QUEUE}", prefix "${o.prefix}") after ${Math.round(o.timeoutMs / 1000)} s; start one with REDIS_URL=${redactUrl(o.redisUrl)} meridian worker`,
        );
      }
      if (!announced) {
        o.log?.("waiting for workers (start them with `meridian worker`)");
        announced = true;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    await queue.close();
  }
}

export class ClusterGradients implements GradientSource {
  readonly kind = "cluster (BullMQ)";
  readonly stats: BarrierStats = { backups: 0, lateOrDuplicate: 0, workerErrors: 0 };
  private readonly keys: Keys;
  private readonly session = randomBytes(4).toString("hex");
  private readonly dataKeys: { x: string; y: string; meta: string };
  private readonly computeSamples: number[] = [];
  private prevWeightsKey: string | undefined;
  private leaseTimer: NodeJS.Timeout | undefined;
  private lastDataRefresh = Date.now();

  private constructor(
    private readonly o: ClusterOptions,
    private readonly redis: Redis,
    private readonly blocking: Redis,
    private readonly queue: Queue,
  ) {
    this.keys = keysFor(o.prefix);
    this.dataKeys = this.keys.data(o.dataFingerprint);
  }

  /** Connects, takes the run's lease, uploads the training set (once per content hash). */
  static async open(o: ClusterOptions): Promise<ClusterGradients> {
    await probeRedis(o.redisUrl);
    const redis = connectRedis(o.redisUrl);
    const blocking = connectRedis(o.redisUrl);
    const queue = new Queue(GRAD_QUEUE, { connection: { url: o.redisUrl }, prefix: o.prefix });
    const c = new ClusterGradients(o, redis, blocking, queue);
    try {
      await c.takeLease();
      await c.uploadData();
    } catch (err) {
      await c.close();
      throw err;
    }
    return c;
  }

  private get log(): NonNullable<ClusterOptions["log"]> {
    return this.o.log ?? (() => {});
  }

  /** One coordinator per run: SET NX lease, renewed in the background; waits out a crashed holder. */
  private async takeLease(): Promise<void> {
    const key = this.keys.lease(this.o.runId);
    const ms = this.o.leaseMs ?? 5000;
    const until = Date.now() + 3 * ms;
    let announced = false;
    while ((await this.redis.set(key, this.session, "PX", ms, "NX")) !== "OK") {
      if (Date.now() > until) {
        throw new ClusterError(`run ${this.o.runId} is being coordinated by another process (lease ${key} held)`);
      }
      if (!announced) {
        this.log(`run ${this.o.runId}: another coordinator holds the lease; waiting for it to expire`);
        announced = true;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    this.leaseTimer = setInterval(() => {
      void this.redis.set(key, this.session, "PX", ms).catch(() => {});
    }, Math.max(200, ms / 3));
    this.leaseTimer.unref();
  }

  private async uploadData(): Promise<void> {
    const ttl = this.o.dataTtlSeconds ?? 3600;
    const { x, y, meta } = this.dataKeys;
    const have = await this.redis.exists(x, y, meta);
    if (have === 3) {
      await this.redis.multi().expire(x, ttl).expire(y, ttl).expire(meta, ttl).exec();
      return;
    }
    const t0 = performance.now();
    const t = this.o.train;
    await this.redis
      .multi()
      .set(x, f32Bytes(t.x), "EX", ttl)
      .set(y, Buffer.from(t.y.buffer, t.y.byteOffset, t.y.byteLength), "EX", ttl)
      .set(meta, JSON.stringify({ rows: t.rows, features: this.o.features }), "EX", ttl)
      .exec();
    this.log(`uploaded the training set to Redis (${(t.x.byteLength / 1e6).toFixed(1)} MB, ${Math.round(performance.now() - t0)} ms)`);
  }

  private deadlineMs(): number {
    const factor = this.o.backupFactor ?? 4;
    const min = this.o.backupMinMs ?? 2000;
    if (factor <= 0) return Infinity;
    // Until a first gradient arrives, workers may still be downloading the training set.
    if (this.computeSamples.length === 0) return Math.max(min, this.o.firstDeadlineMs ?? 30_000);
    const s = [...this.computeSamples].sort((a, b) => a - b);
    return Math.max(min, factor * s[Math.floor(s.length / 2)]!);
  }

  private job(plan: StepPlan, shard: number, attempt: number): { name: string; data: GradJob; opts: { jobId: string } } {
    const { runId } = this.o;
    return {
      name: "gradient",
      data: {
        v: 1,
        runId,
        step: plan.step,
        shard,
        attempt,
        sizes: this.o.sizes,
        weightsKey: this.keys.weights(runId, this.session, plan.step),
        data: this.dataKeys,
        rows: Array.from(plan.shards[shard]!),
        gradKey: this.keys.grad(runId, this.session, plan.step, shard),
        doneKey: this.keys.done(runId, this.session, plan.step),
        ttlSeconds: this.o.ttlSeconds ?? 600,
      },
      // Unique per coordinator session, step, shard and attempt (BullMQ ids may not contain ":").
      opts: { jobId: `${runId}-${this.session}-${plan.step}-${shard}-${attempt}` },
    };
  }

  async compute(params: Float32Array, plan: StepPlan): Promise<TimedGradient[]> {
    const { runId } = this.o;
    const ttl = this.o.ttlSeconds ?? 600;
    const k = plan.shards.length;
    const weightsKey = this.keys.weights(runId, this.session, plan.step);
    const doneKey = this.keys.done(runId, this.session, plan.step);
    const gradKeys = plan.shards.map((_, i) => this.keys.grad(runId, this.session, plan.step, i));

    await this.redis.set(weightsKey, f32Bytes(params), "EX", ttl);
    const jobOpts = { removeOnComplete: true, removeOnFail: { age: 3600 }, attempts: 1 };
    await this.queue.addBulk(
      plan.shards.map((_, i) => {
        const j = this.job(plan, i, 0);
        return { ...j, opts: { ...j.opts, ...jobOpts } };
      }),
    );

    const issued = plan.shards.map(() => performance.now());
    const attempts = plan.shards.map(() => 0);
    const errors = plan.shards.map(() => 0);
    const results = new Map<number, Done>();
    const started = performance.now();
    const stepTimeout = this.o.stepTimeoutMs ?? 600_000;
    const maxBackups = this.o.maxBackups ?? 3;

    const issueBackup = async (i: number, why: string): Promise<void> => {
      attempts[i]!++;
      issued[i] = performance.now();
      this.stats.backups++;
      const j = this.job(plan, i, attempts[i]!);
      await this.queue.add(j.name, j.data, { ...j.opts, ...jobOpts });
      this.log(`step ${plan.step + 1}: backup task ${attempts[i]} for shard ${i} (${why})`, { step: plan.step + 1, shard: i });
    };

    while (results.size < k) {
      const now = performance.now();
      if (now - started > stepTimeout) {
        const missing = plan.shards.map((_, i) => i).filter((i) => !results.has(i));
        throw new ClusterError(
          `step ${plan.step + 1}: no gradient for shard(s) ${missing.join(", ")} after ${Math.round(stepTimeout / 1000)} s — are workers running?`,
        );
      }
      const deadline = this.deadlineMs();
      for (let i = 0; i < k; i++) {
        if (!results.has(i) && attempts[i]! < maxBackups && now - issued[i]! > deadline) {
          await issueBackup(i, `no result after ${Math.round(now - issued[i]!)} ms`);
        }
      }
      const nextDeadline = Math.min(
        ...plan.shards.map((_, i) => (results.has(i) || attempts[i]! >= maxBackups ? Infinity : issued[i]! + deadline)),
      );
      const waitS = Math.min(1, Math.max(0.01, Number.isFinite(nextDeadline) ? (nextDeadline - performance.now()) / 1000 : 1));
      const popped = await this.blocking.blpop(doneKey, waitS);
      if (!popped) continue;
      const rec = DoneSchema.parse(JSON.parse(popped[1]));
      if (rec.error !== undefined) {
        this.stats.workerErrors++;
        errors[rec.shard]!++;
        if (errors[rec.shard]! > maxBackups) {
          throw new ClusterError(`step ${plan.step + 1}, shard ${rec.shard}: worker ${rec.worker} failed: ${rec.error}`);
        }
        if (!results.has(rec.shard)) await issueBackup(rec.shard, `worker ${rec.worker} failed: ${rec.error}`);
        continue;
      }
      if (results.has(rec.shard)) {
        this.stats.lateOrDuplicate++;
        continue;
      }
      results.set(rec.shard, rec);
      if (rec.computeMs !== undefined) {
        this.computeSamples.push(rec.computeMs);
        if (this.computeSamples.length > 50) this.computeSamples.shift();
      }
    }

    const buffers = await this.redis.pipeline(gradKeys.map((key) => ["getBuffer", key] as [string, string])).exec();
    const out: TimedGradient[] = plan.shards.map((_, i) => {
      const [err, buf] = buffers![i]!;
      if (err || !buf) throw new ClusterError(`step ${plan.step + 1}: gradient ${gradKeys[i]} vanished (${err?.message ?? "expired"})`);
      const r = results.get(i)!;
      const g: TimedGradient = { grads: bytesF32(buf as Buffer), loss: r.loss!, correct: r.correct!, n: r.n!, worker: r.worker };
      if (r.computeMs !== undefined) g.computeMs = r.computeMs;
      return g;
    });
    // This step's gradients and the previous step's weights are no longer needed.
    const stale = [...gradKeys, doneKey, ...(this.prevWeightsKey ? [this.prevWeightsKey] : [])];
    this.prevWeightsKey = weightsKey;
    void this.redis.unlink(...stale).catch(() => {});
    if (Date.now() - this.lastDataRefresh > 600_000) {
      this.lastDataRefresh = Date.now();
      void this.uploadData().catch(() => {});
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.leaseTimer) clearInterval(this.leaseTimer);
    await this.redis.del(this.keys.lease(this.o.runId)).catch(() => {});
    if (this.prevWeightsKey) await this.redis.unlink(this.prevWeightsKey).catch(() => {});
    await this.queue.close().catch(() => {});
    this.redis.disconnect();
    this.blocking.disconnect();
  }

  /** The Redis connection (checkpoints share it). */
  get connection(): Redis {
    return this.redis;
  }
}

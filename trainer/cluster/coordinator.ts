// The cluster's GradientSource: each step the coordinator publishes the weights to Redis, and
// waits at a barrier until every shard's gradient has arrived; the loop (train/loop.ts) then
// averages and applies them exactly like in-process.
//
// Jobs are issued one step ahead: while the workers compute step s, the jobs of step s+1 are
// already queued, so each worker picks its next job and blocks on that step's weights list
// (protocol.ts). BullMQ's hand-off (enqueue, pick-up, lock) is thereby off the critical path,
// which is: publish weights → workers wake → compute → records with gradients → barrier.
//
// Barrier: workers RPUSH a record (with the gradient) to the step's "done" list and the
// coordinator BLPOPs it. (Not a FlowProducer parent: a parent waits for ALL of its children, so a
// backup task could never win the race against a slow original. The done list lets the first
// result per shard win, and needs no extra round trip to fetch the gradient.)
// Backup tasks: a shard still missing after the deadline — max(backupMinMs, backupFactor × the
// median shard compute time seen so far) after its weights were published — is issued again as
// a new job; the first record per shard wins, later copies are dropped (and a worker that sees
// the shard's claim key before computing skips it).
// A killed worker's job also comes back through BullMQ's stalled-job check (worker side).
// Fencing: the lease carries an epoch; the weights publish and Redis checkpoints are Lua scripts
// refused once the epoch moved, and a refused coordinator stops with LeaseLostError (see below).
// Gradients travel as float32 (exact, the default) or bfloat16 (`gradients: "bf16"`: workers round
// to nearest even, half the bytes); the weights broadcast is float32 either way.
// `reduce: "replicated"` (allreduce.ts): no weights broadcast and no gradient reaches the
// coordinator. It publishes a snapshot when the session starts (and every snapshotEvery steps),
// workers keep replicas and reduce the gradient in slices among themselves; the coordinator's
// barrier collects only the shards' records (loss, rows, replica checksums) and then reads the
// reduced gradient like any replica, reducing a slice itself only when nobody did within a grace.
// Partitioned runs (`--partitions P`, shard sets): shard k is partition k; its jobs go to partition
// k's own queue, and the run is registered (partition count, with expiry) so that workers claim
// partition slots and consume those queues (slots.ts).
import { randomBytes } from "node:crypto";
import { Queue } from "bullmq";
import type { Redis } from "ioredis";
import type { Split } from "../data/types";
import { archParamCount, type Arch } from "../train/arch";
import { encodeCheckpoint, f32Bytes } from "../train/checkpoint";
import type { GradientEncoding } from "../train/gradient-encoding";
import type { GradientSource, RunState, TimedGradient } from "../train/loop";
import type { ReduceMode } from "../train/reduce-mode";
import type { OptimizerConfig } from "../train/optimizer";
import type { StepPlan } from "../train/plan";
import { SliceNodes, awaitReduced, reduceKeys, reduceNodesFingerprint, type ReduceKeys } from "./allreduce";
import { replicaChecksum } from "./replica";
import { ScoreAccumulator, type Evaluation, type ScoreCounts } from "../train/metrics";
import { CANCELLED, EVAL_JOB, EvalResultSchema, GRAD_QUEUE, decodeDone, keysFor, partitionQueue, type Done, type EvalJob, type GradJob, type Keys } from "./protocol";
import { connectRedis, probeRedis, redactUrl } from "./redis";

export type ClusterOptions = {
  redisUrl: string;
  prefix: string;
  runId: string;
  arch: Arch;
  /** The training rows, uploaded to Redis for the workers … */
  train?: Split;
  features: number;
  /**
   * … or a shard set, which workers read themselves (nothing is uploaded): its location and
   * shardSetFingerprint; `ahead`: the shards a step's job k should prefetch; `partitions`: the
   * order's partition count (job k = partition k, on its own queue).
   */
  shardSet?: { location: string; fingerprint: string; ahead?: (step: number, shard: number) => number[]; partitions?: number };
  /** Fingerprint of the training split (names the data keys; for a shard set, checked by workers). */
  dataFingerprint: string;
  /** Backup deadline: at least this long after a task was issued … */
  backupMinMs?: number;
  /** … and at least this many times the median shard compute time. 0 disables backups. */
  backupFactor?: number;
  /** Backup deadline in a coordinator session's first step (workers may still be loading the data set). */
  firstDeadlineMs?: number;
  /** Backups per shard and step before the coordinator just keeps waiting. */
  maxBackups?: number;
  /** Give up on a step after this long. */
  stepTimeoutMs?: number;
  /** How long a worker holding a job waits for that step's weights before handing the job back. */
  weightsWaitMs?: number;
  /** Expiry of weights, gradients and done lists. */
  ttlSeconds?: number;
  /** Expiry of the uploaded training set (refreshed while the run lasts). */
  dataTtlSeconds?: number;
  /** Wait this long for a coordinator lease held by a previous (crashed) coordinator. */
  leaseMs?: number;
  /** How workers send gradients: fp32 (exact, default) or bf16 (half the bytes). */
  gradients?: GradientEncoding;
  /** Who averages the gradient: the coordinator (hub, default) or the workers' replicas (replicated). */
  reduce?: ReduceMode;
  /** Replicated: the run's optimizer (workers apply it), … */
  optimizer?: OptimizerConfig;
  /** … a snapshot every this many steps (replicas that fell behind start over from it), … */
  snapshotEvery?: number;
  /** … replica checksums every this many steps (0: never), … */
  checksumEvery?: number;
  /** … the reducer slot lease, and how long the coordinator leaves a ready slice to the workers, … */
  claimMs?: number;
  reduceGraceMs?: number;
  /** … and the reduce nodes the slices spread over (redis:// URLs; default: the run's Redis). Workers need the same list. */
  reduceRedis?: string[];
  log?: (message: string, data?: Record<string, unknown>) => void;
};

// Fencing. The lease key holds "<epoch>:<session>"; the epoch key is the run's fencing token,
// INCRemented by every coordinator that takes the lease. Every coordinator write that matters
// (weights publish = committing the previous step, checkpoint save/clear) is one of the scripts
// below, which refuse the write when the epoch key no longer equals the writer's epoch: a
// coordinator that was paused past its lease (GC, SIGSTOP, a VM migration) and comes back after
// another one took over cannot overwrite the new holder's state, and stops.

/** KEYS: lease, epoch. ARGV: session, ttl ms. Takes a free lease with the next epoch (0: held). */
const ACQUIRE_LEASE_LUA = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local e = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], 2592000)
redis.call('SET', KEYS[1], e .. ':' .. ARGV[1], 'PX', ARGV[2])
return e`;

/**
 * KEYS: lease, epoch. ARGV: lease value, ttl ms, epoch. Holder only: extends the lease if it still
 * holds this value (compare-and-pexpire), or sets it again if it expired and nobody took the run
 * since (the epoch is unchanged). Returns {1 renewed | 0 lost, current epoch}.
 */
const RENEW_LEASE_LUA = `
local v = redis.call('GET', KEYS[1])
local cur = tonumber(redis.call('GET', KEYS[2]) or '0')
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, cur}
end
if (not v) and cur == tonumber(ARGV[3]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {1, cur}
end
return {0, cur}`;

/** KEYS: lease. ARGV: lease value. Deletes the lease only if this session holds it. */
const RELEASE_LEASE_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`;

const FENCE_LUA = `
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if cur ~= tonumber(ARGV[1]) then return {0, cur} end
`;

/**
 * KEYS: epoch, staging, key, [key to drop]. ARGV: epoch. Renames the staged value onto the key
 * (which wakes readers blocked on it) and unlinks the other key, or discards the staged value when
 * the epoch moved. Large values (weights, snapshots, checkpoints) are staged by a plain command in
 * the same MULTI rather than passed to the script, whose arguments Redis copies twice (a 1 MB
 * weights publish: 2.8 ms through a script, 1.9 ms staged).
 */
const FENCED_MOVE_LUA = `
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if cur ~= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[2])
  return {0, cur}
end
redis.call('RENAME', KEYS[2], KEYS[3])
if KEYS[4] then redis.call('UNLINK', KEYS[4]) end
return {1, cur}`;

/** KEYS: epoch, key. ARGV: epoch. */
const FENCED_DEL_LUA = `${FENCE_LUA}
redis.call('DEL', KEYS[2])
return {1, cur}`;

export class ClusterError extends Error {
  override name = "ClusterError";
}

/** A fenced write was refused (or a renewal found the run taken): another coordinator holds the run. */
export class LeaseLostError extends ClusterError {
  override name = "LeaseLostError";
  constructor(
    readonly runId: string,
    readonly from: number,
    readonly to: number,
  ) {
    super(`lost the lease: epoch moved from ${from} to ${to} (another coordinator took over run ${runId}); stopping`);
  }
}

export type BarrierStats = {
  backups: number;
  lateOrDuplicate: number;
  workerErrors: number;
  /** Gradient payload bytes of the records used (one per shard and step) … */
  gradientBytes: number;
  /** … and every done record received, headers, late copies and errors included. */
  recordBytes: number;
};

/** Where one step's time went on the coordinator (ms), with the slowest shard's worker timings. */
export type StepTrace = {
  /** Writing the weights. */
  publishMs: number;
  /** Publish done → last shard's record received. */
  barrierMs: number;
  /** Slowest shard: how long its worker waited for the weights after starting to wait. */
  waitedMs?: number;
  computeMs?: number;
  /** Jobs of this step were queued during the previous step (off the critical path). */
  preissued: boolean;
  /** Bytes the weights broadcast wrote (float32 whatever the gradient encoding; 0 when replicated). */
  weightsBytes: number;
  /** Replicated: reduced-gradient bytes the coordinator read, and slices it had to reduce itself. */
  reducedBytes?: number;
  slicesReducedHere?: number;
  /** Replicated: the slowest shard's time reducing earlier steps' slices. */
  reduceMs?: number;
  /** Gradient payload bytes of the records used (shards × parameters × 4 or 2). */
  gradientBytes: number;
  /** All done records received this step (JSON headers, late copies and errors included). */
  recordBytes: number;
};

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

export class ReplicaDivergedError extends ClusterError {
  override name = "ReplicaDivergedError";
}

export class ClusterGradients implements GradientSource {
  readonly kind: string;
  readonly stats: BarrierStats = { backups: 0, lateOrDuplicate: 0, workerErrors: 0, gradientBytes: 0, recordBytes: 0 };
  readonly encoding: GradientEncoding;
  private readonly paramCount: number;
  /** Per shard, the array its gradient is decoded into (the train loop is done with it when the step ends). */
  private readonly gradArrays: Float32Array[] = [];
  /** Per-step timings, most recent last (bounded). */
  readonly traces: StepTrace[] = [];
  private readonly keys: Keys;
  private readonly session = randomBytes(4).toString("hex");
  private readonly dataKeys: { x: string; y: string; meta: string };
  private readonly computeSamples: number[] = [];
  private prevWeightsKey: string | undefined;
  /** The step whose jobs are already queued (issued during the previous step). */
  private preissued: number | undefined;
  /** The last step whose weights were published. */
  private published: number | undefined;
  private leaseTimer: NodeJS.Timeout | undefined;
  /** This coordinator's fencing token (0 until it holds the lease). */
  private epoch = 0;
  /** Set when a renewal or a fenced write found the epoch moved on: the epoch it moved to. */
  private lostTo: number | undefined;
  private lastDataRefresh = Date.now();
  private stepsDone = 0;
  readonly reduce: ReduceMode;
  /** Replicated: this session's reduction keys, its latest snapshot step and the one before. */
  private readonly rkeys: ReduceKeys;
  private snapshotStep: number | undefined;
  private logsFrom: number | undefined;
  /** Steps between snapshots (the loop calls sync() on them). */
  readonly syncEvery: number | undefined;
  /** Replicated: where the slices live. */
  private readonly nodes: SliceNodes;
  /** Held-out evaluations issued (names their keys). */
  private evaluations = 0;
  /** Slices of each step whose reduced gradient is still kept (for replay). */
  private readonly slicesPerStep = new Map<number, number>();
  /** The run's optimizer state (from sync; the loop updates it in place): replica checksums cover it. */
  private opt: RunState["opt"] | undefined;

  private constructor(
    private readonly o: ClusterOptions,
    private readonly redis: Redis,
    private readonly blocking: Redis,
    private readonly queue: Queue,
    /** The lease has its own connection, so renewals never queue behind a large upload or a BLPOP. */
    private readonly leaseConn: Redis,
    /** Partitioned runs: partition k's job queue (jobs of shard k go there, not to `queue`). */
    private readonly partitionQueues: Queue[],
  ) {
    this.keys = keysFor(o.prefix);
    this.encoding = o.gradients ?? "fp32";
    this.paramCount = archParamCount(o.arch);
    this.dataKeys = this.keys.data(o.dataFingerprint);
    this.reduce = o.reduce ?? "hub";
    this.kind = this.reduce === "replicated" ? "cluster (BullMQ, replicated)" : "cluster (BullMQ)";
    this.rkeys = reduceKeys(this.keys.session(o.runId, this.session));
    if (this.reduce === "replicated" && !o.optimizer) throw new ClusterError("reduce: replicated needs the run's optimizer");
    this.syncEvery = this.reduce === "replicated" ? (o.snapshotEvery ?? 16) : undefined;
    if (o.reduceRedis?.length && this.reduce !== "replicated") throw new ClusterError("reduce nodes (--reduce-redis) apply to reduce: replicated");
    this.nodes = o.reduceRedis?.length ? SliceNodes.connect(o.reduceRedis) : SliceNodes.onRunRedis(redis, blocking);
  }

  /** Connects, takes the run's lease, uploads the training set (once per content hash). */
  static async open(o: ClusterOptions): Promise<ClusterGradients> {
    await probeRedis(o.redisUrl);
    const redis = connectRedis(o.redisUrl);
    const blocking = connectRedis(o.redisUrl);
    const queue = new Queue(GRAD_QUEUE, { connection: { url: o.redisUrl }, prefix: o.prefix });
    const parts = Array.from({ length: o.shardSet?.partitions ?? 0 }, (_, p) => new Queue(partitionQueue(o.runId, p), { connection: { url: o.redisUrl }, prefix: o.prefix }));
    const c = new ClusterGradients(o, redis, blocking, queue, connectRedis(o.redisUrl), parts);
    try {
      await c.uploadData(); // content-addressed: two coordinators uploading the same data is harmless
      await c.takeLease();
      await c.registerPartitions();
    } catch (err) {
      await c.close();
      throw err;
    }
    return c;
  }

  private get log(): NonNullable<ClusterOptions["log"]> {
    return this.o.log ?? (() => {});
  }

  /** The lease key's value while this coordinator holds it. */
  private get leaseValue(): string {
    return `${this.epoch}:${this.session}`;
  }

  /** This coordinator's fencing epoch (0 before it took the lease). */
  get leaseEpoch(): number {
    return this.epoch;
  }

  /** Throws LeaseLostError once a renewal or a fenced write saw another coordinator's epoch. */
  private assertLease(): void {
    if (this.lostTo !== undefined) throw new LeaseLostError(this.o.runId, this.epoch, this.lostTo);
  }

  /** A fencing script's {ok, current epoch}: a refusal marks the lease lost and throws. */
  private checkFence([ok, cur]: [number, number]): void {
    if (ok !== 1) {
      this.lostTo = cur;
      this.assertLease();
    }
  }

  /**
   * Writes `value` to `key` (a string, or a one-element list readers block on) with expiry and
   * unlinks `drop`, only while this coordinator's epoch is the run's: staged under a key of this
   * session and moved by FENCED_MOVE_LUA, in one MULTI.
   */
  private async fencedPut(key: string, value: Buffer, o: { list: boolean; ttlSeconds: number; drop?: string }): Promise<void> {
    this.assertLease();
    const stage = `${this.keys.session(this.o.runId, this.session)}:stage`;
    const m = this.redis.multi().del(stage);
    (o.list ? m.rpush(stage, value) : m.set(stage, value)).expire(stage, o.ttlSeconds);
    const keys = o.drop ? [stage, key, o.drop] : [stage, key];
    const res = await m.eval(FENCED_MOVE_LUA, keys.length + 1, this.keys.epoch(this.o.runId), ...keys, this.epoch).exec();
    const err = res?.find(([e]) => e)?.[0];
    if (err || !res) throw err ?? new ClusterError(`writing ${key}: the transaction was discarded`);
    this.checkFence(res[3]![1] as [number, number]);
  }

  /** Deletes `key` only while this coordinator's epoch is the run's. */
  private async fencedDel(key: string): Promise<void> {
    this.assertLease();
    this.checkFence((await this.redis.eval(FENCED_DEL_LUA, 2, this.keys.epoch(this.o.runId), key, this.epoch)) as [number, number]);
  }

  /** Checkpoints on disk (FileCheckpointStore): files named by this epoch, written only after checking it is still the run's. */
  readonly fileFence = {
    epoch: (): number => this.epoch,
    check: async (): Promise<void> => {
      this.assertLease();
      const cur = Number(await this.redis.get(this.keys.epoch(this.o.runId)));
      if (cur !== this.epoch) {
        this.lostTo = cur;
        this.assertLease();
      }
    },
  };

  /** Checkpoint writes that land only while this coordinator's epoch is the run's (RedisCheckpointStore). */
  readonly fencedWrites = {
    set: (key: string, value: Buffer, ttlSeconds: number): Promise<void> => this.fencedPut(key, value, { list: false, ttlSeconds }),
    del: (key: string): Promise<void> => this.fencedDel(key),
  };

  /**
   * One coordinator per run: a free lease is taken with the next epoch (INCR) and renewed in the
   * background by its holder only; waits out a crashed (or paused) holder.
   */
  private async takeLease(): Promise<void> {
    const key = this.keys.lease(this.o.runId);
    const epochKey = this.keys.epoch(this.o.runId);
    const ms = this.o.leaseMs ?? 5000;
    const until = Date.now() + 3 * ms;
    let announced = false;
    for (;;) {
      const e = Number(await this.leaseConn.eval(ACQUIRE_LEASE_LUA, 2, key, epochKey, this.session, ms));
      if (e > 0) {
        this.epoch = e;
        break;
      }
      if (Date.now() > until) {
        throw new ClusterError(`run ${this.o.runId} is being coordinated by another process (lease ${key} held)`);
      }
      if (!announced) {
        this.log(`run ${this.o.runId}: another coordinator holds the lease; waiting for it to expire`);
        announced = true;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    this.log(`run ${this.o.runId}: coordinator lease taken, epoch ${this.epoch}`, { epoch: this.epoch });
    this.leaseTimer = setInterval(() => {
      if (this.lostTo !== undefined) return;
      this.leaseConn
        .eval(RENEW_LEASE_LUA, 2, key, epochKey, this.leaseValue, ms, this.epoch)
        .then((r) => {
          const [ok, cur] = r as [number, number];
          if (ok !== 1) this.lostTo = cur;
        })
        .catch(() => {});
    }, Math.max(200, ms / 3));
    this.leaseTimer.unref();
  }

  /** Partitioned runs: tells workers the run's partition count (expires unless refreshed; unregistered by close()). */
  private async registerPartitions(): Promise<void> {
    if (this.partitionQueues.length === 0) return;
    const ttl = this.o.dataTtlSeconds ?? 3600;
    await this.redis.multi().set(this.keys.partitions(this.o.runId), this.partitionQueues.length, "EX", ttl).sadd(this.keys.partitioned, this.o.runId).exec();
  }

  /**
   * Workers stop holding the run's partition slots, and its queued jobs go (pre-issued ones no one
   * will need). Fenced, before the lease is released: never a successor's registration or jobs.
   */
  private async unregisterPartitions(): Promise<void> {
    if (this.partitionQueues.length === 0 || this.epoch === 0) return;
    const [ok] = (await this.redis.eval(FENCED_DEL_LUA, 2, this.keys.epoch(this.o.runId), this.keys.partitions(this.o.runId), this.epoch)) as [number, number];
    if (ok === 1) await Promise.all(this.partitionQueues.map((q) => q.drain()));
  }

  /** Where shard k's jobs go: partition k's queue in a partitioned run, else the shared one. */
  private queueOf(shard: number): Queue {
    if (this.partitionQueues.length === 0) return this.queue;
    const q = this.partitionQueues[shard];
    if (!q) throw new ClusterError(`shard ${shard} of a run with ${this.partitionQueues.length} partitions`);
    return q;
  }

  private async uploadData(): Promise<void> {
    if (this.o.shardSet !== undefined) return; // workers read the shard set themselves
    if (!this.o.train) throw new ClusterError("ClusterGradients needs train rows or a shard set");
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
    // In a session's first step, workers may still be downloading the training set.
    if (this.published === undefined || this.stepsDone === 0) return Math.max(min, this.o.firstDeadlineMs ?? 30_000);
    const s = [...this.computeSamples].sort((a, b) => a - b);
    return Math.max(min, factor * s[Math.floor(s.length / 2)]!);
  }

  /** A shard-set job's data: the set, and the train shards job `shard` of the steps from this one reads (workers prefetch them). */
  private shardSetData(step: number, shard: number): GradJob["data"] {
    const { location, fingerprint, ahead } = this.o.shardSet!;
    return { shardSet: location, fingerprint, ...(ahead ? { ahead: ahead(step, shard) } : {}) };
  }

  private job(plan: StepPlan, shard: number, attempt: number) {
    const { runId } = this.o;
    const ttl = this.o.ttlSeconds ?? 600;
    const data: GradJob = {
      v: 2,
      runId,
      step: plan.step,
      shard,
      attempt,
      arch: this.o.arch,
      // for workers from before `arch` (they read an MLP's sizes)
      ...(this.o.arch.kind === "mlp" ? { sizes: this.o.arch.sizes } : {}),
      weightsKey: this.keys.weights(runId, this.session, plan.step),
      claimKey: this.keys.claim(runId, this.session, plan.step, shard),
      doneKey: this.keys.done(runId, this.session, plan.step),
      data: this.o.shardSet !== undefined ? this.shardSetData(plan.step, shard) : this.dataKeys,
      rows: Array.from(plan.shards[shard]!),
      waitMs: this.o.weightsWaitMs ?? 15_000,
      lease: { key: this.keys.lease(runId), session: this.leaseValue, epoch: this.epoch, epochKey: this.keys.epoch(runId) },
      ttlSeconds: ttl,
      gradients: this.encoding,
    };
    if (this.reduce === "replicated") {
      data.replica = {
        base: this.keys.session(runId, this.session),
        slices: plan.shards.length,
        optimizer: this.o.optimizer!,
        snapshotStep: this.snapshotStep ?? 0,
        checksumEvery: this.o.checksumEvery ?? 16,
        claimMs: this.o.claimMs ?? 5000,
      };
      if (this.o.reduceRedis?.length) data.replica.nodes = { count: this.o.reduceRedis.length, fingerprint: reduceNodesFingerprint(this.o.reduceRedis) };
    }
    return {
      name: "gradient",
      data,
      // Unique per coordinator session, step, shard and attempt (BullMQ ids may not contain ":").
      opts: {
        jobId: `${runId}-${this.session}-${plan.step}-${shard}-${attempt}`,
        // Earlier steps first: a retried or backup job of step s goes ahead of step s+1's pre-issued ones.
        priority: Math.min(plan.step + 1, 2_097_151),
        removeOnComplete: true,
        removeOnFail: { age: 3600 },
        attempts: 1,
      },
    };
  }

  private async issue(plan: StepPlan): Promise<void> {
    if (this.partitionQueues.length === 0) await this.queue.addBulk(plan.shards.map((_, i) => this.job(plan, i, 0)));
    else await Promise.all(plan.shards.map((_, i) => this.queueOf(i).addBulk([this.job(plan, i, 0)])));
  }

  async compute(params: Float32Array, plan: StepPlan, next?: StepPlan): Promise<TimedGradient[]> {
    const { runId } = this.o;
    const ttl = this.o.ttlSeconds ?? 600;
    const k = plan.shards.length;
    const weightsKey = this.keys.weights(runId, this.session, plan.step);
    const doneKey = this.keys.done(runId, this.session, plan.step);
    this.assertLease();
    const preissued = this.preissued === plan.step;
    if (!preissued) await this.issue(plan);

    const replicated = this.reduce === "replicated";
    const t0 = performance.now();
    if (replicated) {
      if (this.snapshotStep === undefined) throw new ClusterError("reduce: replicated: sync() publishes the snapshot before the first step");
    } else {
      // Publishing step s's weights commits step s-1's update: fenced (refused once the epoch moved).
      // The previous step's weights go in the same script: nobody needs them now.
      await this.fencedPut(weightsKey, f32Bytes(params), { list: true, ttlSeconds: ttl, ...(this.prevWeightsKey ? { drop: this.prevWeightsKey } : {}) });
      this.prevWeightsKey = weightsKey;
    }
    this.published = plan.step;
    const t1 = performance.now();
    // Queue the next step's jobs while this one computes.
    const issuing = next ? this.issue(next).then(() => void (this.preissued = next.step)) : Promise.resolve();
    issuing.catch(() => {}); // awaited (and so rethrown) after the barrier; never an unhandled rejection

    const issued = plan.shards.map(() => t1);
    const attempts = plan.shards.map(() => 0);
    const errors = plan.shards.map(() => 0);
    const results = new Map<number, { rec: Done; grads: Float32Array | null; payloadBytes: number }>();
    // Workers send a replica checksum only on every checksumEvery-th step: hash ours only then (a sha256 of parameters and moments).
    const every = this.o.checksumEvery ?? 16;
    const ours = replicated && every > 0 && plan.step % every === 0 ? { step: plan.step, checksum: replicaChecksum(params, this.opt!) } : undefined;
    let recordBytes = 0;
    const stepTimeout = this.o.stepTimeoutMs ?? 600_000;
    const maxBackups = this.o.maxBackups ?? 3;

    const issueBackup = async (i: number, why: string): Promise<void> => {
      attempts[i]!++;
      issued[i] = performance.now();
      this.stats.backups++;
      const j = this.job(plan, i, attempts[i]!);
      await this.queueOf(i).add(j.name, j.data, j.opts);
      this.log(`step ${plan.step + 1}: backup task ${attempts[i]} for shard ${i} (${why})`, { step: plan.step + 1, shard: i });
    };

    while (results.size < k) {
      // A renewal found another coordinator's epoch (we were paused past the lease, say): stop.
      this.assertLease();
      const now = performance.now();
      if (now - t1 > stepTimeout) {
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
      const popped = await this.blocking.blpopBuffer(doneKey, waitS);
      if (!popped) continue;
      recordBytes += popped[1].length;
      // A shard's first result of the step decodes into that shard's array, reused every step.
      const { rec, grads, payloadBytes } = decodeDone(popped[1], (r) => (replicated || results.has(r.shard) || r.shard >= k ? undefined : (this.gradArrays[r.shard] ??= new Float32Array(this.paramCount))));
      if (rec.error !== undefined) {
        this.stats.workerErrors++;
        errors[rec.shard]!++;
        if (errors[rec.shard]! > maxBackups) {
          throw new ClusterError(`step ${plan.step + 1}, shard ${rec.shard}: worker ${rec.worker} failed: ${rec.error}`);
        }
        if (!results.has(rec.shard)) await issueBackup(rec.shard, `worker ${rec.worker} failed: ${rec.error}`);
        continue;
      }
      if (results.has(rec.shard) || (!replicated && !grads)) {
        this.stats.lateOrDuplicate++;
        continue;
      }
      // A worker that does not know the run's encoding (one from before bf16 ignores the job's
      // field and sends fp32) would mix precisions silently: stop with the reason instead.
      if ((rec.encoding ?? "fp32") !== this.encoding) {
        throw new ClusterError(
          `step ${plan.step + 1}, shard ${rec.shard}: worker ${rec.worker} sent ${rec.encoding ?? "fp32"} gradients${rec.encoding ? "" : " (no encoding in its record: a worker from before --gradients bf16?)"}, this run uses ${this.encoding}; update or stop that worker`,
        );
      }
      if (rec.replica && ours && rec.replica.step === ours.step && rec.replica.checksum !== ours.checksum) {
        throw new ReplicaDivergedError(
          `step ${plan.step + 1}, shard ${rec.shard}: the replica of worker ${rec.worker} diverged (checksum ${rec.replica.checksum}, the coordinator's ${ours.checksum}); restart that worker (it starts over from the snapshot)`,
        );
      }
      if (grads && grads.length !== this.paramCount) {
        throw new ClusterError(`step ${plan.step + 1}, shard ${rec.shard}: worker ${rec.worker} sent ${grads.length} gradient values, the model has ${this.paramCount}`);
      }
      results.set(rec.shard, { rec, grads, payloadBytes });
      if (rec.computeMs !== undefined) {
        this.computeSamples.push(rec.computeMs);
        if (this.computeSamples.length > 50) this.computeSamples.shift();
      }
    }
    const t2 = performance.now();
    await issuing;
    const slowest = [...results.values()].reduce((a, b) => ((b.rec.computeMs ?? 0) > (a.rec.computeMs ?? 0) ? b : a)).rec;

    let out: TimedGradient[];
    let reduced: { bytes: number; here: number } | undefined;
    if (replicated) {
      // Read the reduced gradient like any replica; reduce a slice here only if no worker did within the grace.
      const r = await awaitReduced({
        redis: this.redis,
        blocking: this.blocking,
        nodes: this.nodes,
        keys: this.rkeys,
        step: plan.step,
        paramCount: this.paramCount,
        encoding: this.encoding,
        ttlSeconds: ttl,
        claimMs: this.o.claimMs ?? 5000,
        // The last step's reduction has no worker waiting for it: the coordinator does it at once.
        claimAfterMs: next ? (this.o.reduceGraceMs ?? 2000) : 0,
        owner: `coordinator:${this.session}`,
        check: async () => {
          this.assertLease();
          if (performance.now() - t1 > stepTimeout) throw new ClusterError(`step ${plan.step + 1}: the reduced gradient did not appear within ${Math.round(stepTimeout / 1000)} s`);
          return "ok";
        },
      });
      if (typeof r === "string") throw new ClusterError(`step ${plan.step + 1}: reduction ended with ${r}`);
      reduced = { bytes: r.bytesRead, here: r.slicesReduced };
      // The shards' loss and rows, summed the way averageGradients sums them.
      const total = [...results.values()].reduce((a, x) => a + x.rec.n!, 0);
      let loss = 0;
      let correct = 0;
      for (let i = 0; i < k; i++) {
        const { rec } = results.get(i)!;
        loss += (rec.n! / total) * rec.loss!;
        correct += rec.correct!;
      }
      const g: TimedGradient = { grads: r.grads, loss, correct, n: total };
      if (slowest.computeMs !== undefined) g.computeMs = slowest.computeMs;
      out = [g];
      // Every slice is reduced: the shards' gradients are no longer needed (the reduced slices are, for replay).
      for (let i = 0; i < k; i++) {
        const drop = [this.rkeys.claim(plan.step, i)];
        for (let j = 0; j < k; j++) drop.push(this.rkeys.grad(plan.step, j, i));
        void this.nodes.of(i).redis.unlink(...drop).catch(() => {});
      }
      void this.redis.unlink(this.rkeys.arrivals(plan.step)).catch(() => {});
      this.slicesPerStep.set(plan.step, k);
    } else {
      out = plan.shards.map((_, i) => {
        const { rec, grads } = results.get(i)!;
        const g: TimedGradient = { grads: grads!, loss: rec.loss!, correct: rec.correct!, n: rec.n!, worker: rec.worker };
        if (rec.computeMs !== undefined) g.computeMs = rec.computeMs;
        if (rec.gatherMs !== undefined) g.gatherMs = rec.gatherMs;
        return g;
      });
    }
    const gradientBytes = [...results.values()].reduce((a, r) => a + r.payloadBytes, 0);
    this.stats.gradientBytes += gradientBytes;
    this.stats.recordBytes += recordBytes;
    const trace: StepTrace = { publishMs: t1 - t0, barrierMs: t2 - t1, preissued, weightsBytes: replicated ? 0 : params.byteLength, gradientBytes, recordBytes };
    if (slowest.waitedMs !== undefined) trace.waitedMs = slowest.waitedMs;
    if (slowest.computeMs !== undefined) trace.computeMs = slowest.computeMs;
    if (slowest.reduceMs !== undefined) trace.reduceMs = slowest.reduceMs;
    if (reduced) {
      trace.reducedBytes = reduced.bytes;
      trace.slicesReducedHere = reduced.here;
    }
    this.traces.push(trace);
    if (this.traces.length > 1000) this.traces.shift();
    void this.redis.unlink(doneKey).catch(() => {});
    this.stepsDone++;
    if (Date.now() - this.lastDataRefresh > 600_000) {
      this.lastDataRefresh = Date.now();
      void this.uploadData().catch(() => {});
      void this.registerPartitions().catch(() => {});
    }
    return out;
  }

  /**
   * Held-out evaluation of a shard set by the workers: the weights go to a plain key, one job per
   * held-out shard (ahead of every gradient job), and the shards' sums are added in shard order.
   * A worker that dies mid-job has its job retried by BullMQ's stalled-job check.
   */
  async evaluateHeldOut(arch: Arch, params: Float32Array, heldOutShards: number, positive: number | undefined): Promise<Evaluation> {
    const spec = this.o.shardSet;
    if (!spec) throw new ClusterError("distributed evaluation needs a shard set");
    this.assertLease();
    const { runId } = this.o;
    const ttl = this.o.ttlSeconds ?? 600;
    const n = ++this.evaluations;
    const base = this.keys.session(runId, this.session);
    const weightsKey = `${base}:evalw:${n}`;
    const resultKey = `${base}:evalr:${n}`;
    await this.redis.set(weightsKey, f32Bytes(params), "EX", ttl);
    const job = (shard: number) => {
      const data: EvalJob = {
        v: 2, runId, arch, weightsKey, resultKey, shard, ttlSeconds: ttl,
        data: { shardSet: spec.location, fingerprint: spec.fingerprint },
        ...(positive !== undefined ? { positive } : {}),
      };
      return { name: EVAL_JOB, data, opts: { jobId: `${runId}-${this.session}-eval${n}-${shard}`, priority: 1, removeOnComplete: true, removeOnFail: { age: 3600 }, attempts: 1 } };
    };
    await this.queue.addBulk(Array.from({ length: heldOutShards }, (_, i) => job(i)));
    const got = new Map<number, ScoreCounts>();
    const t0 = performance.now();
    const timeout = this.o.stepTimeoutMs ?? 600_000;
    try {
      while (got.size < heldOutShards) {
        this.assertLease();
        if (performance.now() - t0 > timeout) throw new ClusterError(`evaluation ${n}: no scores for ${heldOutShards - got.size} held-out shard(s) after ${Math.round(timeout / 1000)} s — are workers running?`);
        const popped = await this.blocking.blpop(resultKey, 1);
        if (!popped) continue;
        const r = EvalResultSchema.parse(JSON.parse(popped[1]));
        if (r.error !== undefined) throw new ClusterError(`evaluation ${n}, held-out shard ${r.shard}: worker ${r.worker} failed: ${r.error}`);
        if (!got.has(r.shard)) got.set(r.shard, r.counts!);
      }
    } finally {
      void this.redis.unlink(weightsKey, resultKey).catch(() => {});
    }
    const acc = new ScoreAccumulator(positive, true);
    for (let i = 0; i < heldOutShards; i++) acc.addCounts(got.get(i)!);
    return acc.result();
  }

  /**
   * Replicated: publishes the run's state as the session's snapshot (fenced: a coordinator that lost
   * the run cannot), which new or lagging replicas start from, and drops the reduced gradients from
   * before the previous snapshot (jobs issued before this call may still name that one).
   * The loop calls it before the first step and every syncEvery steps; it keeps mutating the same
   * parameter and optimizer arrays, which the replica checksums read.
   */
  async sync(state: RunState): Promise<void> {
    if (this.reduce !== "replicated") return;
    this.opt = state.opt;
    const snap = encodeCheckpoint({ runId: this.o.runId, step: state.step, params: state.params, opt: state.opt, savedAt: new Date().toISOString() });
    await this.fencedPut(this.rkeys.snapshot, snap, { list: true, ttlSeconds: Math.max(this.o.dataTtlSeconds ?? 3600, this.o.ttlSeconds ?? 600) });
    const prev = this.snapshotStep;
    this.snapshotStep = state.step;
    if (prev !== undefined) this.dropLogsBefore(prev);
  }

  /** Unlinks the reduced gradients (and ready markers) of the steps before `step`. */
  private dropLogsBefore(step: number): void {
    for (const [s, k] of this.slicesPerStep) {
      if (s >= step) continue;
      void this.redis.unlink(this.rkeys.ready(s)).catch(() => {});
      for (let i = 0; i < k; i++) void this.nodes.of(i).redis.unlink(this.rkeys.reduced(s, i), this.rkeys.reducedReady(s, i)).catch(() => {});
      this.slicesPerStep.delete(s);
    }
  }

  async close(): Promise<void> {
    if (this.leaseTimer) clearInterval(this.leaseTimer);
    await this.unregisterPartitions().catch(() => {});
    const cleanup = this.redis.multi();
    if (this.epoch > 0) cleanup.eval(RELEASE_LEASE_LUA, 1, this.keys.lease(this.o.runId), this.leaseValue);
    if (this.prevWeightsKey) cleanup.unlink(this.prevWeightsKey);
    if (this.reduce === "replicated") {
      this.dropLogsBefore(Infinity);
      cleanup.unlink(this.rkeys.snapshot);
    }
    if (this.preissued !== undefined && this.preissued !== this.published) {
      // Workers may be holding the pre-issued next step's jobs, waiting for weights that will never come.
      const key = this.keys.weights(this.o.runId, this.session, this.preissued);
      cleanup.rpush(key, CANCELLED).expire(key, 60);
    }
    await cleanup.exec().catch(() => {});
    await Promise.all([this.queue, ...this.partitionQueues].map((q) => q.close().catch(() => {})));
    this.nodes.close();
    this.redis.disconnect();
    this.blocking.disconnect();
    this.leaseConn.disconnect();
  }

  /** The Redis connection (checkpoints share it). */
  get connection(): Redis {
    return this.redis;
  }
}

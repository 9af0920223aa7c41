// `meridian worker`: a BullMQ Worker that computes gradient shards. A job usually arrives a step
// before its weights: the worker loads the training set (once, then cached), then blocks on the
// step's weights list (BLMOVE w w: a peek that waits until the coordinator publishes), runs the
// same computeGradient as the in-process loop, and pushes its record with the gradient to the
// step's done list (protocol.ts) — float32, or bfloat16 (round to nearest even) when the job says
// `gradients: "bf16"`.
// With `--reduce replicated` (the job's `replica`) there are no weights to wait for: the worker
// brings its own replica to the step instead (allreduce.ts), delivers its gradient in slices and
// helps reduce.
// `evaluate` jobs (shard sets) score one held-out shard under the job's weights and push the sums.
// Partitioned runs: the worker holds partition slots (slots.ts) and runs one more BullMQ Worker
// per slot, on that partition's queue, with the same processor; so it reads only its partitions'
// shards (each `shard_cache` line lists the shards it loaded since the previous one).
// A killed worker's job is retried elsewhere through BullMQ's stalled-job check (its lock expires
// after lockDuration); the coordinator's backup tasks cover slow workers.
import { hostname } from "node:os";
import { f32ToBf16 } from "../../shared/bf16";
import { Queue, WaitingError, Worker, type Job } from "bullmq";
import type { Redis } from "ioredis";
import { ShardCache } from "../shards/cache";
import type { ShardEntry } from "../shards/format";
import { ShardSet } from "../shards/reader";
import { openSource, type S3Options, type ShardSource } from "../shards/store";
import { bytesF32, viewF32 } from "../train/checkpoint";
import { gatherRows, type ShardGradient } from "../train/model";
import { modelFor } from "../train/models";
import { gatherLabels } from "../train/loop";
import { gatherShardRows, shardSetFingerprint } from "../train/shard-data";
import { ARRIVE_LUA, SliceNodes, awaitReduced, encodeGradSlice, reduceIfFree, reduceKeys, reduceNodesFingerprint, sliceBounds } from "./allreduce";
import { argmaxRows } from "../../shared/onnx/mlp";
import { archClasses } from "../train/arch";
import { ScoreAccumulator } from "../train/metrics";
import { probabilitiesOfAsync } from "../train/models";
import { CANCELLED, DataMetaSchema, EVAL_JOB, EvalJobSchema, GRAD_QUEUE, GradJobSchema, encodeDone, jobArch, keysFor, partitionQueue, type Done, type EvalResult, type GradJob } from "./protocol";
import { PartitionSlots } from "./slots";
import { Replica } from "./replica";
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
  /** `--reduce-redis`: the reduce nodes replicated runs spread their slices over (the same list as the coordinator's). */
  reduceRedis?: string[];
  /** Testing aid: flip one parameter of this worker's replica before computing this step (a diverged replica). */
  corruptReplicaAtStep?: number;
  /** Shard-set jobs: byte budget of this worker's shard cache (default: 9 of the set's largest shards). */
  cacheBytes?: number;
  s3?: S3Options;
  name?: string;
  log?: (event: string, data: Record<string, unknown>) => void;
};

/** A job's rows, gathered into a batch: from the Redis copy of the training set or from a shard set. */
type CachedData = {
  features: number;
  /** A shard set's reader (held-out shards for evaluation jobs); absent for rows from Redis. */
  set?: ShardSet;
  /** `ahead`: train shards the next steps read (shard sets), prefetched as far as the cache allows. */
  gather(rows: number[], buffer: Float32Array, ahead?: readonly number[]): Promise<{ x: Float32Array; y: Int32Array }>;
};

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
  // Batch and gradient buffers, one per job in progress, reused across steps (computeGradient keeps
  // no reference; a gradient is copied into its record or slices before the job ends): fewer
  // megabytes allocated per step, fewer full garbage collections in the middle of a gradient.
  const batches: Float32Array[] = [];
  const gradBuffers: Float32Array[] = [];
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
    // Which shards this worker read from the store (logged, then cleared, with the cache's counters).
    const loaded: number[] = [];
    const reader = { read: (e: ShardEntry, reuse?: ArrayBuffer) => (loaded.push(entries.indexOf(e)), set.read(e, reuse)) };
    const shardCache = new ShardCache(reader, entries, o.cacheBytes ?? 9 * largest);
    // As in-process (ShardGradients): prefetch reaches as many shards ahead as the cache holds.
    const aheadShards = Math.max(1, Math.floor(shardCache.budgetBytes / largest));
    log("data_loaded", { shardSet: source.location, rows: set.manifest.rows.train, features: set.features, cacheBytes: shardCache.budgetBytes });
    let loads = 0;
    return {
      features: set.features,
      set,
      gather: async (rows, buffer, ahead) => {
        if (ahead?.length) shardCache.prefetch(ahead.filter((s) => s < entries.length).slice(0, aheadShards));
        const b = await gatherShardRows(shardCache, entries, set.features, Int32Array.from(rows), buffer);
        // One line per shard load (not per job): what this worker read from the store so far.
        if (shardCache.stats.loads !== loads) {
          loads = shardCache.stats.loads;
          log("shard_cache", { ...shardCache.stats, bytes: shardCache.bytes, budgetBytes: shardCache.budgetBytes, loaded: loaded.splice(0) });
        }
        return b;
      },
    };
  };
  const dataFor = (d: GradJob["data"]): Promise<CachedData> => {
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

  // Used to look for more urgent jobs while holding one whose weights are not published yet (in
  // the queue the job came from: the shared one, or its partition's).
  const queue = new Queue(GRAD_QUEUE, { connection: { url: o.redisUrl }, prefix: o.prefix });
  /** The hub path's bf16 gradient bits, reused by every job. */
  let bf16Bits: Uint16Array | undefined;
  const queues = new Map<string, Queue>([[GRAD_QUEUE, queue]]);

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

  /**
   * Between slices of a blocking wait: give up if the coordinator is gone (its lease changed hands
   * or expired) or its epoch is stale; hand the job back to the queue if a job of an earlier step
   * of the same run is waiting — a retried stalled job or a backup task, which this worker should
   * take instead of sitting on a step that cannot start before that one finishes — or once `until`
   * passed. A job is never dropped while its coordinator is alive.
   */
  const checkWaiting = async (g: GradJob, until: number, q: Queue): Promise<"ok" | "stale" | "yield"> => {
    const [lease, epoch, waiting] = await Promise.all([
      redis.get(g.lease.key),
      g.lease.epochKey !== undefined ? redis.get(g.lease.epochKey) : Promise.resolve(null),
      q.getJobs(["prioritized", "wait"], 0, 3, true),
    ]);
    if (await staleEpoch(g, epoch)) return "stale";
    if (lease !== g.lease.session) return "stale";
    // An evaluation of the run waits too: the coordinator does not go on before it has its scores.
    if (waiting.some((j) => j?.data?.runId === g.runId && (j.name === EVAL_JOB || (typeof j.data.step === "number" && j.data.step < g.step)))) return "yield";
    if (performance.now() >= until) return "yield";
    return "ok";
  };

  /** Blocking peek at a one-element list (the step's weights, a snapshot), in short slices. */
  const peek = async (conn: Redis, g: GradJob, key: string, q: Queue): Promise<Buffer | "stale" | "yield"> => {
    const until = performance.now() + g.waitMs;
    for (;;) {
      const w = await conn.blmoveBuffer(key, key, "RIGHT", "LEFT", 0.2);
      if (w) return w.equals(CANCELLED) ? "stale" : w;
      const c = await checkWaiting(g, until, q);
      if (c !== "ok") return c;
    }
  };

  // --reduce replicated: this worker's replica (one run session at a time). Every change to it
  // happens synchronously after an await and re-checks the step, so concurrent jobs need no lock.
  let replica: Replica | undefined;
  const ownNodes = o.reduceRedis?.length ? { nodes: SliceNodes.connect(o.reduceRedis), fingerprint: reduceNodesFingerprint(o.reduceRedis) } : undefined;
  /** The job's slice nodes: this worker's reduce nodes if the run uses the same ones, else the run's Redis. */
  const nodesFor = (rs: NonNullable<GradJob["replica"]>, conn: Redis): SliceNodes => {
    if (!rs.nodes) return SliceNodes.onRunRedis(redis, conn);
    if (!ownNodes || ownNodes.fingerprint !== rs.nodes.fingerprint) {
      throw new Error(
        `the run reduces on ${rs.nodes.count} reduce node(s) (fingerprint ${rs.nodes.fingerprint}); this worker has ${ownNodes ? `${ownNodes.nodes.count} (fingerprint ${ownNodes.fingerprint})` : "none"}: start it with the same --reduce-redis (or REDUCE_REDIS_URLS)`,
      );
    }
    return ownNodes.nodes;
  };
  /** Brings the replica to the job's step: the session's snapshot if needed, then the reduced gradients since (helping to reduce them). */
  const advanceReplica = async (conn: Redis, g: GradJob, rs: NonNullable<GradJob["replica"]>, q: Queue) => {
    const keys = reduceKeys(rs.base);
    const until = performance.now() + g.waitMs;
    const check = () => checkWaiting(g, until, q);
    let reduceMs = 0;
    let slicesReduced = 0;
    if (!replica || replica.base !== rs.base || replica.step < rs.snapshotStep) {
      const snap = await peek(conn, g, keys.snapshot, q);
      if (typeof snap === "string") return snap;
      if (!replica || replica.base !== rs.base || replica.step < rs.snapshotStep) {
        replica = Replica.fromSnapshot(rs.base, snap, rs.optimizer);
        log("snapshot_loaded", { step: replica.step });
      }
    }
    for (let r = replica; r.step < g.step; r = replica!) {
      const at = r.step;
      const red = await awaitReduced({
        redis, blocking: conn, nodes: nodesFor(rs, conn), keys, step: at, paramCount: r.params.length, encoding: g.gradients, ttlSeconds: g.ttlSeconds,
        claimMs: rs.claimMs, firstSlice: g.shard, check, owner: id,
      });
      if (typeof red === "string") return red;
      reduceMs += red.reduceMs;
      slicesReduced += red.slicesReduced;
      if (replica === r && r.step === at) r.apply(red.grads); // else another job applied it meanwhile
    }
    return { replica: replica!, reduceMs, slicesReduced };
  };

  /**
   * The gradient's slices, then (one MULTI on the run's Redis) the done record, the claim and the
   * arrival — all one MULTI when the slices live there too. `won`: this worker claimed the shard
   * first; `completed`: its arrival was the step's last. Slices pushed before a crash that kept
   * the rest from landing are harmless: the backup's copy goes behind them, readers take the first.
   */
  const deliverSlices = async (g: GradJob, rs: NonNullable<GradJob["replica"]>, grad: ShardGradient, head: Done, nodes: SliceNodes): Promise<{ won: boolean; completed: boolean }> => {
    const keys = reduceKeys(rs.base);
    const m = redis.multi();
    const perNode = new Map<Redis, ReturnType<Redis["pipeline"]>>();
    for (let r = 0; r < rs.slices; r++) {
      const [a, b] = sliceBounds(grad.grads.length, rs.slices, r);
      const key = keys.grad(g.step, g.shard, r);
      const value = encodeGradSlice(grad.n, grad.grads.subarray(a, b), g.gradients);
      if (nodes.shared) m.rpush(key, value).expire(key, g.ttlSeconds);
      else {
        const node = nodes.of(r).redis;
        if (!perNode.has(node)) perNode.set(node, node.pipeline());
        perNode.get(node)!.rpush(key, value).expire(key, g.ttlSeconds);
      }
    }
    const pushed = await Promise.all([...perNode.values()].map((p) => p.exec()));
    const failed = pushed.flatMap((res) => res ?? []).find(([e]) => e)?.[0];
    if (failed) throw failed;
    const base = nodes.shared ? 2 * rs.slices : 0;
    m.rpush(g.doneKey, encodeDone(head)).expire(g.doneKey, g.ttlSeconds);
    m.set(g.claimKey, "1", "EX", g.ttlSeconds, "NX");
    m.eval(ARRIVE_LUA, 2, keys.arrivals(g.step), keys.ready(g.step), g.shard, rs.slices, g.ttlSeconds);
    const res = await m.exec();
    const err = res?.find(([e]) => e)?.[0];
    if (err) throw err;
    return { won: res?.[base + 2]?.[1] === "OK", completed: res?.[base + 3]?.[1] === 1 };
  };

  /** An evaluation job: one held-out shard scored under the job's weights, its sums pushed back. */
  const evaluateShard = async (job: Job): Promise<Record<string, unknown>> => {
    const parsed = EvalJobSchema.safeParse(job.data);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new Error(`malformed evaluation job ${job.id}: ${issue?.path.join(".") ?? ""}: ${issue?.message}`);
    }
    const e = parsed.data;
    const push = (r: EvalResult) => redis.multi().rpush(e.resultKey, JSON.stringify(r)).expire(e.resultKey, e.ttlSeconds).exec();
    try {
      const data = await dataFor(e.data);
      const entry = data.set?.shards("test")[e.shard];
      if (!data.set || !entry) throw new Error(`the shard set has no held-out shard ${e.shard}`);
      const wb = await redis.getBuffer(e.weightsKey);
      if (!wb) throw new Error(`the evaluation's weights ${e.weightsKey} are gone (expired, or the coordinator is gone)`);
      const t0 = performance.now();
      const block = await data.set.read(entry);
      const classes = archClasses(e.arch);
      const probs = await probabilitiesOfAsync(e.arch, bytesF32(wb), block.x, block.rows);
      const acc = new ScoreAccumulator(e.positive, true);
      acc.add(argmaxRows(probs, classes), block.y, { values: probs, classes });
      await push({ shard: e.shard, worker: id, counts: acc.counts() });
      log("evaluate", { shard: e.shard, rows: block.rows, ms: Math.round(performance.now() - t0) });
      return { outcome: "evaluated", shard: e.shard };
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      await push({ shard: e.shard, worker: id, error: message }).catch(() => {});
      log("error", { evaluation: e.shard, message });
      throw err;
    }
  };

  const processor = async (job: Job, token?: string): Promise<Record<string, unknown>> => {
    if (job.name === EVAL_JOB) return evaluateShard(job);
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
    let gradOut: Float32Array | undefined;
    try {
      // One round trip for both checks: the run's epoch (jobs from before fencing name none: the
      // reply is unused) and the shard's claim.
      const checked = await redis.pipeline().get(g.lease.epochKey ?? g.lease.key).exists(g.claimKey).exec();
      const failed = checked?.find(([e]) => e)?.[0];
      if (failed || !checked) throw failed ?? new Error("checking the job: no reply from Redis");
      // Issued by a coordinator that has since lost the run to a newer epoch: nothing to do.
      if (await staleEpoch(g, checked[0]![1] as string | null)) {
        stats.stale++;
        return { outcome: "stale_epoch", step: g.step, shard: g.shard };
      }
      // Someone (the original or a backup) already delivered this shard: nothing to do.
      if (checked[1]![1] === 1) {
        stats.late++;
        return { outcome: "late", step: g.step, shard: g.shard };
      }
      const data = await dataFor(g.data);
      // The batch does not depend on the weights: gather it while they are not published yet
      // (usually during the coordinator's averaging and update of the step before).
      // Timed like LocalGradients (buffer, rows, labels), so in-process and cluster gathers compare.
      const g0 = performance.now();
      let buffer = batches.pop() ?? new Float32Array(0);
      if (buffer.length < g.rows.length * data.features) buffer = new Float32Array(g.rows.length * data.features);
      batch = buffer;
      const { x, y } = await data.gather(g.rows, buffer, "ahead" in g.data ? g.data.ahead : undefined);
      const w0 = performance.now();
      const gatherMs = w0 - g0;
      // Hub: wait for the step's weights. Replicated: bring this worker's replica to the step.
      const rs = g.replica;
      const q = queues.get(job.queueName) ?? queue;
      const ready = rs ? await advanceReplica(conn, g, rs, q) : await peek(conn, g, g.weightsKey, q);
      const waitedMs = performance.now() - w0;
      if (ready === "yield") {
        stats.yielded++;
        log("yield", { step: g.step, shard: g.shard });
        await job.moveToWait(token);
        throw new WaitingError();
      }
      if (ready === "stale") {
        stats.stale++;
        return { outcome: "stale", step: g.step, shard: g.shard }; // the step never came, or is over
      }
      // The gradient is synchronous and blocks BullMQ's lock renewal timer: start it with a
      // fresh, full lock (the command goes out now; Redis applies it while we compute).
      if (token) void job.extendLock(token, o.lockMs ?? 30_000).catch(() => {});
      if (o.slowMs) await sleep(o.slowMs);
      let weights: Float32Array;
      let head: Done = { ...base, gatherMs, waitedMs, encoding: g.gradients };
      // The step's weights as read from Redis: a view, not a copy (the buffer is this job's alone).
      if (Buffer.isBuffer(ready)) weights = viewF32(ready);
      else {
        // Another job of this worker may have moved the replica past the step while we slept: the step is over.
        if (ready.replica !== replica || ready.replica.step !== g.step) {
          stats.late++;
          return { outcome: "late", step: g.step, shard: g.shard };
        }
        weights = ready.replica.params;
        if (o.corruptReplicaAtStep === g.step) weights[0] = weights[0]! + 1;
        head = { ...head, reduceMs: ready.reduceMs, slicesReduced: ready.slicesReduced };
        if (rs!.checksumEvery > 0 && g.step % rs!.checksumEvery === 0) head.replica = { step: g.step, checksum: ready.replica.checksum() };
      }
      const t0 = performance.now();
      gradOut = gradBuffers.pop();
      const grad = modelFor(jobArch(g)).computeGradient(weights, x, y, gradOut);
      gradOut = grad.grads;
      const computeMs = performance.now() - t0;
      head = { ...head, loss: grad.loss, correct: grad.correct, n: grad.n, computeMs };
      let won: boolean;
      if (rs) {
        const nodes = nodesFor(rs, conn);
        const d = await deliverSlices(g, rs, grad, head, nodes);
        won = d.won;
        // The step's last gradient: reduce this worker's own slice now, before anyone is woken —
        // in the background, so that BullMQ hands over the next job meanwhile (if this process
        // dies first, the slot's lease expires and a waiting participant reduces it).
        if (d.completed) {
          const r = { grads: new Float32Array(0), slicesReduced: 0, reduceMs: 0, bytesRead: 0, bytesWritten: 0 };
          const opts = { redis, blocking: conn, nodes, keys: reduceKeys(rs.base), step: g.step, paramCount: grad.grads.length, encoding: g.gradients, ttlSeconds: g.ttlSeconds, claimMs: rs.claimMs, owner: id, check: async () => "ok" as const };
          void reduceIfFree(opts, rs.slices, g.shard % rs.slices, r).catch((err: unknown) =>
            log("error", { step: g.step, shard: g.shard, message: `reducing slice ${g.shard % rs.slices}: ${err instanceof Error ? err.message : String(err)}` }),
          );
        }
      } else {
        // bf16 bits into one reused array: encodeDone copies them before anything can yield.
        const bits = g.gradients === "bf16" ? f32ToBf16(grad.grads, (bf16Bits = bf16Bits?.length === grad.grads.length ? bf16Bits : new Uint16Array(grad.grads.length))) : grad.grads;
        won = await store(g, encodeDone(head, bits));
      }
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
      if (gradOut) gradBuffers.push(gradOut);
      if (idle.length < concurrency && conn.status === "ready") idle.push(conn);
      else if (!all.includes(conn)) conn.disconnect();
    }
  };

  /** A BullMQ Worker running the processor on one queue (the shared one, or a partition's). */
  const consume = (name: string): Worker => {
    const w = new Worker(name, processor, {
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
    w.on("error", (err) => log("worker_error", { message: err.message }));
    w.on("stalled", (jobId) => log("stalled", { jobId }));
    return w;
  };
  const worker = consume(GRAD_QUEUE);
  await worker.waitUntilReady();
  // Partition slots: a consumer (and a Queue for checkWaiting) per partition this worker holds.
  const consumers = new Map<string, Worker>();
  const slots = new PartitionSlots({
    redis,
    keys: keysFor(o.prefix),
    id,
    leaseMs: o.lockMs ?? 30_000,
    start: (runId, p) => {
      const name = partitionQueue(runId, p);
      queues.set(name, new Queue(name, { connection: { url: o.redisUrl }, prefix: o.prefix }));
      consumers.set(name, consume(name));
    },
    stop: async (runId, p) => {
      const name = partitionQueue(runId, p);
      await consumers.get(name)?.close();
      await queues.get(name)?.close();
      consumers.delete(name);
      queues.delete(name);
    },
    log,
  });
  await slots.run();
  return {
    id,
    worker,
    stats,
    async close() {
      await slots.close();
      await worker.close();
      await queue.close();
      for (const c of [...all, ...idle]) c.disconnect();
      for (const s of sources) s.close();
      ownNodes?.nodes.close();
    },
  };
}

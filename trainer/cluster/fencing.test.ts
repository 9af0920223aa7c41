// Fencing (coordinator.ts): the lease carries an epoch (INCR on acquire), every coordinator write
// that matters is a script refused once the epoch moved, and workers drop jobs of an older epoch.
// Against a redis-server started here (or REDIS_URL) and real `meridian worker` processes; the
// takeover test pauses a real `meridian train --cluster` with SIGSTOP past its lease.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seededNormal } from "../../shared/random";
import { onJsonLines } from "../../dev/json-lines";
import { spawnWorker, type WorkerProcess } from "../../dev/workers";
import { startRedis, type TestRedis } from "../../dev/redis";
import { TRAIN_DEFAULTS, runTrainCommand, type TrainCommandOptions } from "../commands/train";
import { FileCheckpointStore, RedisCheckpointStore } from "../train/checkpoint";
import { silentEvents } from "../train/events";
import { splitFingerprint } from "../train/loop";
import { initParams } from "../train/model";
import { BatchPlanner } from "../train/plan";
import { selectBackend } from "../train/backend";
import { openRowSource } from "../shards/sources";
import { FsStore } from "../shards/store/fs";
import { writeShards } from "../shards/writer";
import { ClusterGradients, LeaseLostError } from "./coordinator";
import { GRAD_QUEUE, keysFor, type GradJob } from "./protocol";
import { mlp } from "../train/arch";

const rb0 = (events: { event: string; resumedFrom?: number | null }[]) => events.find((e) => e.event === "run_start")?.resumedFrom;
const tmp = mkdtempSync(join(tmpdir(), "meridian-fencing-"));
let redis: TestRedis;
let admin: Redis;
const started: WorkerProcess[] = [];
const coordinators: ChildProcess[] = [];

const F = 24;
const sizes = [F, 32, 4];
/** Four Gaussian blobs in 24 dimensions (as cluster.test.ts). */
function blobs(n: number, seed = 11) {
  const normal = seededNormal(seed);
  const centers = Array.from({ length: 4 }, () => Array.from({ length: F }, () => normal() * 1.5));
  const x = new Float32Array(n * F);
  const y = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    y[r] = r % 4;
    for (let f = 0; f < F; f++) x[r * F + f] = centers[r % 4]![f]! + normal();
  }
  return { x, y, rows: n };
}
const train = blobs(640);

beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url);
  await selectBackend("auto");
}, 60_000);

afterAll(async () => {
  for (const p of coordinators) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
  await Promise.all(started.map((w) => w.stop()));
  admin?.disconnect();
  await redis?.stop();
});

describe("fencing", () => {
  const prefix = () => `${redis.prefix}-f`;

  const csv = join(tmp, "blobs.csv");
  const labels = ["a", "b", "c", "d"];
  const lines = [`${Array.from({ length: F }, (_, i) => `f${i}`).join(",")},label`];
  for (let r = 0; r < train.rows; r++) lines.push(`${Array.from(train.x.subarray(r * F, (r + 1) * F)).join(",")},${labels[train.y[r]!]}`);
  const writeCsv = () => writeFileSync(csv, lines.join("\n") + "\n");
  const args = (out: string) => [
    "train", "--dataset", `csv:${csv}`, "--out", out, "--json", "--cluster", "--prefix", prefix(), "--shards", "2",
    "--epochs", "8", "--batch-size", "32", "--hidden", "16", "--checkpoint-every", "10", "--backend", "auto", "--lease-ms", "1000",
  ];
  type Ev = { event: string; step?: number; resumedFrom?: number | null; totalSteps?: number; finished?: string; takeover?: string };
  const start = (out: string, onEvent: (e: Ev, p: ChildProcess) => void = () => {}, argv = args(out)) => {
    const p = spawn(process.execPath, ["--import", "tsx", "cli/meridian.ts", ...argv], { env: { ...process.env, REDIS_URL: redis.url }, stdio: ["ignore", "pipe", "pipe"] });
    coordinators.push(p);
    const events: Ev[] = [];
    let stderr = "";
    p.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    onJsonLines<Ev>(p.stdout!, (e) => {
      events.push(e);
      onEvent(e, p);
    });
    const done = new Promise<{ code: number | null; signal: string | null; events: Ev[]; stderr: () => string }>((resolve) =>
      p.on("close", (code, signal) => resolve({ code, signal, events, stderr: () => stderr })),
    );
    return { p, events, done, stderr: () => stderr };
  };


  /** The same run in-process, without interruption: the reference model bytes. */
  const reference = async (dir: string): Promise<Buffer> => {
    const opts: TrainCommandOptions = {
      ...TRAIN_DEFAULTS,
      dataset: `csv:${csv}`, out: dir, json: true, cluster: false, shards: 2, epochs: 8, batchSize: 32, hidden: [16],
      checkpointEvery: 0, backend: "auto", fresh: false, push: false, promote: false,
    };
    await runTrainCommand(opts, silentEvents);
    return readFileSync(join(dir, "model.onnx"));
  };

  beforeAll(async () => {
    writeCsv();
    started.push(...(await Promise.all([0, 1].map(() => spawnWorker({ redisUrl: redis.url, prefix: prefix(), args: ["--backend", "auto", "--lock-ms", "3000"] })))));
  }, 90_000);

  it("writes are refused once the epoch moved, and workers drop jobs of an older epoch", async () => {
    const runId = "fence-unit";
    const keys = keysFor(prefix());
    const c = await ClusterGradients.open({
      redisUrl: redis.url, prefix: prefix(), runId, arch: mlp(sizes), train, features: F,
      dataFingerprint: splitFingerprint(train, F), leaseMs: 1000,
    });
    try {
      expect(c.leaseEpoch).toBe(1);
      expect(await admin.get(keys.lease(runId))).toMatch(/^1:/);
      const store = new RedisCheckpointStore(c.connection, prefix(), 60, c.fencedWrites);
      const params = initParams(sizes, 3);
      const ckpt = { runId, step: 1, params, opt: { t: 0, m: new Float32Array(0), v: new Float32Array(0) }, savedAt: "now" };
      await store.save(ckpt); // holds the epoch: lands
      expect((await store.load(runId))?.step).toBe(1);

      // Another coordinator takes the run (what ACQUIRE does after the lease expired).
      await admin.del(keys.lease(runId));
      expect(await admin.incr(keys.epoch(runId))).toBe(2);
      // The weights publish is refused: its staged copy is discarded and nothing is published.
      const plan = new BatchPlanner(train.rows, 64, 3, 2).plan(0);
      await expect(c.compute(params, plan)).rejects.toBeInstanceOf(LeaseLostError);
      expect((await admin.keys(`${prefix()}:run:${runId}:*`)).filter((k) => /:stage$|:w:\d+$/.test(k))).toEqual([]);
      await expect(store.save({ ...ckpt, step: 2 })).rejects.toThrow(/^lost the lease: epoch moved from 1 to 2 /);
      expect((await store.load(runId))?.step).toBe(1); // not overwritten
      // Checkpoints on disk (--checkpoint-dir) are refused the same way.
      await expect(new FileCheckpointStore(join(tmp, "fenced-ckpt"), c.fileFence).save({ ...ckpt, step: 2 })).rejects.toThrow(/^lost the lease: epoch moved from 1 to 2 /);
      // A job of epoch 1 reaching a worker now: dropped, with a log line.
      const queue = new Queue(GRAD_QUEUE, { connection: { url: redis.url }, prefix: prefix() });
      try {
        const job: GradJob = {
          v: 2, runId, step: 7, shard: 0, attempt: 0, sizes,
          weightsKey: `${prefix()}:run:${runId}:x:w:7`, claimKey: `${prefix()}:run:${runId}:x:c:7:0`, doneKey: `${prefix()}:run:${runId}:x:done:7`,
          data: keys.data(splitFingerprint(train, F)), rows: [0, 1, 2], waitMs: 5000,
          lease: { key: keys.lease(runId), session: "1:x", epoch: 1, epochKey: keys.epoch(runId) }, ttlSeconds: 60, gradients: "fp32",
        };
        await queue.add("gradient", job, { removeOnComplete: true });
        const until = Date.now() + 10_000;
        // (step 7: the refused compute's own jobs of step 0 are dropped the same way)
        const dropped = () => started.flatMap((w) => w.events).find((e) => e.event === "stale_epoch" && e.step === 7);
        while (!dropped() && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
        expect(dropped()).toMatchObject({ epoch: 1, current: 2, step: 7, shard: 0 });
        expect(await admin.exists(job.doneKey)).toBe(0);
      } finally {
        await queue.close();
      }
    } finally {
      await c.close();
    }
  });

  it("a coordinator paused past its lease is refused after SIGCONT and exits; the second coordinator's run equals an uninterrupted one", async () => {
    // A: paused (SIGSTOP) once it saved a checkpoint at step >= 30.
    let paused: () => void;
    const pausedAt = new Promise<void>((r) => (paused = r));
    let stopped = false;
    const a = start(join(tmp, "a"), (e, p) => {
      if (!stopped && e.event === "checkpoint" && e.step! >= 30) {
        stopped = true;
        p.kill("SIGSTOP");
        paused();
      }
    });
    await Promise.race([pausedAt, a.done.then((r) => Promise.reject(new Error(`A ended before pausing: ${r.code} ${r.stderr()}`)))]);

    // B: the same command (same run id) waits out A's lease and resumes from A's checkpoint.
    let bStepped: () => void;
    const bStep = new Promise<void>((r) => (bStepped = r));
    const b = start(join(tmp, "b"), (e) => {
      if (e.event === "step") bStepped();
    });
    await Promise.race([bStep, b.done.then((r) => Promise.reject(new Error(`B ended before a step: ${r.code} ${r.stderr()}`)))]);

    // A wakes up: its next write (renewal, weights publish or checkpoint) is refused; it stops.
    a.p.kill("SIGCONT");
    const ra = await a.done;
    expect(ra.code, ra.stderr()).toBe(1);
    const errLines = ra.stderr().trim().split("\n");
    console.log(`paused coordinator after SIGCONT: exit ${ra.code}, "${errLines[errLines.length - 1]}"; standby resumed at step ${rb0(b.events)}`);
    expect(errLines[errLines.length - 1]).toMatch(/lost the lease: epoch moved from 1 to 2 /);
    expect(a.events.some((e) => e.event === "evaluation")).toBe(false);

    const rb = await b.done;
    expect(rb.code, rb.stderr()).toBe(0);
    const bStart = rb.events.find((e) => e.event === "run_start")!;
    expect(bStart.resumedFrom).toBeGreaterThanOrEqual(30);
    const steps = rb.events.filter((e) => e.event === "step");
    expect(steps[0]!.step).toBe(bStart.resumedFrom! + 1);
    expect(steps[steps.length - 1]!.step).toBe(bStart.totalSteps);

    // The same run without interruption (in-process, 2 shards): identical model bytes.
    expect(readFileSync(join(tmp, "b", "model.onnx")).equals(await reference(join(tmp, "ref")))).toBe(true);
  }, 180_000);

  it("coordinator --standby takes over a run whose coordinator died, from the spec and checkpoint in Redis", async () => {
    const standby = start(join(tmp, "unused"), () => {}, ["coordinator", "--standby", "--json", "--prefix", prefix(), "--poll-ms", "200", "--once"]);
    // A: killed (SIGKILL) once it saved a checkpoint at step >= 30; the standby has only Redis to go on.
    let killed = false;
    const a = start(join(tmp, "sa"), (e, p) => {
      if (!killed && e.event === "checkpoint" && e.step! >= 30) {
        killed = true;
        p.kill("SIGKILL");
      }
    });
    const ra = await a.done;
    expect(ra.signal, ra.stderr()).toBe("SIGKILL");
    const rs = await standby.done;
    expect(rs.code, rs.stderr()).toBe(0);
    const taken = rs.events.find((e) => e.takeover !== undefined);
    expect(taken).toBeDefined();
    const sStart = rs.events.find((e) => e.event === "run_start")!;
    expect(sStart.resumedFrom).toBeGreaterThanOrEqual(30);
    expect(rs.events.some((e) => e.finished === taken!.takeover)).toBe(true);
    expect(await admin.exists(keysFor(prefix()).spec(taken!.takeover!))).toBe(0);
    // It wrote the run's --out (from the spec): the uninterrupted run's model bytes.
    expect(readFileSync(join(tmp, "sa", "model.onnx")).equals(await reference(join(tmp, "ref2")))).toBe(true);
  }, 180_000);

  it("a partitioned shard-set run (--partitions 2) whose coordinator died is taken over by a standby: the uninterrupted run's model bytes", async () => {
    const set = join(tmp, "blob-set");
    await writeShards(await openRowSource(`csv:${csv}`, { splitSeed: 1 }), new FsStore(set), { shardBytes: 2048, splitSeed: 1, testFraction: 0.2 });
    const common = ["--shard-set", set, "--partitions", "2", "--epochs", "3", "--batch-size", "32", "--hidden", "16", "--backend", "auto"];
    const standby = start(join(tmp, "unused"), () => {}, ["coordinator", "--standby", "--json", "--prefix", prefix(), "--poll-ms", "200", "--once"]);
    let killed = false;
    const a = start(
      join(tmp, "pa"),
      (e, p) => {
        if (!killed && e.event === "checkpoint" && e.step! >= 10) {
          killed = true;
          p.kill("SIGKILL");
        }
      },
      ["train", ...common, "--out", join(tmp, "pa"), "--json", "--cluster", "--prefix", prefix(), "--checkpoint-every", "5", "--lease-ms", "1000"],
    );
    expect((await a.done).signal).toBe("SIGKILL");
    const rs = await standby.done;
    expect(rs.code, rs.stderr()).toBe(0);
    expect(rs.events.find((e) => e.event === "run_start")!.resumedFrom).toBeGreaterThanOrEqual(10);
    const ref = join(tmp, "pref");
    await runTrainCommand(
      { ...TRAIN_DEFAULTS, shardSet: set, partitions: 2, out: ref, json: true, cluster: false, epochs: 3, batchSize: 32, hidden: [16], checkpointEvery: 0, backend: "auto", fresh: false, push: false, promote: false },
      silentEvents,
    );
    expect(readFileSync(join(tmp, "pa", "model.onnx")).equals(readFileSync(join(ref, "model.onnx")))).toBe(true);
  }, 180_000);
});

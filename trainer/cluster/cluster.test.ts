// Cluster training through BullMQ against a real redis-server (started here on a free port unless
// REDIS_URL is set) and real `meridian worker` processes: the averaged 2-worker step equals the
// single-process step, runs are reproducible, a killed worker's job is retried (stalled-job
// check) or re-issued (backup task), a killed coordinator resumes from its checkpoint, and a
// Redis that is down gives a clear error.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gaussianBlobs } from "../../dev/blobs";
import { Queue } from "bullmq";
import { ClusterGradients } from "./coordinator";
import { GRAD_QUEUE } from "./protocol";
import { RedisUnavailableError, probeRedis } from "./redis";
import { onJsonLines } from "../../dev/json-lines";
import { spawnWorker, type WorkerProcess } from "../../dev/workers";
import { TRAIN_DEFAULTS, runTrainCommand, type TrainCommandOptions } from "../commands/train";
import { selectBackend } from "../train/backend";
import { LocalGradients, splitFingerprint, train, type TrainConfig } from "../train/loop";
import { averageGradients, computeGradient, gatherRows, initParams } from "../train/model";
import { BatchPlanner } from "../train/plan";
import { silentEvents } from "../train/events";
import { freePort, startRedis, type TestRedis } from "../../dev/redis";
import { mlp } from "../train/arch";

const tmp = mkdtempSync(join(tmpdir(), "meridian-cluster-"));
let redis: TestRedis;
const started: WorkerProcess[] = [];

const data = gaussianBlobs({ features: 24, classes: 4, train: 640, test: 160, spread: 1.5, seed: 11 });
const sizes = [24, 32, 4];
const baseCfg: TrainConfig = {
  arch: mlp(sizes),
  epochs: 3,
  batchSize: 64,
  optimizer: { kind: "adam", lr: 0.01 },
  seed: 3,
  shards: 2,
  checkpointEvery: 0,
  evalEachEpoch: false,
};

async function workers(prefix: string, args: string[][]): Promise<WorkerProcess[]> {
  const ws = await Promise.all(args.map((a) => spawnWorker({ redisUrl: redis.url, prefix, args: ["--backend", "auto", ...a] })));
  started.push(...ws);
  return ws;
}

function cluster(prefix: string, runId: string, over: Partial<Parameters<typeof ClusterGradients.open>[0]> = {}): Promise<ClusterGradients> {
  return ClusterGradients.open({
    redisUrl: redis.url,
    prefix,
    runId,
    arch: mlp(sizes),
    train: data.train,
    features: data.features,
    dataFingerprint: splitFingerprint(data.train, data.features),
    leaseMs: 1000,
    ...over,
  });
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

beforeAll(async () => {
  redis = await startRedis();
  await selectBackend("auto");
  console.log(`redis: ${redis.url} (${redis.owned ? "started by this test" : "from REDIS_URL"}), prefix ${redis.prefix}`);
}, 60_000);

afterAll(async () => {
  await Promise.all(started.map((w) => w.stop()));
  await redis?.stop();
});

describe("data-parallel step over 2 workers", () => {
  const prefix = () => `${redis.prefix}-a`;
  let pair: WorkerProcess[];

  beforeAll(async () => {
    pair = await workers(prefix(), [["--lock-ms", "3000"], ["--lock-ms", "3000"]]);
  }, 90_000);

  it("the averaged gradient of 2 shards equals the whole-batch gradient computed in-process", async () => {
    const c = await cluster(prefix(), "equal-grad");
    try {
      const params = initParams(sizes, 3);
      const plan = new BatchPlanner(data.train.rows, 64, 3, 2).plan(0);
      const parts = await c.compute(params, plan);
      expect(parts.map((p) => p.n)).toEqual([32, 32]);
      for (const p of parts) expect(pair.map((w) => w.id)).toContain(p.worker);
      const rows = Int32Array.from([...plan.shards[0]!, ...plan.shards[1]!]);
      const single = computeGradient(sizes, params, gatherRows(data.train.x, 24, rows), Int32Array.from(rows, (r) => data.train.y[r]!));
      const avg = averageGradients(parts);
      console.log(`2-worker vs single-process gradient: max |Δ| ${maxAbsDiff(avg.grads, single.grads).toExponential(2)}`);
      expect(maxAbsDiff(avg.grads, single.grads)).toBeLessThan(1e-6);
      expect(Math.abs(avg.loss - single.loss)).toBeLessThan(1e-6);
      expect(avg.correct).toBe(single.correct);
    } finally {
      await c.close();
    }
  });

  it("one applied step equals the single-process step, and 2 in-process shards bit for bit", async () => {
    const step = async (cfg: TrainConfig) => {
      const c = await cluster(prefix(), `equal-step-${cfg.optimizer.kind}`);
      try {
        const viaCluster = await train({ cfg, data, gradients: c, events: silentEvents });
        const single = await train({ cfg: { ...cfg, shards: 1 }, data, gradients: new LocalGradients(mlp(sizes), data.train), events: silentEvents });
        const local2 = await train({ cfg, data, gradients: new LocalGradients(mlp(sizes), data.train), events: silentEvents });
        expect(viaCluster.steps).toBe(1);
        expect(sameBits(viaCluster.params, local2.params)).toBe(true);
        return maxAbsDiff(viaCluster.params, single.params);
      } finally {
        await c.close();
      }
    };
    // SGD: the update is lr·g, so the weights differ by lr × the float rounding of the average.
    const sgd = await step({ ...baseCfg, maxSteps: 1, optimizer: { kind: "sgd", lr: 0.1 } });
    expect(sgd).toBeLessThan(1e-7);
    // Adam's first update is lr·g/(|g|+ε): for |g| near ε a 1e-7 rounding difference in g moves
    // it by a visible fraction of lr, so the bound is relative to lr.
    const adam = await step({ ...baseCfg, maxSteps: 1 });
    console.log(`one step, 2 workers vs 1 process: max |Δw| sgd ${sgd.toExponential(2)}, adam ${adam.toExponential(2)} (lr 0.01)`);
    expect(adam).toBeLessThan(1e-3 * 0.01);
  });

  it("a fixed seed reproduces a cluster run exactly", async () => {
    const cfg = { ...baseCfg, maxSteps: 15 };
    const run = async () => {
      const c = await cluster(prefix(), "repro");
      try {
        return await train({ cfg, data, gradients: c, events: silentEvents, runId: "repro" });
      } finally {
        await c.close();
      }
    };
    const a = await run();
    const b = await run();
    const local = await train({ cfg, data, gradients: new LocalGradients(mlp(sizes), data.train), events: silentEvents });
    expect(a.steps).toBe(15);
    expect(sameBits(a.params, b.params)).toBe(true);
    expect(sameBits(a.params, local.params)).toBe(true);
  });

  it("a killed coordinator resumes from its checkpoint (CLI, Redis checkpoints)", async () => {
    const csv = join(tmp, "blobs.csv");
    const F = data.features;
    const lines = [`${Array.from({ length: F }, (_, i) => `f${i}`).join(",")},label`];
    for (let r = 0; r < data.train.rows; r++) {
      lines.push(`${Array.from(data.train.x.subarray(r * F, (r + 1) * F)).join(",")},${data.labels[data.train.y[r]!]}`);
    }
    writeFileSync(csv, lines.join("\n") + "\n");
    const args = (out: string) => [
      "train", "--dataset", `csv:${csv}`, "--out", out, "--json", "--cluster", "--prefix", prefix(), "--shards", "2",
      "--epochs", "8", "--batch-size", "32", "--hidden", "16", "--checkpoint-every", "10", "--backend", "auto",
    ];
    type Ev = { event: string; step?: number; resumedFrom?: number | null; totalSteps?: number };
    const run = (out: string, killAtCheckpoint?: number) =>
      new Promise<{ code: number | null; signal: string | null; events: Ev[]; stderr: string }>((resolve) => {
        const p = spawn(process.execPath, ["--import", "tsx", "cli/meridian.ts", ...args(out)], {
          env: { ...process.env, REDIS_URL: redis.url },
          stdio: ["ignore", "pipe", "pipe"],
        });
        const events: Ev[] = [];
        let stderr = "";
        p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        onJsonLines<Ev>(p.stdout, (e) => {
          events.push(e);
          if (killAtCheckpoint !== undefined && e.event === "checkpoint" && e.step! >= killAtCheckpoint) p.kill("SIGKILL");
        });
        p.on("close", (code, signal) => resolve({ code, signal, events, stderr }));
      });

    const out = join(tmp, "restart");
    const first = await run(out, 30);
    expect(first.signal, first.stderr).toBe("SIGKILL");
    const lastCheckpoint = Math.max(...first.events.filter((e) => e.event === "checkpoint").map((e) => e.step!));
    expect(lastCheckpoint).toBeGreaterThanOrEqual(30);

    const second = await run(out);
    expect(second.code, second.stderr).toBe(0);
    const start = second.events.find((e) => e.event === "run_start")!;
    // The last checkpoint it announced, or one saved just before the kill landed.
    expect(start.resumedFrom).toBeGreaterThanOrEqual(lastCheckpoint);
    expect(start.resumedFrom! % 10).toBe(0);
    const steps = second.events.filter((e) => e.event === "step");
    expect(steps[0]!.step).toBe(start.resumedFrom! + 1);
    expect(steps[steps.length - 1]!.step).toBe(start.totalSteps);

    // The same run without interruption (in-process, 2 shards): identical model bytes.
    const ref = join(tmp, "restart-ref");
    const opts: TrainCommandOptions = {
      ...TRAIN_DEFAULTS,
      dataset: `csv:${csv}`, out: ref, json: true, cluster: false, shards: 2, epochs: 8, batchSize: 32, hidden: [16],
      checkpointEvery: 0, backend: "auto", fresh: false, push: false, promote: false,
    };
    await runTrainCommand(opts, silentEvents);
    expect(readFileSync(join(out, "model.onnx")).equals(readFileSync(join(ref, "model.onnx")))).toBe(true);
  });
});

describe("fault tolerance", () => {
  const prefix = () => `${redis.prefix}-b`;

  it("a worker killed in the middle of a job: its job is retried after the lock expires (stalled-job check)", async () => {
    const [slow, steady] = await workers(prefix(), [
      ["--slow-ms", "250", "--lock-ms", "1500", "--stalled-ms", "500"],
      ["--lock-ms", "1500", "--stalled-ms", "500"],
    ]);
    const cfg = { ...baseCfg, maxSteps: 20 };
    // backups off: recovery can only come from BullMQ's stalled-job retry
    const c = await cluster(prefix(), "kill-stalled", { backupFactor: 0 });
    const queue = new Queue(GRAD_QUEUE, { connection: { url: redis.url }, prefix: prefix() });
    let killedHolding: string | undefined;
    let r;
    try {
      r = await train({
        cfg,
        data,
        gradients: c,
        events: silentEvents,
        afterStep: async (step) => {
          if (step !== 6) return;
          // Kill the slow worker while it holds a job of the next step (BullMQ "active", locked by it).
          const until = Date.now() + 10_000;
          while (!killedHolding && Date.now() < until) {
            // (only a job of the coming step: under load an early job can linger as a zombie
            // after a spurious stall, which is harmless but not what this test is about)
            const mine = (await queue.getActive()).find((j) => j.processedBy === slow!.id && j.data?.step >= step);
            if (mine) {
              slow!.kill();
              killedHolding = String(mine.id);
            } else await new Promise((res) => setTimeout(res, 10));
          }
        },
      });
    } finally {
      await c.close();
      await queue.close();
    }
    const reference = await train({ cfg, data, gradients: new LocalGradients(mlp(sizes), data.train), events: silentEvents });
    expect(killedHolding).toBeDefined();
    expect(r.steps).toBe(20);
    const stalled = steady!.events.filter((e) => e.event === "stalled").map((e) => e.jobId);
    expect(stalled).toContain(killedHolding);
    const lastLoss = r.epochs[r.epochs.length - 1]!.trainLoss;
    const refLoss = reference.epochs[reference.epochs.length - 1]!.trainLoss;
    expect(Math.abs(lastLoss - refLoss)).toBeLessThan(1e-5);
    expect(maxAbsDiff(r.params, reference.params)).toBeLessThan(1e-6);
    expect(c.stats.backups).toBe(0);
  });

  it("a slow worker's task is re-issued after the deadline and the first result wins", async () => {
    await workers(prefix(), [["--slow-ms", "1500", "--lock-ms", "5000"]]); // joins the steady worker
    const cfg = { ...baseCfg, maxSteps: 8 };
    const c = await cluster(prefix(), "backup", { backupMinMs: 200, backupFactor: 4, firstDeadlineMs: 200 });
    const t0 = performance.now();
    let r;
    try {
      r = await train({ cfg, data, gradients: c, events: silentEvents });
    } finally {
      await c.close();
    }
    const seconds = (performance.now() - t0) / 1000;
    console.log(`8 steps with a 1.5 s-per-job worker: ${seconds.toFixed(1)} s, ${c.stats.backups} backup tasks, ${c.stats.lateOrDuplicate} late results ignored`);
    const reference = await train({ cfg, data, gradients: new LocalGradients(mlp(sizes), data.train), events: silentEvents });
    expect(r.steps).toBe(8);
    expect(c.stats.backups).toBeGreaterThan(0);
    expect(seconds).toBeLessThan(8 * 1.5); // without backups every step would wait for the slow worker
    expect(sameBits(r.params, reference.params)).toBe(true);
  });
});

describe("Redis down", () => {
  it("gives a clear error from the coordinator, the train command and the worker", async () => {
    const port = await freePort(); // nothing listens there
    const url = `redis://127.0.0.1:${port}`;
    await expect(probeRedis(url)).rejects.toBeInstanceOf(RedisUnavailableError);
    await expect(probeRedis(url)).rejects.toThrow(new RegExp(`^cannot reach Redis at redis://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
    await expect(cluster("x", "down", { redisUrl: url })).rejects.toThrow(/cannot reach Redis/);
    const opts: TrainCommandOptions = {
      ...TRAIN_DEFAULTS,
      dataset: "mnist", limit: 200, out: join(tmp, "down"), json: true, cluster: true, redisUrl: url,
      backend: "auto", fresh: false, push: false, promote: false,
    };
    await expect(runTrainCommand(opts, silentEvents)).rejects.toThrow(`cannot reach Redis at ${url}: connect ECONNREFUSED 127.0.0.1:${port}`);
    await expect(spawnWorker({ redisUrl: url, prefix: "x" })).rejects.toThrow(/cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+: connect ECONNREFUSED/);
  });
});

// `--gradients bf16`: workers send their gradients as bfloat16 (round to nearest even), the
// coordinator decodes before averaging; the weights broadcast stays float32. Against a real
// redis-server (started here on a free port unless REDIS_URL is set) and real `meridian worker`
// processes: a bf16 run lands on the very bits of the in-process run that rounds each shard's
// gradient the same way, its held-out accuracy is within a stated tolerance of the fp32 run on the
// same seed, its gradient records are half the bytes, and a worker that sends the wrong encoding
// (or cannot read the job's) stops the run with the reason.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gaussianBlobs } from "../../dev/blobs";
import { startRedis, type TestRedis } from "../../dev/redis";
import { spawnWorker, type WorkerProcess } from "../../dev/workers";
import { TRAIN_DEFAULTS, runTrainCommand, type TrainCommandOptions } from "../commands/train";
import { selectBackend } from "../train/backend";
import { decodeCheckpoint, encodeCheckpoint, type CheckpointStore } from "../train/checkpoint";
import { silentEvents } from "../train/events";
import type { GradientEncoding } from "../train/gradient-encoding";
import { LocalGradients, runIdFor, splitFingerprint, train, type TrainConfig } from "../train/loop";
import { initParams } from "../train/model";
import { BatchPlanner } from "../train/plan";
import { ClusterGradients } from "./coordinator";
import { GRAD_QUEUE, decodeDone, encodeDone } from "./protocol";
import { mlp } from "../train/arch";

/** Held-out accuracy of a bf16 run may differ from the fp32 run's on the same seed by at most this. */
const ACCURACY_TOLERANCE = 0.02;

let redis: TestRedis;
const started: WorkerProcess[] = [];

/** Four overlapping Gaussian blobs in 24 dimensions: hard enough that accuracy is not ~100%. */
const data = gaussianBlobs({ features: 24, classes: 4, train: 1024, test: 512, spread: 0.3, seed: 5 });
const sizes = [24, 32, 4];
const PARAMS = 24 * 32 + 32 + 32 * 4 + 4;
const cfg: TrainConfig = {
  arch: mlp(sizes),
  epochs: 3,
  batchSize: 64,
  optimizer: { kind: "adam", lr: 0.01 },
  seed: 3,
  shards: 2,
  checkpointEvery: 0,
  evalEachEpoch: false,
};
const prefix = () => `${redis.prefix}-bf16`;

function cluster(runId: string, gradients: GradientEncoding, over: { prefix?: string } = {}): Promise<ClusterGradients> {
  return ClusterGradients.open({
    redisUrl: redis.url,
    prefix: over.prefix ?? prefix(),
    runId,
    arch: mlp(sizes),
    train: data.train,
    features: data.features,
    dataFingerprint: splitFingerprint(data.train, data.features),
    leaseMs: 1000,
    gradients,
  });
}

const sameBits = (a: Float32Array, b: Float32Array): boolean => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

beforeAll(async () => {
  redis = await startRedis();
  await selectBackend("auto");
  started.push(...(await Promise.all([0, 1].map(() => spawnWorker({ redisUrl: redis.url, prefix: prefix(), args: ["--backend", "auto", "--lock-ms", "5000"] })))));
}, 90_000);

afterAll(async () => {
  await Promise.all(started.map((w) => w.stop()));
  await redis?.stop();
});

describe("done records", () => {
  it("carry bf16 gradients as 2 bytes a value and decode them exactly; fp32 stays bit-exact", () => {
    const g = Float32Array.of(1, -2.5, 1.00390625, 3.4e38, 1e-40, -0);
    const head = { shard: 1, attempt: 0, worker: "w", loss: 0.5, correct: 3, n: 6 };
    const f = decodeDone(encodeDone({ ...head, encoding: "fp32" }, g));
    expect(f.rec.encoding).toBe("fp32");
    expect(sameBits(f.grads!, g)).toBe(true);
    expect(f.payloadBytes).toBe(24);
    const b = decodeDone(encodeDone({ ...head, encoding: "bf16" }, Uint16Array.of(0x3f80, 0xc020, 0x3f80, 0x7f80, 0x0001, 0x8000)));
    expect(b.payloadBytes).toBe(12);
    expect(Array.from(b.grads!)).toEqual([1, -2.5, 1, Infinity, new Float32Array(Uint32Array.of(0x00010000).buffer)[0], -0]);
    expect(() => encodeDone({ ...head, encoding: "bf16" }, g)).toThrow(/fp32 payload under encoding bf16/);
    // A record from before encodings existed: fp32.
    expect(decodeDone(encodeDone(head, g)).rec.encoding).toBeUndefined();
  });

  it("run ids: bf16 differs from fp32, and fp32 ids are those from before --gradients existed", () => {
    const fp = splitFingerprint(data.train, data.features);
    expect(runIdFor({ ...cfg, gradients: "fp32" }, fp)).toBe(runIdFor(cfg, fp));
    expect(runIdFor({ ...cfg, gradients: "bf16" }, fp)).not.toBe(runIdFor(cfg, fp));
  });
});

describe("checkpoints", () => {
  it("record the encoding, and a run refuses a checkpoint made with another one", async () => {
    const params = initParams(sizes, 3);
    const ck = { runId: "r", step: 5, params, opt: { t: 5, m: new Float32Array(PARAMS), v: new Float32Array(PARAMS) }, savedAt: "now" };
    expect(decodeCheckpoint(encodeCheckpoint({ ...ck, gradients: "bf16" })).gradients).toBe("bf16");
    expect(decodeCheckpoint(encodeCheckpoint(ck)).gradients).toBeUndefined(); // from before: fp32
    const store: CheckpointStore = { where: "memory", load: async () => ({ ...ck, gradients: "bf16" }), save: async () => {}, clear: async () => {} };
    await expect(train({ cfg, data, gradients: new LocalGradients(mlp(sizes), data.train), events: silentEvents, checkpoints: store, runId: "r" })).rejects.toThrow(
      "checkpoint of run r was trained with bf16 gradients, this run uses fp32 (pass --fresh to start over)",
    );
  });
});

describe("--gradients bf16 over 2 workers", () => {
  it("same bits as the in-process bf16 reference; held-out accuracy within tolerance of fp32; half the gradient bytes", async () => {
    const run = async (gradients: GradientEncoding) => {
      const c = await cluster(`acc-${gradients}`, gradients);
      try {
        const r = await train({ cfg: { ...cfg, gradients }, data, gradients: c, events: silentEvents });
        return { r, traces: [...c.traces], stats: { ...c.stats } };
      } finally {
        await c.close();
      }
    };
    const fp32 = await run("fp32");
    const bf16 = await run("bf16");
    const refBf16 = await train({ cfg: { ...cfg, gradients: "bf16" }, data, gradients: new LocalGradients(mlp(sizes), data.train, "bf16"), events: silentEvents });
    const refFp32 = await train({ cfg, data, gradients: new LocalGradients(mlp(sizes), data.train), events: silentEvents });
    const steps = 3 * (1024 / 64);
    expect(bf16.r.steps).toBe(steps);
    // The wire path is exact given the rounding: workers' bf16 = rounding in-process.
    expect(sameBits(bf16.r.params, refBf16.params)).toBe(true);
    expect(sameBits(fp32.r.params, refFp32.params)).toBe(true);
    expect(sameBits(bf16.r.params, fp32.r.params)).toBe(false);

    // Accuracy cost on the same seed.
    const accFp32 = fp32.r.test.accuracy;
    const accBf16 = bf16.r.test.accuracy;
    let maxDw = 0;
    for (let i = 0; i < PARAMS; i++) maxDw = Math.max(maxDw, Math.abs(fp32.r.params[i]! - bf16.r.params[i]!));
    const lossFp32 = fp32.r.epochs.at(-1)!.trainLoss;
    const lossBf16 = bf16.r.epochs.at(-1)!.trainLoss;
    console.log(
      `held-out accuracy over ${data.test.rows} rows after ${steps} steps: fp32 ${(accFp32 * 100).toFixed(2)}%, bf16 ${(accBf16 * 100).toFixed(2)}% ` +
        `(Δ ${((accBf16 - accFp32) * 100).toFixed(2)} points; tolerance ${ACCURACY_TOLERANCE * 100}); last-epoch train loss ${lossFp32.toFixed(5)} vs ${lossBf16.toFixed(5)}; max |Δw| ${maxDw.toExponential(2)}`,
    );
    expect(accFp32).toBeGreaterThan(0.5); // learnable, far from 100%: the comparison means something
    expect(accFp32).toBeLessThan(0.99);
    expect(Math.abs(accBf16 - accFp32)).toBeLessThanOrEqual(ACCURACY_TOLERANCE);
    expect(Math.abs(lossBf16 - lossFp32)).toBeLessThan(0.02);

    // Bytes per step, as the coordinator received them from Redis.
    expect(fp32.traces).toHaveLength(steps);
    expect(bf16.traces).toHaveLength(steps);
    for (const t of fp32.traces) expect(t.gradientBytes).toBe(2 * PARAMS * 4);
    for (const t of bf16.traces) expect(t.gradientBytes).toBe(2 * PARAMS * 2);
    for (const t of [...fp32.traces, ...bf16.traces]) expect(t.weightsBytes).toBe(PARAMS * 4); // broadcast stays fp32
    const payloadRatio = bf16.stats.gradientBytes / fp32.stats.gradientBytes;
    const recordRatio = bf16.stats.recordBytes / fp32.stats.recordBytes;
    console.log(
      `gradient bytes per step: fp32 ${fp32.stats.gradientBytes / steps}, bf16 ${bf16.stats.gradientBytes / steps} (ratio ${payloadRatio}); ` +
        `whole done records incl. JSON headers ${Math.round(fp32.stats.recordBytes / steps)} vs ${Math.round(bf16.stats.recordBytes / steps)} (ratio ${recordRatio.toFixed(3)})`,
    );
    expect(payloadRatio).toBe(0.5);
    // Each record also carries a ~200-byte JSON header, the same for both.
    expect(recordRatio).toBeGreaterThan(0.5);
    expect(recordRatio).toBeLessThan(0.6);
  });

  it("the CLI: --gradients bf16 trains a cluster run under its own run id; without --cluster it is a usage error", async () => {
    const base: TrainCommandOptions = {
      ...TRAIN_DEFAULTS,
      // 280 digits: 240 train rows (mnist keeps the official 6:1 split), 8 full steps of 2 shards
      dataset: "mnist", limit: 280, out: "", json: true, cluster: true, redisUrl: redis.url, prefix: prefix(), shards: 2,
      epochs: 1, batchSize: 32, hidden: [16], checkpointEvery: 0, backend: "auto", fresh: false, push: false, promote: false,
      gradients: "bf16",
    };
    await expect(runTrainCommand({ ...base, cluster: false, out: "/nonexistent" }, silentEvents)).rejects.toThrow("--gradients bf16 applies to --cluster (in-process gradients never travel)");
    const out = mkdtempSync(join(tmpdir(), "meridian-bf16-"));
    const r = await runTrainCommand({ ...base, out }, silentEvents);
    expect(r.config.gradients).toBe("bf16");
    const fp = splitFingerprint(r.data.dataset!.train, r.data.features);
    expect(r.result.runId).toBe(runIdFor(r.config, fp));
    expect(r.result.runId).not.toBe(runIdFor({ ...r.config, gradients: "fp32" }, fp));
    const report = JSON.parse(readFileSync(join(out, "training.json"), "utf8"));
    expect(report.config.gradients).toBe("bf16");
    const params = 784 * 16 + 16 + 16 * 10 + 10;
    expect(report.cluster.gradientBytes).toBe(r.result.steps * 2 * params * 2);
  });

  it("a job whose encoding the worker does not know comes back as an error record at once", async () => {
    const queue = new Queue(GRAD_QUEUE, { connection: { url: redis.url }, prefix: prefix() });
    const conn = new Redis(redis.url);
    try {
      const doneKey = `${prefix()}:test:unknown-encoding:done`;
      const k = `${prefix()}:test:unknown-encoding`;
      const job = {
        v: 2, runId: "unknown-encoding", step: 0, shard: 0, attempt: 0, sizes, weightsKey: `${k}:w`, claimKey: `${k}:c`, doneKey,
        data: { x: `${k}:x`, y: `${k}:y`, meta: `${k}:meta` }, rows: [0, 1], waitMs: 1000, lease: { key: `${k}:lease`, session: "s" }, ttlSeconds: 60,
        gradients: "fp8", // a newer coordinator's encoding
      };
      await queue.add("gradient", job, { removeOnFail: true, attempts: 1 });
      const popped = await conn.blpopBuffer(doneKey, 20);
      expect(popped).not.toBeNull();
      const { rec } = decodeDone(popped![1]);
      expect(rec.error).toMatch(/^malformed gradient job \S+: gradients: /);
    } finally {
      await queue.close();
      conn.disconnect();
    }
  });
});

describe("a worker that sends the wrong encoding", () => {
  it("fp32 records (a worker from before --gradients) into a bf16 run stop it with the reason", async () => {
    const p = `${redis.prefix}-old`;
    const conn = new Redis(redis.url, { maxRetriesPerRequest: null });
    // Mimics a worker from before bf16: it ignores the job's `gradients` and pushes float32 with no encoding.
    const old = new Worker(
      GRAD_QUEUE,
      async (job) => {
        const g = job.data as { doneKey: string; shard: number; attempt: number };
        await conn.rpush(g.doneKey, encodeDone({ shard: g.shard, attempt: g.attempt, worker: "old-worker", loss: 1, correct: 0, n: 32 }, new Float32Array(PARAMS)));
      },
      { connection: { url: redis.url }, prefix: p, name: "old-worker" },
    );
    await old.waitUntilReady();
    const c = await cluster("mismatch", "bf16", { prefix: p });
    try {
      const plan = new BatchPlanner(data.train.rows, 64, 3, 2).plan(0);
      await expect(c.compute(initParams(sizes, 3), plan)).rejects.toThrow(
        /step 1, shard \d: worker old-worker sent fp32 gradients \(no encoding in its record: a worker from before --gradients bf16\?\), this run uses bf16/,
      );
    } finally {
      await c.close();
      await old.close();
      conn.disconnect();
    }
  });

  it("a source whose encoding differs from the run's config is refused before any step", async () => {
    await expect(train({ cfg: { ...cfg, gradients: "bf16" }, data, gradients: new LocalGradients(mlp(sizes), data.train), events: silentEvents })).rejects.toThrow(
      "the run is configured for bf16 gradients but its gradient source (in-process) delivers fp32",
    );
  });
});

// `--reduce replicated`: workers keep replicas and reduce the gradient in slices among themselves
// (allreduce.ts); no weights broadcast after the session's snapshot, no gradient reaches the
// coordinator. Against a real redis-server (started here unless REDIS_URL is set) and real
// `meridian worker` processes: the replicated run lands on the bits of the in-process run (fp32:
// the hub's bits too; bf16: the reference that also rounds the average), one worker serves two
// shards without deadlock, a killed worker's replacement starts from the snapshot, a diverged
// replica is caught by its checksum, and a restarted coordinator resumes from its checkpoint.
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gaussianBlobs } from "../../dev/blobs";
import { startRedis, type TestRedis } from "../../dev/redis";
import { spawnWorker, type WorkerProcess } from "../../dev/workers";
import { mlp } from "../train/arch";
import { selectBackend } from "../train/backend";
import { RedisCheckpointStore } from "../train/checkpoint";
import { silentEvents } from "../train/events";
import type { GradientEncoding } from "../train/gradient-encoding";
import { LocalGradients, runIdFor, splitFingerprint, train, type TrainConfig } from "../train/loop";
import type { ReduceMode } from "../train/reduce-mode";
import { powi } from "../train/optimizer";
import { sliceBounds } from "./allreduce";
import { ClusterGradients, type ClusterOptions } from "./coordinator";
import { startGradientWorker } from "./worker";

let redis: TestRedis;
const started: WorkerProcess[] = [];

const data = gaussianBlobs({ features: 20, classes: 3, train: 768, test: 256, spread: 0.4, seed: 7 });
const sizes = [20, 24, 3];
const arch = mlp(sizes);
const cfg: TrainConfig = {
  arch,
  epochs: 2,
  batchSize: 64,
  optimizer: { kind: "adam", lr: 0.01 },
  seed: 11,
  shards: 2,
  checkpointEvery: 0,
  evalEachEpoch: false,
};
const STEPS = 2 * (768 / 64);

const sameBits = (a: Float32Array, b: Float32Array): boolean => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

function cluster(prefix: string, runId: string, reduce: ReduceMode, gradients: GradientEncoding = "fp32", over: Partial<ClusterOptions> = {}): Promise<ClusterGradients> {
  return ClusterGradients.open({
    redisUrl: redis.url,
    prefix,
    runId,
    arch,
    train: data.train,
    features: data.features,
    dataFingerprint: splitFingerprint(data.train, data.features),
    leaseMs: 1000,
    gradients,
    reduce,
    optimizer: cfg.optimizer,
    snapshotEvery: 5,
    checksumEvery: 1,
    ...over,
  });
}

async function runOn(c: ClusterGradients, over: Partial<TrainConfig> = {}) {
  try {
    return await train({ cfg: { ...cfg, ...over }, data, gradients: c, events: silentEvents });
  } finally {
    await c.close();
  }
}

const reference = (over: Partial<TrainConfig> = {}) =>
  train({ cfg: { ...cfg, ...over }, data, gradients: new LocalGradients(arch, data.train, over.gradients ?? "fp32"), events: silentEvents });

const workers = (prefix: string, n: number, args: string[] = []) =>
  Promise.all(Array.from({ length: n }, () => spawnWorker({ redisUrl: redis.url, prefix, args: ["--backend", "auto", "--lock-ms", "3000", "--stalled-ms", "1000", ...args] })));

beforeAll(async () => {
  redis = await startRedis();
  await selectBackend("auto");
}, 60_000);

afterAll(async () => {
  await Promise.all(started.map((w) => w.stop()));
  await redis?.stop();
});

describe("pieces", () => {
  it("slices cover the parameters exactly once, in order", () => {
    for (const [n, k] of [[10, 3], [7, 7], [1000, 4], [5, 1]] as const) {
      let next = 0;
      for (let r = 0; r < k; r++) {
        const [a, b] = sliceBounds(n, k, r);
        expect(a).toBe(next);
        expect(b).toBeGreaterThanOrEqual(a);
        next = b;
      }
      expect(next).toBe(n);
    }
  });

  it("powi: β^t by squaring equals repeated multiplication's value closely and is exact on powers of two", () => {
    expect(powi(0.5, 10)).toBe(1 / 1024);
    expect(powi(0.9, 0)).toBe(1);
    expect(Math.abs(powi(0.999, 1234) - 0.999 ** 1234)).toBeLessThan(1e-13);
  });

  it("run ids: replicated fp32 is the hub's run (same math); replicated bf16 is its own", () => {
    const fp = splitFingerprint(data.train, data.features);
    expect(runIdFor({ ...cfg, reduce: "replicated" }, fp)).toBe(runIdFor(cfg, fp));
    expect(runIdFor({ ...cfg, reduce: "replicated", gradients: "bf16" }, fp)).not.toBe(runIdFor({ ...cfg, gradients: "bf16" }, fp));
  });
});

describe("replicated over 2 workers", () => {
  const prefix = () => `${redis.prefix}-rep`;
  beforeAll(async () => {
    started.push(...(await workers(prefix(), 2)));
  }, 60_000);

  it("fp32: the bits of the in-process run and of the hub; no weights broadcast, no gradient at the coordinator", async () => {
    const c = await cluster(prefix(), "fp32", "replicated");
    const r = await runOn(c, { reduce: "replicated" });
    const hub = await runOn(await cluster(prefix(), "fp32-hub", "hub"));
    const ref = await reference();
    expect(r.steps).toBe(STEPS);
    expect(sameBits(r.params, ref.params)).toBe(true);
    expect(sameBits(hub.params, ref.params)).toBe(true);
    expect(r.test.accuracy).toBe(ref.test.accuracy);
    expect(c.traces).toHaveLength(STEPS);
    for (const t of c.traces) {
      expect(t.weightsBytes).toBe(0);
      expect(t.gradientBytes).toBe(0); // the records carry no gradient
    }
    // The workers reduced (the coordinator only after its grace, which a healthy run never reaches),
    // except the last step, which no worker waits for: the coordinator reduces it.
    expect(c.traces.slice(0, -1).map((t) => t.slicesReducedHere)).toEqual(new Array(STEPS - 1).fill(0));
    expect(c.traces.at(-1)!.slicesReducedHere).toBeLessThanOrEqual(2);
  });

  it("bf16: the bits of the in-process reference that rounds shards and the average; the hub's bf16 run differs", async () => {
    const r = await runOn(await cluster(prefix(), "bf16", "replicated", "bf16"), { reduce: "replicated", gradients: "bf16" });
    const ref = await reference({ reduce: "replicated", gradients: "bf16" });
    const hubRef = await reference({ gradients: "bf16" });
    expect(sameBits(r.params, ref.params)).toBe(true);
    expect(sameBits(r.params, hubRef.params)).toBe(false);
    expect(Math.abs(r.test.accuracy - hubRef.test.accuracy)).toBeLessThanOrEqual(0.03);
  });

  it("a killed worker: the run goes on, its replacement starts from the snapshot, same bits", async () => {
    const p = `${redis.prefix}-rep-kill`;
    const [victim] = await workers(p, 2);
    const c = await cluster(p, "kill", "replicated", "fp32", { backupMinMs: 500, backupFactor: 4, firstDeadlineMs: 5000 });
    let replacement: WorkerProcess | undefined;
    const r = await (async () => {
      try {
        return await train({
          cfg: { ...cfg, reduce: "replicated" },
          data,
          gradients: c,
          events: silentEvents,
          afterStep: async (step) => {
            if (step !== 7) return;
            victim!.kill();
            replacement = (await workers(p, 1))[0];
            started.push(replacement!);
          },
        });
      } finally {
        await c.close();
      }
    })();
    const ref = await reference();
    expect(r.steps).toBe(STEPS);
    expect(sameBits(r.params, ref.params)).toBe(true);
    const loaded = replacement!.events.filter((e) => e.event === "snapshot_loaded");
    const worked = replacement!.events.filter((e) => e.event === "gradient");
    // It may have joined after the last step was handed out; if it worked, it started from a snapshot.
    if (worked.length > 0) expect(loaded.length).toBeGreaterThan(0);
    for (const e of loaded) expect(Number(e.step)).toBeGreaterThanOrEqual(5);
  });

  it("a restarted coordinator resumes from its checkpoint in a new session (new snapshot), same bits", async () => {
    const runId = "resume";
    const conn = new Redis(redis.url);
    const store = new RedisCheckpointStore(conn, prefix());
    const cfgR: TrainConfig = { ...cfg, reduce: "replicated", checkpointEvery: 4 };
    const first = await cluster(prefix(), runId, "replicated");
    await expect(
      train({
        cfg: cfgR, data, gradients: first, events: silentEvents, checkpoints: store, runId,
        afterStep: (step) => {
          if (step === 10) throw new Error("coordinator crash");
        },
      }),
    ).rejects.toThrow("coordinator crash");
    await first.close();
    const second = await cluster(prefix(), runId, "replicated");
    let r;
    try {
      r = await train({ cfg: cfgR, data, gradients: second, events: silentEvents, checkpoints: store, runId });
    } finally {
      await second.close();
      conn.disconnect();
    }
    expect(r.resumedFrom).toBe(8);
    expect(sameBits(r.params, (await reference()).params)).toBe(true);
  });
});

describe("replicated with fewer workers than shards", () => {
  it("one worker computes both shards and reduces every slice (no deadlock), same bits", async () => {
    const p = `${redis.prefix}-rep-one`;
    started.push(...(await workers(p, 1)));
    const r = await runOn(await cluster(p, "one", "replicated"), { reduce: "replicated", maxSteps: 8 });
    expect(sameBits(r.params, (await reference({ maxSteps: 8 })).params)).toBe(true);
  });
});

describe("slices on dedicated reduce nodes (--reduce-redis)", () => {
  const nodes: TestRedis[] = [];
  beforeAll(async () => {
    nodes.push(await startRedis(), await startRedis());
  }, 60_000);
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
  });
  const inputBytes = async (url: string): Promise<number> => {
    const r = new Redis(url);
    try {
      return Number(/total_net_input_bytes:(\d+)/.exec(await r.info("stats"))![1]);
    } finally {
      r.disconnect();
    }
  };

  it("two workers spread the slices over two reduce nodes: same bits, the gradient bytes go to the nodes", async () => {
    const p = `${redis.prefix}-rep-nodes`;
    const urls = nodes.map((n) => n.url);
    started.push(...(await workers(p, 2, ["--reduce-redis", urls.join(",")])));
    const before = await Promise.all(urls.map(inputBytes));
    const c = await cluster(p, "nodes", "replicated", "bf16", { reduceRedis: urls });
    const r = await runOn(c, { reduce: "replicated", gradients: "bf16" });
    const after = await Promise.all(urls.map(inputBytes));
    expect(sameBits(r.params, (await reference({ reduce: "replicated", gradients: "bf16" })).params)).toBe(true);
    // Each node got at least its half of every gradient (2 shards × half the parameters × 2 bytes a step).
    const params = 20 * 24 + 24 + 24 * 3 + 3;
    for (let i = 0; i < 2; i++) expect(after[i]! - before[i]!).toBeGreaterThan(STEPS * params * 2);
  });

  it("a worker without the run's reduce nodes says so, and the run stops with its reason", async () => {
    const p = `${redis.prefix}-rep-nodes-missing`;
    const w = await startGradientWorker({ redisUrl: redis.url, prefix: p, name: "no-nodes", lockMs: 3000 });
    const c = await cluster(p, "nodes-missing", "replicated", "fp32", { reduceRedis: nodes.map((n) => n.url), backupFactor: 0, maxBackups: 0 });
    try {
      await expect(train({ cfg: { ...cfg, reduce: "replicated", shards: 1 }, data, gradients: c, events: silentEvents })).rejects.toThrow(
        /worker no-nodes failed: the run reduces on 2 reduce node\(s\) \(fingerprint [0-9a-f]{12}\); this worker has none: start it with the same --reduce-redis/,
      );
    } finally {
      await c.close();
      await w.close();
    }
  });
});

describe("replica checksums", () => {
  it("a worker whose replica diverged stops the run, naming it", async () => {
    const p = `${redis.prefix}-rep-diverge`;
    const w = await startGradientWorker({ redisUrl: redis.url, prefix: p, name: "bad-replica", corruptReplicaAtStep: 3, lockMs: 3000 });
    const c = await cluster(p, "diverge", "replicated", "fp32", { backupFactor: 0 });
    try {
      await expect(train({ cfg: { ...cfg, reduce: "replicated", shards: 1 }, data, gradients: c, events: silentEvents })).rejects.toThrow(
        /^step 4, shard 0: the replica of worker bad-replica diverged \(checksum [0-9a-f]{16}, the coordinator's [0-9a-f]{16}\)/,
      );
    } finally {
      await c.close();
      await w.close();
    }
  });
});

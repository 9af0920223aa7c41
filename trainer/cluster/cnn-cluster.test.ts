// The CNN through the cluster: a real redis-server (or REDIS_URL) and a real `meridian worker`
// process. The job carries the CNN's arch; the weights after several steps are the same bits as
// the in-process run (same gradient code, same backend, same shard order). Also: a job from before
// architectures (only `sizes`) still parses, as an MLP.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnWorker, type WorkerProcess } from "../../dev/workers";
import { startRedis, type TestRedis } from "../../dev/redis";
import { loadDataset } from "../data";
import { parseArch } from "../train/arch";
import { selectBackend } from "../train/backend";
import { silentEvents } from "../train/events";
import { LocalGradients, splitFingerprint, train, type TrainConfig } from "../train/loop";
import { ClusterGradients } from "./coordinator";
import { GradJobSchema, jobArch } from "./protocol";

let redis: TestRedis;
let worker: WorkerProcess | undefined;

const data = loadDataset("mnist", { splitSeed: 1, testFraction: 0.2, limit: 700 });
const arch = parseArch("cnn:4,8/16", { features: 784, classes: 10, ...(data.shape ? { shape: data.shape } : {}) }, []);
const cfg: TrainConfig = { arch, epochs: 1, batchSize: 32, maxSteps: 8, optimizer: { kind: "adam", lr: 0.003 }, seed: 7, shards: 2, checkpointEvery: 0, evalEachEpoch: false };

beforeAll(async () => {
  redis = await startRedis();
  await selectBackend("auto");
  worker = await spawnWorker({ redisUrl: redis.url, prefix: `${redis.prefix}-cnn`, args: ["--backend", "auto", "--lock-ms", "5000"] });
}, 90_000);

afterAll(async () => {
  await worker?.stop();
  await redis?.stop();
});

describe("CNN on the cluster", () => {
  it("8 steps through one worker give the in-process weights bit for bit", async () => {
    const c = await ClusterGradients.open({
      redisUrl: redis.url,
      prefix: `${redis.prefix}-cnn`,
      runId: "cnn",
      arch,
      train: data.train,
      features: data.features,
      dataFingerprint: splitFingerprint(data.train, data.features),
      leaseMs: 2000,
    });
    try {
      const viaCluster = await train({ cfg, data, gradients: c, events: silentEvents, runId: "cnn" });
      const local = await train({ cfg, data, gradients: new LocalGradients(arch, data.train), events: silentEvents });
      expect(viaCluster.steps).toBe(8);
      expect(Buffer.from(viaCluster.params.buffer).equals(Buffer.from(local.params.buffer))).toBe(true);
      expect(viaCluster.test.accuracy).toBe(local.test.accuracy);
    } finally {
      await c.close();
    }
  });
});

describe("gradient job format", () => {
  const job = {
    v: 2, runId: "r", step: 0, shard: 0, attempt: 0, weightsKey: "w", claimKey: "c", doneKey: "d",
    data: { x: "x", y: "y", meta: "m" }, rows: [0, 1], waitMs: 1000, lease: { key: "l", session: "1:s" }, ttlSeconds: 60,
  };
  it("a job with only `sizes` (from before architectures) is an MLP; `arch` wins; neither is refused", () => {
    expect(jobArch(GradJobSchema.parse({ ...job, sizes: [784, 128, 10] }))).toEqual({ kind: "mlp", sizes: [784, 128, 10] });
    expect(jobArch(GradJobSchema.parse({ ...job, arch, sizes: [1, 2] }))).toEqual(arch);
    expect(GradJobSchema.safeParse(job).success).toBe(false);
    expect(GradJobSchema.safeParse({ ...job, arch: { kind: "cnn", input: [28, 28, 1], conv: [], dense: [], classes: 10 } }).success).toBe(false);
  });
});

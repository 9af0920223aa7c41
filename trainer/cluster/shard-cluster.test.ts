// Cluster training from a shard set: job data names the set and the rows; each `meridian worker`
// process reads the shards it needs through its own cache, so no training data goes into Redis,
// and the run ends on the same weights, bit for bit, as the in-process run with as many parts.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRedis, type TestRedis } from "../../dev/redis";
import { spawnWorker, type WorkerProcess } from "../../dev/workers";
import { seededNormal } from "../../shared/random";
import { TRAIN_DEFAULTS, runTrainCommand } from "../commands/train";
import type { PartitionedOrder } from "../shards/partitions";
import { ShardSet } from "../shards/reader";
import { openRowSource } from "../shards/sources";
import { FsStore } from "../shards/store/fs";
import { writeShards } from "../shards/writer";
import { selectBackend } from "../train/backend";
import { evaluateBlocks } from "../train/evaluate";
import { silentEvents } from "../train/events";
import { runIdFor, train, type TrainConfig } from "../train/loop";
import { ShardGradients, ShardTrainingData, shardSetFingerprint } from "../train/shard-data";
import { ClusterGradients } from "./coordinator";
import { mlp } from "../train/arch";

const F = 10;
let tmp: string;
let dir: string;
let redis: TestRedis;
const started: WorkerProcess[] = [];

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "meridian-shard-cluster-"));
  const normal = seededNormal(7);
  const centers = Array.from({ length: 3 }, () => Array.from({ length: F }, () => normal() * 2));
  const lines = [[...Array.from({ length: F }, (_, f) => `f${f}`), "label"].join(",")];
  for (let r = 0; r < 400; r++) lines.push([...centers[r % 3]!.map((c) => (c + normal()).toFixed(5)), `c${r % 3}`].join(","));
  await writeFile(join(tmp, "rows.csv"), lines.join("\n") + "\n");
  dir = join(tmp, "set");
  await writeShards(await openRowSource(`csv:${join(tmp, "rows.csv")}`, { splitSeed: 1 }), new FsStore(dir), { shardBytes: 1024, splitSeed: 1, testFraction: 0.2 });
  redis = await startRedis();
  await selectBackend("auto");
}, 60_000);

afterAll(async () => {
  await Promise.all(started.map((w) => w.stop()));
  await redis?.stop();
  await rm(tmp, { recursive: true, force: true });
});

const cfg: TrainConfig = { arch: mlp([F, 16, 3]), epochs: 2, batchSize: 32, optimizer: { kind: "adam", lr: 0.01 }, seed: 4, shards: 2, checkpointEvery: 0, evalEachEpoch: false };
const open = async (partitions?: number) =>
  new ShardTrainingData(await ShardSet.open(new FsStore(dir)), { blockShards: 2, cacheBytes: 8 * 1024, ...(partitions !== undefined ? { partitions } : {}) });

/** `ahead`: jobs carry the shards to prefetch (their partition's, with `partitions`). */
type RunOptions = { afterStep?: (step: number) => void; ahead?: boolean; partitions?: number; c?: TrainConfig };

async function clusterRun(prefix: string, { afterStep, ahead = false, partitions, c: runCfg = cfg }: RunOptions = {}) {
  const data = await open(partitions);
  const c = await ClusterGradients.open({
    redisUrl: redis.url,
    prefix,
    runId: runIdFor(runCfg, data.fingerprint()),
    arch: runCfg.arch,
    features: F,
    shardSet: {
      location: data.set.source.location,
      fingerprint: shardSetFingerprint(data.set),
      ...(ahead ? { ahead: (step: number, shard: number) => data.shardsAhead(step, shard) } : {}),
      ...(partitions !== undefined ? { partitions } : {}),
    },
    dataFingerprint: data.fingerprint(),
    backupMinMs: 500,
    leaseMs: 1000,
  });
  try {
    return { data, result: await train({ cfg: runCfg, data, gradients: c, events: silentEvents, ...(afterStep ? { afterStep } : {}) }) };
  } finally {
    await c.close();
  }
}

async function inProcess(partitions?: number, runCfg = cfg) {
  const data = await open(partitions);
  return train({ cfg: runCfg, data, gradients: new ShardGradients(runCfg.arch, data), events: silentEvents });
}

const workerArgs = ["--backend", "auto", "--lock-ms", "3000", "--stalled-ms", "1000", "--cache", "8KiB"];

describe("train --cluster from a shard set", () => {
  it("workers read the shards themselves; nothing of the data in Redis; same weights as in-process", async () => {
    const prefix = `${redis.prefix}-shards`;
    const ws = await Promise.all([0, 1].map(() => spawnWorker({ redisUrl: redis.url, prefix, args: workerArgs })));
    started.push(...ws);
    const reference = await inProcess();
    const { data: remote, result: viaCluster } = await clusterRun(prefix);
    expect(viaCluster.steps).toBe(reference.steps);
    expect(Buffer.from(viaCluster.params.buffer).equals(Buffer.from(reference.params.buffer))).toBe(true);
    expect(viaCluster.test.accuracy).toBeGreaterThan(0.9);
    // The coordinator read no train shard (it only evaluates on the held-out ones).
    expect(remote.cache.stats.loads).toBe(0);
    const r = new Redis(redis.url);
    try {
      expect(await r.keys(`${prefix}:data:*`)).toEqual([]);
    } finally {
      r.disconnect();
    }
    const loaded = ws.flatMap((w) => w.events.filter((e) => e.event === "data_loaded"));
    expect(loaded.map((e) => e.shardSet)).toEqual([dir, dir]);
    // Jobs without `ahead` (a coordinator that does not send it): workers read on demand only.
    for (const w of ws) expect(w.events.filter((e) => e.event === "shard_cache").at(-1)?.prefetched).toBe(0);
  }, 120_000);

  it("meridian train --cluster --shard-set: end to end through the command (workers of the first test)", async () => {
    const out = join(tmp, "cmd");
    const r = await runTrainCommand(
      { ...TRAIN_DEFAULTS, shardSet: dir, out, backend: "auto", json: true, cluster: true, redisUrl: redis.url, prefix: `${redis.prefix}-shards`, epochs: 4, batchSize: 32, lr: 0.01, hidden: [16], checkpointEvery: 0, fresh: false, push: false, promote: false },
      silentEvents,
    );
    expect(r.result.test.accuracy).toBeGreaterThan(0.9);
    const report = JSON.parse(await readFile(join(out, "training.json"), "utf8"));
    expect(report.mode).toBe("cluster (BullMQ)");
    expect(report.config.shards).toBe(2);
    // The command's jobs carry the shards the next steps read: the workers prefetched them.
    const ws = started.slice(0, 2);
    for (const w of ws) expect(Number(w.events.filter((e) => e.event === "shard_cache").at(-1)?.prefetched)).toBeGreaterThan(0);
    // The held-out split was scored by the workers (evaluation jobs, one per held-out shard, after
    // every epoch and at the end), with the same counts as scoring it here.
    const set = await ShardSet.open(new FsStore(dir));
    const heldOutShards = set.shards("test").length;
    const evaluated = ws.flatMap((w) => w.events.filter((e) => e.event === "evaluate"));
    expect(evaluated.length).toBe(heldOutShards * 4); // 3 epoch ends + the final evaluation
    const here = await evaluateBlocks(r.config.arch, r.result.params, set.blocks("test"), set.manifest.schema.positive);
    expect({ rows: r.result.test.rows, correct: r.result.test.correct }).toEqual({ rows: here.rows, correct: here.correct });
    expect(r.result.test.accuracy).toBe(here.accuracy);
    expect(r.result.test.loss!).toBeCloseTo(here.loss!, 9);
  }, 120_000);

  it("jobs carry the next steps' shards (ahead): workers prefetch them, and the weights are the same bits", async () => {
    const prefix = `${redis.prefix}-ahead`;
    const w = await spawnWorker({ redisUrl: redis.url, prefix, args: workerArgs });
    started.push(w);
    const reference = await inProcess();
    const { result } = await clusterRun(prefix, { ahead: true });
    expect(Buffer.from(result.params.buffer).equals(Buffer.from(reference.params.buffer))).toBe(true);
    const stats = w.events.filter((e) => e.event === "shard_cache").at(-1)!;
    expect(Number(stats.prefetched)).toBeGreaterThan(0);
    // Every load but the very first ones was a prefetch: reads ahead of need, not on demand.
    expect(Number(stats.misses)).toBeLessThan(Number(stats.loads));
    expect(Number(stats.bytesRead)).toBeGreaterThan(0);
  }, 120_000);

  it("a worker killed mid-run loses nothing: its jobs go to the other, and the weights are the same bits", async () => {
    const prefix = `${redis.prefix}-kill`;
    const [victim, survivor] = await Promise.all([0, 1].map(() => spawnWorker({ redisUrl: redis.url, prefix, args: workerArgs })));
    started.push(victim!, survivor!);
    const reference = await inProcess();
    const { result } = await clusterRun(prefix, {
      afterStep: (step) => {
        if (step === 5) victim!.kill();
      },
    });
    expect(Buffer.from(result.params.buffer).equals(Buffer.from(reference.params.buffer))).toBe(true);
    expect(survivor!.events.filter((e) => e.event === "gradient").length).toBeGreaterThan(result.steps); // it took over
  }, 120_000);
});

describe("train --cluster --partitions 2: each worker reads only its partition's shards", () => {
  const slotsOf = (w: WorkerProcess, held: boolean) => w.events.filter((e) => e.event === "partition_slot" && e.held === held).map((e) => Number(e.partition));
  const loadedBy = (w: WorkerProcess) => w.events.filter((e) => e.event === "shard_cache").flatMap((e) => e.loaded as number[]);

  it("2 workers, one partition each: same bits as in-process with 2 partitions; each train shard read once in the epoch (not once per worker), by its partition's worker", async () => {
    const prefix = `${redis.prefix}-parts`;
    // Two workers for the partitioned run, two for the same epoch in today's order (a baseline).
    const spawned = await Promise.all([prefix, prefix, `${prefix}-baseline`, `${prefix}-baseline`].map((p) => spawnWorker({ redisUrl: redis.url, prefix: p, args: workerArgs })));
    started.push(...spawned);
    const ws = spawned.slice(0, 2);
    const base = spawned.slice(2);
    // One epoch: a run prefetches nothing past its last epoch, so every load belongs to it.
    const one = { ...cfg, epochs: 1 };
    // Today's order: the jobs of a step cut one shuffled block, so each worker reads every shard.
    const { data: whole } = await clusterRun(`${prefix}-baseline`, { ahead: true, c: one });
    for (const w of base) expect([...loadedBy(w)].sort((a, b) => a - b)).toEqual([...whole.entries.keys()]);
    const reference = await inProcess(2, one);
    const { data, result } = await clusterRun(prefix, { ahead: true, partitions: 2, c: one });
    expect(Buffer.from(result.params.buffer).equals(Buffer.from(reference.params.buffer))).toBe(true);
    const order = data.orderFor(0) as PartitionedOrder;
    expect(result.steps).toBe(order.stepsPerEpoch);
    // Each worker claimed one partition slot, not the same one.
    const held = ws.map((w) => slotsOf(w, true));
    expect(held.map((h) => h.length)).toEqual([1, 1]);
    expect(new Set(held.flat()).size).toBe(2);
    // Each worker loaded exactly its partition's shards, each once; together, every train shard once.
    ws.forEach((w, i) => {
      const loaded = loadedBy(w);
      expect(new Set(loaded).size).toBe(loaded.length);
      expect([...loaded].sort((a, b) => a - b)).toEqual([...order.partitionShards(0, held[i]![0]!)].sort((a, b) => a - b));
    });
    const all = ws.flatMap(loadedBy);
    expect(all.length).toBe(data.entries.length); // half of the baseline's loads
    expect(new Set(all).size).toBe(data.entries.length);
    expect(ws.reduce((n, w) => n + Number(w.events.filter((e) => e.event === "shard_cache").at(-1)!.loads), 0)).toBe(data.entries.length);
    // The run unregistered: the workers handed their slots back.
    await expect.poll(() => ws.map((w) => slotsOf(w, false).length), { timeout: 10_000 }).toEqual([1, 1]);
  }, 120_000);

  it("meridian train --cluster --partitions 2 (the workers of the test before), hub and replicated: the bits of meridian train --partitions 2 in-process", async () => {
    const opts = { ...TRAIN_DEFAULTS, shardSet: dir, backend: "auto", json: true, epochs: 2, batchSize: 32, lr: 0.01, hidden: [16], checkpointEvery: 0, fresh: false, push: false, promote: false, partitions: 2 };
    const here = await runTrainCommand({ ...opts, out: join(tmp, "parts-here"), cluster: false }, silentEvents);
    const there = await runTrainCommand({ ...opts, out: join(tmp, "parts-cluster"), cluster: true, redisUrl: redis.url, prefix: `${redis.prefix}-parts` }, silentEvents);
    expect(there.config.shards).toBe(2);
    expect(there.result.runId).toBe(here.result.runId);
    expect(Buffer.from(there.result.params.buffer).equals(Buffer.from(here.result.params.buffer))).toBe(true);
    // Replicas (fp32: the hub's math) over partition jobs too.
    const replicated = await runTrainCommand({ ...opts, out: join(tmp, "parts-replicated"), cluster: true, reduce: "replicated", redisUrl: redis.url, prefix: `${redis.prefix}-parts` }, silentEvents);
    expect(Buffer.from(replicated.result.params.buffer).equals(Buffer.from(here.result.params.buffer))).toBe(true);
    // The partitions are part of the run id: the same command without them is another run.
    const plain = await runTrainCommand({ ...opts, partitions: undefined, shards: 2, out: join(tmp, "parts-none"), cluster: false, epochs: 1 }, silentEvents);
    expect(plain.result.runId).not.toBe(here.result.runId);
  }, 120_000);

  it("a worker SIGKILLed mid-run: its partition goes to the survivor, and the weights are the same bits", async () => {
    const prefix = `${redis.prefix}-parts-kill`;
    const [victim, survivor] = await Promise.all([0, 1].map(() => spawnWorker({ redisUrl: redis.url, prefix, args: workerArgs })));
    started.push(victim!, survivor!);
    const reference = await inProcess(2);
    let victimSlot = -1;
    const { result } = await clusterRun(prefix, {
      ahead: true,
      partitions: 2,
      afterStep: (step) => {
        if (step === 5) {
          victimSlot = slotsOf(victim!, true)[0]!;
          victim!.kill();
        }
      },
    });
    expect(Buffer.from(result.params.buffer).equals(Buffer.from(reference.params.buffer))).toBe(true);
    expect(victimSlot).toBeGreaterThanOrEqual(0);
    // The survivor held its own partition, then took the victim's.
    expect(new Set(slotsOf(survivor!, true))).toEqual(new Set([0, 1]));
    // …and computed the victim's partition's jobs from then on.
    expect(survivor!.events.some((e) => e.event === "gradient" && e.shard === victimSlot && e.won === true)).toBe(true);
  }, 120_000);
});

// Training from a shard set (written here by the real writer from a small CSV) without loading
// it: bit-identical reruns, a mid-epoch resume that ends on the same weights, the same run over
// HTTP with a one-shard cache, `meridian train --shard-set` end to end, and its errors.
import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seededNormal } from "../../shared/random";
import { TRAIN_DEFAULTS, runTrainCommand, type TrainCommandOptions } from "../commands/train";
import { ShardSet } from "../shards/reader";
import { openRowSource } from "../shards/sources";
import { openSource } from "../shards/store";
import { FsStore } from "../shards/store/fs";
import { serveDirectory, type Running } from "../shards/test-servers";
import { writeShards } from "../shards/writer";
import { FileCheckpointStore } from "./checkpoint";
import { silentEvents } from "./events";
import { train, type TrainConfig, type TrainResult } from "./loop";
import { ShardGradients, ShardTrainingData } from "./shard-data";
import { mlp } from "./arch";

const F = 12;
let tmp: string;
let dir: string;
let http: Running;

/** Three Gaussian blobs as a CSV: learnable, and written to shards in milliseconds. */
function blobsCsv(rows: number): string {
  const normal = seededNormal(3);
  const centers = Array.from({ length: 3 }, () => Array.from({ length: F }, () => normal() * 2));
  const lines = [[...Array.from({ length: F }, (_, f) => `f${f}`), "label"].join(",")];
  for (let r = 0; r < rows; r++) lines.push([...centers[r % 3]!.map((c) => (c + normal()).toFixed(5)), ["a", "b", "c"][r % 3]].join(","));
  return lines.join("\n") + "\n";
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "meridian-shard-train-"));
  await writeFile(join(tmp, "blobs.csv"), blobsCsv(700));
  dir = join(tmp, "set");
  const source = await openRowSource(`csv:${join(tmp, "blobs.csv")}`, { splitSeed: 1 });
  // 1 KiB shards: 19 rows each, ~29 train shards, so blocks and the cache budget matter.
  await writeShards(source, new FsStore(dir), { shardBytes: 1024, splitSeed: 1, testFraction: 0.2 });
  http = await serveDirectory(tmp);
});

afterAll(async () => {
  await http?.stop();
  await rm(tmp, { recursive: true, force: true });
});

const cfg = (over: Partial<TrainConfig> = {}): TrainConfig => ({
  arch: mlp([F, 16, 3]),
  epochs: 3,
  batchSize: 32,
  optimizer: { kind: "adam", lr: 0.01 },
  seed: 5,
  shards: 2,
  checkpointEvery: 0,
  evalEachEpoch: false,
  ...over,
});

async function run(location: string, c: TrainConfig, extra: Partial<Parameters<typeof train>[0]> = {}, cacheShards = 5): Promise<TrainResult & { data: ShardTrainingData }> {
  const source = await openSource(location);
  try {
    const set = await ShardSet.open(source);
    const largest = Math.max(...set.shards("train").map((e) => e.bytes));
    const data = new ShardTrainingData(set, { blockShards: 2, cacheBytes: cacheShards * largest });
    const r = await train({ cfg: c, data, gradients: new ShardGradients(c.arch, data), events: silentEvents, ...extra });
    return { ...r, data };
  } finally {
    source.close();
  }
}

const bits = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe("training from a shard set", () => {
  it("learns; the same seed gives bit-identical weights (also over HTTP and with another cache size); another seed differs", async () => {
    const a = await run(dir, cfg());
    const b = await run(dir, cfg());
    const overHttp = await run(`${http.url}/set`, cfg(), {}, 1); // a one-shard cache: re-reads, same rows
    const c = await run(dir, cfg({ seed: 6 }));
    expect(a.data.trainRows).toBeGreaterThan(500);
    expect(a.data.entries.length).toBeGreaterThan(20);
    expect(a.steps).toBe(3 * Math.ceil(a.data.trainRows / 32));
    expect(a.test.rows).toBe(a.data.set.manifest.rows.test);
    expect(a.test.accuracy).toBeGreaterThan(0.9);
    expect(bits(a.params).equals(bits(b.params))).toBe(true);
    expect(bits(a.params).equals(bits(overHttp.params))).toBe(true);
    expect(bits(a.params).equals(bits(c.params))).toBe(false);
    // Budget of 5 shards with blocks of 2: each epoch reads the train set about once.
    const trainBytes = a.data.entries.reduce((s, e) => s + e.bytes, 0);
    expect(a.data.cache.stats.bytesRead).toBeLessThan(3 * trainBytes * 1.2);
    expect(overHttp.data.cache.stats.bytesRead).toBeGreaterThan(a.data.cache.stats.bytesRead);
  });

  it("resumes mid-epoch from a checkpoint to exactly the weights of an uninterrupted run", async () => {
    const c = cfg({ checkpointEvery: 4 });
    const reference = await run(dir, c);
    const stepsPerEpoch = Math.ceil(reference.data.trainRows / 32);
    const crashAt = stepsPerEpoch + 7; // in epoch 1, past the checkpoint at a multiple of 4
    const saved = crashAt - (crashAt % 4);
    const store = new FileCheckpointStore(join(tmp, "ckpt"));
    const crash = new Error("simulated crash");
    await expect(run(dir, c, { checkpoints: store, afterStep: (s) => { if (s === crashAt) throw crash; } })).rejects.toBe(crash);
    expect((await store.load(reference.runId))?.step).toBe(saved);
    expect(saved % stepsPerEpoch).not.toBe(0); // really mid-epoch
    const resumed = await run(dir, c, { checkpoints: store }); // a fresh process: new order, new cache
    expect(resumed.resumedFrom).toBe(saved);
    expect(resumed.timing.stepsRun).toBe(reference.steps - saved);
    expect(bits(resumed.params).equals(bits(reference.params))).toBe(true);
  });
});

describe("meridian train --shard-set", () => {
  const base = (over: Partial<TrainCommandOptions>): TrainCommandOptions => ({
    ...TRAIN_DEFAULTS,
    shardSet: dir,
    out: join(tmp, "cmd"),
    backend: "auto",
    json: true,
    cluster: false,
    fresh: false,
    push: false,
    promote: false,
    ...over,
  });

  it("trains, exports both models with manifests, and reports the cache", async () => {
    const out = join(tmp, "cmd-ok");
    const r = await runTrainCommand(base({ out, epochs: 3, batchSize: 32, lr: 0.01, checkpointEvery: 0, hidden: [16] }), silentEvents);
    expect(r.files.map((f) => f.slice(out.length + 1))).toEqual(["model.onnx", "model.manifest.json", "model-int8.onnx", "model-int8.manifest.json", "training.json"]);
    const report = JSON.parse(await readFile(join(out, "training.json"), "utf8"));
    expect(report.dataset).toMatchObject({ spec: dir, train: r.data.trainRows, test: r.data.testRows, labels: ["a", "b", "c"] });
    expect(report.shardCache.bytesRead).toBeGreaterThan(0);
    expect(report.heldOut.fp32.rows).toBe(r.data.testRows);
    expect(report.heldOut.fp32.accuracy).toBeGreaterThan(0.9);
    const manifest = JSON.parse(await readFile(join(out, "model.manifest.json"), "utf8"));
    expect(manifest.name).toBe("blobs");
    expect(manifest.labels).toEqual({ probabilities: ["a", "b", "c"] });
    expect(manifest.preprocessing).toBeNull();
  }, 60_000);

  it("bad locations and options fail with one clear reason", async () => {
    const missing = join(tmp, "nope");
    await expect(runTrainCommand(base({ shardSet: missing }), silentEvents)).rejects.toThrow(`no shard set at ${missing}: manifest.json not found`);
    await expect(runTrainCommand(base({ shardSet: "ftp://host/set" }), silentEvents)).rejects.toThrow('unsupported location "ftp://host/set"');
    await expect(runTrainCommand(base({ shardSet: `${http.url}/nope` }), silentEvents)).rejects.toThrow(/no shard set at http:\/\/127\.0\.0\.1:\d+\/nope\/: manifest\.json not found/);
    await expect(runTrainCommand(base({ dataset: "mnist" }), silentEvents)).rejects.toThrow("pass exactly one of --dataset <spec> and --shard-set <location>");
    await expect(runTrainCommand(base({ limit: 10 }), silentEvents)).rejects.toThrow("--limit does not apply to --shard-set");
    await expect(runTrainCommand(base({ cacheBytes: 100 }), silentEvents)).rejects.toThrow(/cache budget 100 B is below the largest shard/);
    await expect(runTrainCommand(base({ shardSet: undefined, dataset: "weather", partitions: 2 }), silentEvents)).rejects.toThrow("--partitions applies to --shard-set");
    await expect(runTrainCommand(base({ partitions: 2, shards: 3 }), silentEvents)).rejects.toThrow("--partitions 2 makes 2 gradient jobs per step (one per partition); drop --shards 3");
    await expect(runTrainCommand(base({ partitions: 0 }), silentEvents)).rejects.toThrow("--partitions must be a positive integer (got 0)");
    await expect(runTrainCommand(base({ partitions: 1000, epochs: 1 }), silentEvents)).rejects.toThrow(/1000 partitions need at least 1000 train shards/);
  });

  it("the CLI exits non-zero with a one-line reason", () => {
    const cli = (...args: string[]) => spawnSync(process.execPath, ["--import", "tsx", "cli/meridian.ts", ...args], { encoding: "utf8", timeout: 60_000 });
    const missing = join(tmp, "missing-set");
    const r1 = cli("train", "--shard-set", missing, "--out", join(tmp, "x"), "--backend", "cpu");
    expect(r1.status).toBe(1);
    expect(r1.stderr.trim()).toBe(`meridian: train failed: no shard set at ${missing}: manifest.json not found`);
    const r2 = cli("train", "--out", join(tmp, "x"), "--backend", "cpu");
    expect(r2.status).toBe(1);
    expect(r2.stderr.trim()).toBe("meridian: train failed: pass exactly one of --dataset <spec> and --shard-set <location>");
  }, 60_000);
});

// The trainer in-process (no Redis): gradients, the step function, reproducibility, checkpoints,
// data loading with its errors, backend selection, and the ONNX export checked with
// onnxruntime-node against TF.js (fp32 parity, int8 accuracy and size targets).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { beforeAll, describe, expect, it } from "vitest";
import { argmaxRows } from "../../shared/onnx/mlp";
import { seededNormal } from "../../shared/random";
import { loadDataset, type Dataset } from "../data";
import { runTrainCommand, TRAIN_DEFAULTS, type TrainCommandOptions } from "../commands/train";
import { INT8_MAX_ACCURACY_DROP, INT8_MIN_SIZE_RATIO, buildExport, type ExportResult } from "../export/export";
import { parseBackendChoice, selectBackend } from "./backend";
import { FileCheckpointStore, decodeCheckpoint, encodeCheckpoint } from "./checkpoint";
import { LocalGradients, train, type TrainConfig } from "./loop";
import {
  averageGradients,
  computeGradient,
  computeGradientAutodiff,
  gatherRows,
  initParams,
  predictProbabilities,
} from "./model";
import { silentEvents } from "./events";
import { mlp } from "./arch";

const tmp = mkdtempSync(join(tmpdir(), "meridian-trainer-"));

/** Three Gaussian blobs in 12 dimensions: a small, learnable, instant dataset. */
function blobs(rows = 600, seed = 3): Dataset {
  const F = 12;
  const C = 3;
  const normal = seededNormal(seed);
  const centers = Array.from({ length: C }, () => Array.from({ length: F }, () => normal() * 2));
  const make = (n: number) => {
    const x = new Float32Array(n * F);
    const y = new Int32Array(n);
    for (let r = 0; r < n; r++) {
      const c = r % C;
      y[r] = c;
      for (let f = 0; f < F; f++) x[r * F + f] = centers[c]![f]! + normal();
    }
    return { x, y, rows: n };
  };
  return { name: "blobs", source: "synthetic", splitNote: "synthetic", features: F, labels: ["a", "b", "c"], train: make(rows), test: make(rows / 4) };
}

function cfgFor(data: Dataset, over: Partial<TrainConfig> = {}): TrainConfig {
  return {
    arch: mlp([data.features, 16, data.labels.length]),
    epochs: 2,
    batchSize: 32,
    optimizer: { kind: "adam", lr: 0.01 },
    seed: 5,
    shards: 1,
    checkpointEvery: 0,
    evalEachEpoch: false,
    ...over,
  };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

beforeAll(async () => {
  const info = await selectBackend("auto");
  console.log(`backend: ${info.name} (${info.detail}); skipped: ${info.skipped.join("; ")}`);
});

describe("backend selection", () => {
  it("auto walks tfjs-node-gpu → tfjs-node → wasm → cpu and says why it skipped each", async () => {
    const info = await selectBackend("auto");
    expect(["node-gpu", "node", "wasm", "cpu"]).toContain(info.name);
    if (info.name === "wasm") {
      expect(info.skipped.some((s) => s.startsWith("node-gpu:"))).toBe(true);
      expect(info.skipped).toContain("node: @tensorflow/tfjs-node is not installed");
    }
  });

  it("an unknown backend is a clear error; a forced but missing one too", async () => {
    expect(() => parseBackendChoice("tpu")).toThrow('unknown backend "tpu" (expected one of: auto, node-gpu, node, wasm, cpu)');
    await expect(selectBackend("gpu")).rejects.toThrow(/unknown backend "gpu"/);
    if ((await selectBackend("auto")).name === "wasm") {
      await expect(selectBackend("node")).rejects.toThrow("backend node is not available: @tensorflow/tfjs-node is not installed");
      await expect(selectBackend("node-gpu")).rejects.toThrow(/backend node-gpu is not available: @tensorflow\/tfjs-node-gpu is not installed/);
    }
  });
});

describe("gradient step", () => {
  const data = blobs();
  const sizes = [12, 16, 8, 3];
  const params = initParams(sizes, 1);
  const rows = Int32Array.from({ length: 48 }, (_, i) => i * 3 + 1);
  const x = gatherRows(data.train.x, 12, rows);
  const y = Int32Array.from(rows, (r) => data.train.y[r]!);

  it("hand-written backprop equals tf.valueAndGrads", () => {
    const a = computeGradient(sizes, params, x, y);
    const b = computeGradientAutodiff(sizes, params, x, y);
    expect(Math.abs(a.loss - b.loss)).toBeLessThan(1e-6);
    expect(maxAbsDiff(a.grads, b.grads)).toBeLessThan(1e-6);
  });

  it("writes into a given array of the parameter count (the same bits), and ignores one of another size", () => {
    const fresh = computeGradient(sizes, params, x, y);
    const out = new Float32Array(params.length).fill(Number.NaN);
    const into = computeGradient(sizes, params, x, y, out);
    expect(into.grads).toBe(out);
    expect(Buffer.from(out.buffer).equals(Buffer.from(fresh.grads.buffer))).toBe(true);
    const wrong = new Float32Array(3);
    expect(computeGradient(sizes, params, x, y, wrong).grads).not.toBe(wrong);
  });

  it("row-weighted average of shard gradients equals the whole-batch gradient", () => {
    const whole = computeGradient(sizes, params, x, y);
    const cut = [0, 17, 48]; // uneven shards on purpose
    const parts = [0, 1].map((i) =>
      computeGradient(sizes, params, x.subarray(cut[i]! * 12, cut[i + 1]! * 12), y.subarray(cut[i]!, cut[i + 1]!)),
    );
    const avg = averageGradients(parts);
    expect(avg.n).toBe(48);
    expect(avg.correct).toBe(whole.correct);
    expect(Math.abs(avg.loss - whole.loss)).toBeLessThan(1e-6);
    expect(maxAbsDiff(avg.grads, whole.grads)).toBeLessThan(1e-6);
  });
});

describe("training loop (in-process)", () => {
  const data = blobs();

  it("learns, and a fixed seed reproduces the run bit for bit", async () => {
    const cfg = cfgFor(data);
    const a = await train({ cfg, data, gradients: new LocalGradients(cfg.arch, data.train), events: silentEvents });
    const b = await train({ cfg, data, gradients: new LocalGradients(cfg.arch, data.train), events: silentEvents });
    const c = await train({ cfg: { ...cfg, seed: 6 }, data, gradients: new LocalGradients(cfg.arch, data.train), events: silentEvents });
    expect(a.steps).toBe(2 * Math.ceil(600 / 32));
    expect(a.test.accuracy).toBeGreaterThan(0.9);
    expect(Buffer.from(a.params.buffer).equals(Buffer.from(b.params.buffer))).toBe(true);
    expect(Buffer.from(a.params.buffer).equals(Buffer.from(c.params.buffer))).toBe(false);
  });

  it("resumes from a checkpoint to exactly the weights of an uninterrupted run", async () => {
    const cfg = cfgFor(data, { checkpointEvery: 5, maxSteps: 30 });
    const store = new FileCheckpointStore(join(tmp, "ckpt"));
    const reference = await train({ cfg, data, gradients: new LocalGradients(cfg.arch, data.train), events: silentEvents });

    const crash = new Error("simulated crash");
    await expect(
      train({
        cfg,
        data,
        gradients: new LocalGradients(cfg.arch, data.train),
        events: silentEvents,
        checkpoints: store,
        afterStep: (step) => {
          if (step === 17) throw crash;
        },
      }),
    ).rejects.toBe(crash);
    const saved = await store.load(reference.runId);
    expect(saved?.step).toBe(15);

    const resumed = await train({ cfg, data, gradients: new LocalGradients(cfg.arch, data.train), events: silentEvents, checkpoints: store });
    expect(resumed.resumedFrom).toBe(15);
    expect(resumed.steps).toBe(30);
    expect(resumed.timing.stepsRun).toBe(15);
    expect(Buffer.from(resumed.params.buffer).equals(Buffer.from(reference.params.buffer))).toBe(true);
    expect(await store.load(reference.runId)).toBeNull(); // a finished run clears its checkpoint
  });

  it("checkpoint encoding round-trips params, moments and step", () => {
    const c = {
      runId: "r1",
      step: 7,
      params: Float32Array.from([1, -2, 3.5]),
      opt: { t: 7, m: Float32Array.from([0.1, 0.2, 0.3]), v: Float32Array.from([1e-3, 2e-3, 3e-3]) },
      savedAt: "2026-01-01T00:00:00.000Z",
    };
    expect(decodeCheckpoint(encodeCheckpoint(c))).toEqual(c);
  });
});

describe("datasets and their errors", () => {
  const opts = { splitSeed: 1, testFraction: 0.25 };

  it("CSV: numeric columns + label, classes ordered, seeded split", () => {
    const p = join(tmp, "ok.csv");
    writeFileSync(p, 'f1,label,f2\n1,b,2\n3,a,4\n"5",b,6e-1\n\n7,a,8\n9,c,-1\n10,c,1\n1,a,1\n2,b,2\n');
    const d = loadDataset(`csv:${p}`, opts);
    expect(d.labels).toEqual(["a", "b", "c"]);
    expect(d.features).toBe(2);
    expect(d.train.rows + d.test.rows).toBe(8);
    expect(d.test.rows).toBe(2);
    expect(d.name).toBe("ok");
    const again = loadDataset(`csv:${p}`, opts);
    expect(again.test.x).toEqual(d.test.x);
  });

  it("JSONL: features arrays, numeric fields, or text (featurized with hashed-bow-v1)", () => {
    const a = join(tmp, "a.jsonl");
    writeFileSync(a, '{"features":[1,2],"label":0}\n{"features":[3,4],"label":1}\n{"features":[5,6],"label":1}\n');
    expect(loadDataset(`jsonl:${a}`, opts).labels).toEqual(["0", "1"]);
    const b = join(tmp, "b.jsonl");
    writeFileSync(b, '{"x":1,"y":2,"label":"p"}\n{"y":4,"x":3,"label":"q"}\n');
    expect(loadDataset(`jsonl:${b}`, { ...opts, testFraction: 0.5 }).features).toBe(2);
    const c = join(tmp, "c.jsonl");
    writeFileSync(c, '{"text":"win money now","label":"spam"}\n{"text":"meeting at noon","label":"ham"}\n{"text":"cheap pills","label":"spam"}\n');
    const t = loadDataset(`jsonl:${c}`, { ...opts, featurizerParams: { dimensions: 256 } });
    expect(t.features).toBe(256);
    expect(t.featurizer?.id).toBe("hashed-bow-v1");
    expect(t.positive).toBe(1);
  });

  it("bad inputs name the file and line", () => {
    const bad = (name: string, body: string): string => {
      const p = join(tmp, name);
      writeFileSync(p, body);
      return p;
    };
    const missing = join(tmp, "nope.csv");
    expect(() => loadDataset(`csv:${missing}`, opts)).toThrow(`dataset file not found: ${missing}`);
    expect(() => loadDataset(`jsonl:${join(tmp, "nope.jsonl")}`, opts)).toThrow(/dataset file not found/);
    const p1 = bad("nonnum.csv", "a,b,label\n1,2,x\n3,abc,y\n");
    expect(() => loadDataset(`csv:${p1}`, opts)).toThrow(`${p1}:3: column "b": "abc" is not a number`);
    const p2 = bad("fields.csv", "a,b,label\n1,2,x\n3,y\n");
    expect(() => loadDataset(`csv:${p2}`, opts)).toThrow(`${p2}:3: expected 3 fields (as in the header), got 2`);
    const p3 = bad("empty.csv", "a,b,label\n1,,x\n");
    expect(() => loadDataset(`csv:${p3}`, opts)).toThrow(`${p3}:2: column "b": empty value is not a number`);
    const p4 = bad("nolabel.csv", "a,b\n1,2\n");
    expect(() => loadDataset(`csv:${p4}`, opts)).toThrow(`${p4}:1: header needs exactly one "label" column (found 0): a,b`);
    const p5 = bad("nolabelvalue.csv", "a,label\n1,\n2,x\n");
    expect(() => loadDataset(`csv:${p5}`, opts)).toThrow(`${p5}:2: empty label`);
    const p6 = bad("quote.csv", 'a,label\n"1,x\n');
    expect(() => loadDataset(`csv:${p6}`, opts)).toThrow(`${p6}:2: unterminated quoted field`);
    const p7 = bad("onelabel.csv", "a,label\n1,x\n2,x\n");
    expect(() => loadDataset(`csv:${p7}`, opts)).toThrow(/needs at least 2 distinct labels/);
    const j1 = bad("bad.jsonl", '{"features":[1],"label":1}\n{"features":[1,2],"label":0}\n');
    expect(() => loadDataset(`jsonl:${j1}`, opts)).toThrow(`${j1}:2: 2 features, expected 1 (as on the first line)`);
    const j2 = bad("bad2.jsonl", '{"features":[1],"label":1}\nnot json\n');
    expect(() => loadDataset(`jsonl:${j2}`, opts)).toThrow(new RegExp(`^${j2.replace(/[.]/g, "\\.")}:2: not valid JSON`));
    const j3 = bad("bad3.jsonl", '{"x":1,"label":1}\n{"x":"2","label":0}\n');
    expect(() => loadDataset(`jsonl:${j3}`, opts)).toThrow(`${j3}:2: field "x": "2" is not a finite number`);
    expect(() => loadDataset("iris", opts)).toThrow('unknown dataset "iris" (expected spam | mnist | weather | csv:<path> | jsonl:<path>)');
    expect(() => loadDataset("parquet:big.parquet", opts)).toThrow("--dataset does not read Parquet; write it as a shard set and train from that: meridian shard parquet:big.parquet --out <dir>, then train --shard-set <dir>");
  });

  it("spam: SpamAssassin, featurized, split by a fixed seed", () => {
    const d = loadDataset("spam", { splitSeed: 1, testFraction: 0.2, limit: 300, featurizerParams: { dimensions: 512 } });
    expect(d.labels).toEqual(["ham", "spam"]);
    expect(d.positive).toBe(1);
    expect(d.features).toBe(512);
    expect(d.train.rows + d.test.rows).toBe(300);
    expect(d.splitNote).toMatch(/split seed 1/);
    const spam = d.train.y.reduce((a, v) => a + v, 0);
    expect(spam).toBeGreaterThan(30); // ~31% of the corpus is spam
  });
});

/** Runs a model with onnxruntime-node: probabilities for all rows. */
async function ortProbabilities(bytes: Uint8Array, x: Float32Array, rows: number, features: number): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(bytes);
  try {
    const out = await s.run({ features: new ort.Tensor("float32", x, [rows, features]) });
    return out.probabilities!.data as Float32Array;
  } finally {
    await s.release();
  }
}

describe("export: spam (full corpus) and mnist", () => {
  const results: Record<string, { data: Dataset; sizes: number[]; params: Float32Array; ex: ExportResult }> = {};

  beforeAll(async () => {
    for (const [spec, epochs, limit] of [
      ["spam", 2, undefined],
      ["mnist", 3, 5000],
    ] as const) {
      const t0 = performance.now();
      const data = loadDataset(spec, { splitSeed: 1, testFraction: 0.2, ...(limit ? { limit } : {}) });
      const sizes = [data.features, data.featurizer ? 64 : 128, data.labels.length];
      const cfg: TrainConfig = { ...cfgFor(data), arch: mlp(sizes), epochs, batchSize: 64, optimizer: { kind: "adam", lr: 0.001 } };
      const r = await train({ cfg, data, gradients: new LocalGradients(mlp(sizes), data.train), events: silentEvents });
      const ex = await buildExport({ arch: mlp(sizes), params: r.params, data, name: spec, version: 1, int8Format: "auto" });
      results[spec] = { data, sizes, params: r.params, ex };
      console.log(
        `${spec}: ${Math.round(performance.now() - t0)} ms; held-out fp32 ${(ex.fp32.evaluation.accuracy * 100).toFixed(2)}% (${ex.fp32.bytes.length} B), ` +
          `int8 ${ex.int8.format} ${(ex.int8.evaluation.accuracy * 100).toFixed(2)}% (${ex.int8.bytes.length} B, ${ex.sizeRatio.toFixed(2)}x); parity ${ex.parity.maxAbsDiff.toExponential(2)}`,
      );
    }
  }, 120_000);

  for (const spec of ["spam", "mnist"]) {
    it(`${spec}: the fp32 ONNX matches TF.js on held-out rows (onnxruntime-node, 1e-4)`, async () => {
      const { data, sizes, params, ex } = results[spec]!;
      const n = Math.min(256, data.test.rows);
      const x = data.test.x.subarray(0, n * data.features);
      const tfjs = predictProbabilities(sizes, params, x, n);
      const onnx = await ortProbabilities(ex.fp32.bytes, x, n, data.features);
      expect(maxAbsDiff(onnx, tfjs)).toBeLessThan(1e-4);
      expect(argmaxRows(onnx, sizes[2]!)).toEqual(argmaxRows(tfjs, sizes[2]!));
    });

    it(`${spec}: int8 is within 0.5 accuracy points of fp32 and at least 3.5x smaller`, async () => {
      const { data, ex } = results[spec]!;
      // re-score the int8 bytes here rather than trusting the exporter's own numbers
      const probs = await ortProbabilities(ex.int8.bytes, data.test.x, data.test.rows, data.features);
      const labels = argmaxRows(probs, data.labels.length);
      const acc = labels.filter((l, i) => l === data.test.y[i]).length / data.test.rows;
      expect(acc).toBeCloseTo(ex.int8.evaluation.accuracy, 10);
      expect(ex.fp32.evaluation.accuracy - acc).toBeLessThanOrEqual(INT8_MAX_ACCURACY_DROP);
      expect(ex.fp32.bytes.length / ex.int8.bytes.length).toBeGreaterThanOrEqual(INT8_MIN_SIZE_RATIO);
    });
  }

  it("spam: accurate, and the manifests carry preprocessing, labels and metrics", () => {
    const { ex } = results.spam!;
    expect(ex.fp32.evaluation.accuracy).toBeGreaterThan(0.95);
    expect(ex.fp32.evaluation.precision).toBeGreaterThan(0.9);
    expect(ex.fp32.evaluation.recall).toBeGreaterThan(0.85);
    const m = ex.fp32.manifest;
    expect(m.name).toBe("spam");
    expect(m.quantization).toBe("none");
    expect(m.preprocessing).toEqual({ id: "hashed-bow-v1", params: expect.objectContaining({ dimensions: 4096, ngram: 1 }) });
    expect(m.labels).toEqual({ probabilities: ["ham", "spam"] });
    expect(m.inputs).toEqual([{ name: "features", datatype: "FP32", shape: [-1, 4096] }]);
    expect(m.metrics).toMatchObject({ accuracy: ex.fp32.evaluation.accuracy, accuracy_fp32: ex.fp32.evaluation.accuracy, accuracy_int8: ex.int8.evaluation.accuracy });
    expect(ex.int8.manifest.name).toBe("spam-int8");
    expect(ex.int8.manifest.quantization).toBe(`int8-${ex.int8.format}`);
    expect(ex.int8.manifest.preprocessing).toEqual(m.preprocessing);
    expect(results.mnist!.ex.fp32.manifest.preprocessing).toBeNull();
  });
});

describe("meridian train (command)", () => {
  const base = (over: Partial<TrainCommandOptions>): TrainCommandOptions => ({
    ...TRAIN_DEFAULTS,
    dataset: "mnist",
    out: join(tmp, "cmd"),
    backend: "auto",
    json: true,
    cluster: false,
    fresh: false,
    push: false,
    promote: false,
    ...over,
  });

  it("writes model.onnx, model-int8.onnx, their manifests and a report", async () => {
    const out = join(tmp, "cmd-ok");
    const lines: string[] = [];
    const { JsonEvents } = await import("./progress");
    const r = await runTrainCommand(base({ out, limit: 1500, epochs: 1, checkpointEvery: 0 }), new JsonEvents((l) => lines.push(l)));
    expect(r.files.map((f) => f.slice(out.length + 1))).toEqual([
      "model.onnx",
      "model.manifest.json",
      "model-int8.onnx",
      "model-int8.manifest.json",
      "training.json",
    ]);
    const events = lines.map((l) => JSON.parse(l) as { event: string; message?: string });
    expect(events[0]!.message).toMatch(/^backend: /);
    expect(events.filter((e) => e.event === "step").length).toBe(r.result.steps);
    expect(events.some((e) => e.event === "epoch_end")).toBe(true);
    const manifest = JSON.parse(readFileSync(join(out, "model.manifest.json"), "utf8"));
    expect(manifest.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it("bad options fail before any work with one clear reason", async () => {
    await expect(runTrainCommand(base({ backend: "tpu" }))).rejects.toThrow(/unknown backend "tpu"/);
    await expect(runTrainCommand(base({ batchSize: 0 }))).rejects.toThrow("--batch-size must be a positive integer (got 0)");
    const saved = process.env.REDIS_URL;
    delete process.env.REDIS_URL;
    try {
      await expect(runTrainCommand(base({ cluster: true }))).rejects.toThrow(/--cluster needs a Redis: set REDIS_URL/);
    } finally {
      if (saved !== undefined) process.env.REDIS_URL = saved;
    }
  });

  it("the CLI exits non-zero with a one-line reason", () => {
    const cli = (...args: string[]) =>
      spawnSync(process.execPath, ["--import", "tsx", "cli/meridian.ts", ...args], { encoding: "utf8", timeout: 60_000 });
    const r1 = cli("train", "--dataset", `csv:${join(tmp, "missing.csv")}`, "--out", join(tmp, "x"), "--backend", "cpu");
    expect(r1.status).toBe(1);
    expect(r1.stderr.trim()).toBe(`meridian: train failed: dataset file not found: ${join(tmp, "missing.csv")}`);
    const r2 = cli("train", "--dataset", "mnist", "--out", join(tmp, "x"), "--backend", "tpu");
    expect(r2.status).toBe(1);
    expect(r2.stderr.trim()).toBe('meridian: train failed: unknown backend "tpu" (expected one of: auto, node-gpu, node, wasm, cpu)');
    const r3 = cli("train", "--help");
    expect(r3.status).toBe(0);
    expect(r3.stdout).toMatch(/--dataset <spec>/);
    expect(r3.stdout).toMatch(/--cluster/);
  });
});

// Exporting a CNN: `meridian train --arch cnn` on an MNIST slice (1 epoch) writes both graphs; the
// fp32 graph in onnxruntime-node matches TF.js (1e-4) on held-out rows, the int8 graph
// (QLinearConv + QLinearMatMul) is scored on the whole held-out split, and the manifests carry
// the MLP's MNIST signature (features FP32 [-1, 784]) and the metrics. Mechanics, not the 98%
// (trainer/README.md has the full-MNIST run).
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { beforeAll, describe, expect, it } from "vitest";
import { argmaxRows } from "../../shared/onnx/mlp";
import { runTrainCommand, TRAIN_DEFAULTS, type TrainCommandOptions, type TrainCommandResult } from "../commands/train";
import { probabilitiesOf } from "../train/models";
import { silentEvents } from "../train/events";

const tmp = mkdtempSync(join(tmpdir(), "meridian-cnn-export-"));
const base: TrainCommandOptions = {
  ...TRAIN_DEFAULTS,
  dataset: "mnist",
  out: join(tmp, "cnn"),
  backend: "auto",
  json: true,
  cluster: false,
  fresh: false,
  push: false,
  promote: false,
  limit: 700,
  epochs: 1,
  batchSize: 32,
  checkpointEvery: 0,
};

let run: TrainCommandResult;
beforeAll(async () => {
  run = await runTrainCommand({ ...base, arch: "cnn:8,16/32" }, silentEvents);
}, 120_000);

async function ortRun(bytes: Uint8Array, x: Float32Array, rows: number): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(bytes, { extra: { session: { x64quantprecision: "1" } } });
  try {
    return (await s.run({ features: new ort.Tensor("float32", x, [rows, 784]) })).probabilities!.data as Float32Array;
  } finally {
    await s.release();
  }
}

describe("meridian train --arch cnn (MNIST slice)", () => {
  it("trains the CNN and writes both graphs, their manifests and the report", () => {
    expect(run.config.arch).toEqual({ kind: "cnn", input: [28, 28, 1], conv: [{ filters: 8, kernel: 3, pool: 2 }, { filters: 16, kernel: 3, pool: 2 }], dense: [32], classes: 10 });
    expect(run.files.map((f) => f.slice(base.out.length + 1))).toEqual(["model.onnx", "model.manifest.json", "model-int8.onnx", "model-int8.manifest.json", "training.json"]);
    const ep = run.result.epochs[0]!;
    expect(ep.trainLoss).toBeLessThan(2.3); // below chance (ln 10) after one epoch of 600 digits
    const report = JSON.parse(readFileSync(join(base.out, "training.json"), "utf8"));
    expect(report.config.arch.kind).toBe("cnn");
    expect(report.export.int8Format).toBe("qlinear");
  });

  it("fp32 ONNX = TF.js within 1e-4 on every held-out row; int8 scored on the whole split", async () => {
    const data = run.data.dataset!;
    const { x, rows } = data.test;
    const ex = run.exported;
    const tfjs = probabilitiesOf(run.config.arch, run.result.params, x, rows);
    const fp32 = await ortRun(ex.fp32.bytes, x, rows);
    let m = 0;
    for (let i = 0; i < fp32.length; i++) m = Math.max(m, Math.abs(fp32[i]! - tfjs[i]!));
    expect(m).toBeLessThan(1e-4);
    expect(ex.parity.maxAbsDiff).toBeLessThan(1e-4);
    const int8 = argmaxRows(await ortRun(ex.int8.bytes, x, rows), 10);
    const acc = int8.filter((l, i) => l === data.test.y[i]).length / rows;
    expect(acc).toBeCloseTo(ex.int8.evaluation.accuracy, 10);
    expect(ex.fp32.bytes.length / ex.int8.bytes.length).toBeGreaterThan(3.5);
  });

  it("the manifests: the MNIST MLP's signature, digit labels, metrics", () => {
    const { fp32, int8 } = run.exported;
    for (const m of [fp32.manifest, int8.manifest]) {
      expect(m.inputs).toEqual([{ name: "features", datatype: "FP32", shape: [-1, 784] }]);
      expect(m.labels).toEqual({ probabilities: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"] });
      expect(m.metrics).toMatchObject({ accuracy_fp32: fp32.evaluation.accuracy, accuracy_int8: int8.evaluation.accuracy, heldout_rows: 100 });
    }
    expect(int8.manifest.quantization).toBe("int8-qlinear");
    expect(int8.manifest.name).toBe("mnist-int8");
  });

  it("bad --arch input fails before training with one reason", async () => {
    await expect(runTrainCommand({ ...base, arch: "resnet" }, silentEvents)).rejects.toThrow(/^unknown --arch "resnet"/);
    await expect(runTrainCommand({ ...base, arch: "cnn", hidden: [64] }, silentEvents)).rejects.toThrow("--hidden applies to --arch mlp only");
    await expect(runTrainCommand({ ...base, dataset: "spam", limit: 50, arch: "cnn" }, silentEvents)).rejects.toThrow(/--arch cnn needs image data/);
    await expect(runTrainCommand({ ...base, arch: "cnn", int8Format: "dynamic" }, silentEvents)).rejects.toThrow("int8 format dynamic is not available for a cnn (available: qlinear)");
  });
});

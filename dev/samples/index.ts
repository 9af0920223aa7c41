// The models `npm start` seeds and the tests use: the Iris classifier (fp32 and int8), a
// 784-256-128-10 MLP with seeded random weights (benchmarks only), a datatype echo model and a
// SpamAssassin text classifier (fp32 and int8) that takes raw text. Each classifier's metrics are
// measured on its own bytes: the int8 models are run (onnxruntime-web, the runtime the edge uses)
// on the same rows as their fp32 originals.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import * as ort from "onnxruntime-web/wasm";

// The build with its loader inlined, given its .wasm bytes: nothing is fetched or imported by URL,
// so it runs the same under tsx and under vitest's module runner (the test setup).
ort.env.wasm.numThreads = 1;
ort.env.wasm.wasmBinary = readFileSync(createRequire(import.meta.url).resolve("onnxruntime-web/ort-wasm-simd-threaded.wasm"));
import { irisData, irisSpec, irisWeights, IRIS_LABELS, buildDtypeEchoModel } from "./iris";
import { manifestFor } from "../../shared/onnx/manifest";
import { mlpWeights } from "../../shared/onnx/mlp";
import { normalRows } from "../../shared/random";
import { buildMlpFp32, buildMlpInt8, type MlpSpec } from "../../shared/onnx/mlp";
import type { Manifest } from "../../shared/manifest";
import { spamModel } from "./spam";

export interface FixtureModel {
  manifest: Manifest;
  /** base64 of the ONNX bytes (structured-clone and JSON friendly). */
  onnx: string;
}

const CREATED_AT = "2026-11-24T00:00:00.000Z";

/** The benchmark MLP (mlp784, seeded weights) and the rows its int8 form is calibrated on (bench:kernel builds more int8 forms). */
export function mlp784(): { spec: MlpSpec; calibration: Float32Array; rows: number } {
  const spec = { layers: mlpWeights([784, 256, 128, 10], 7), input: "pixels", output: "probabilities", label: "label" };
  return { spec, calibration: normalRows(256, 784, 11), rows: 256 };
}

/** The benchmark models batch concurrent requests (a batch of 64 costs far less than 64 runs). */
const BENCH_BATCHING = { batching: { maxBatchSize: 64, maxQueueDelayMs: 2 } };

export async function buildFixtureModels(): Promise<FixtureModel[]> {
  const iris = irisWeights();
  const data = irisData();
  const spec = irisSpec(iris.layers);
  const labels = { probabilities: [...IRIS_LABELS] };
  const metrics = { train_accuracy: iris.accuracy };
  const irisInt8 = buildMlpInt8(spec, data.x, data.rows);
  const mlp = mlp784();
  const spam = spamModel();
  const preprocessing = { id: spam.data.featurizer!.id, params: { ...spam.data.featurizer!.params } };
  const spamOpts = { labels: spam.labels, preprocessing };
  const spamInt8 = buildMlpInt8(spam.spec, spam.data.train.x, spam.data.train.rows);
  const test = spam.data.test;
  const built: Array<[Uint8Array, Parameters<typeof manifestFor>[1]]> = [
    [buildMlpFp32(spec), { name: "iris", version: 1, quantization: "none", labels, metrics }],
    [irisInt8, { name: "iris-int8", version: 1, quantization: "int8-qlinear", labels, metrics: { train_accuracy: (await measure(irisInt8, "measurements", data.x, data.y)).accuracy } }],
    [buildMlpFp32(mlp.spec), { name: "mlp784", version: 1, quantization: "none", serving: BENCH_BATCHING }],
    [buildMlpInt8(mlp.spec, mlp.calibration, mlp.rows), { name: "mlp784-int8", version: 1, quantization: "int8-qlinear", serving: BENCH_BATCHING }],
    [buildDtypeEchoModel(), { name: "dtypes", version: 1, quantization: "none" }],
    [buildMlpFp32(spam.spec), { name: "spam", version: 1, quantization: "none", ...spamOpts, metrics: spam.metrics }],
    [spamInt8, { name: "spam-int8", version: 1, quantization: "int8-qlinear", ...spamOpts, metrics: await measure(spamInt8, "features", test.x, test.y) }],
  ];
  return Promise.all(
    built.map(async ([bytes, opts]) => ({
      manifest: await manifestFor(bytes, { ...opts, createdAt: CREATED_AT }),
      onnx: Buffer.from(bytes).toString("base64"),
    })),
  );
}

/** Accuracy (and precision and recall of class 1) of a classifier's `label` output on labelled rows. */
export async function measure(bytes: Uint8Array, input: string, x: Float32Array, y: ArrayLike<number>): Promise<{ accuracy: number; precision: number; recall: number }> {
  const rows = y.length;
  const session = await ort.InferenceSession.create(bytes);
  try {
    const out = await session.run({ [input]: new ort.Tensor("float32", x, [rows, x.length / rows]) }, ["label"]);
    const predicted = out.label!.data as BigInt64Array;
    let tp = 0, fp = 0, fn = 0, correct = 0;
    for (let r = 0; r < rows; r++) {
      const p = Number(predicted[r]);
      const actual = y[r]!;
      if (p === actual) correct++;
      if (p === 1 && actual === 1) tp++;
      if (p === 1 && actual !== 1) fp++;
      if (p !== 1 && actual === 1) fn++;
    }
    return { accuracy: correct / rows, precision: tp / (tp + fp || 1), recall: tp / (tp + fn || 1) };
  } finally {
    await session.release();
  }
}

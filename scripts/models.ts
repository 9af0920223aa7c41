// The models `npm start` seeds and the tests use: the Iris classifier (fp32 and int8), a
// 784-256-128-10 MLP with seeded random weights (benchmarks only), a datatype echo model and a
// SpamAssassin text classifier (fp32 and int8) that takes raw text.
import { irisData, irisSpec, irisWeights, IRIS_LABELS, buildDtypeEchoModel, manifestFor, mlpWeights, normalRows } from "../shared/onnx/models";
import { buildMlpFp32, buildMlpInt8 } from "../shared/onnx/mlp";
import type { Manifest } from "../shared/manifest";
import { spamModel } from "./spam-model";

export interface FixtureModel {
  manifest: Manifest;
  /** base64 of the ONNX bytes (structured-clone and JSON friendly). */
  onnx: string;
}

const CREATED_AT = "2026-11-24T00:00:00.000Z";

export async function buildFixtureModels(): Promise<FixtureModel[]> {
  const iris = irisWeights();
  const data = irisData();
  const spec = irisSpec(iris.layers);
  const labels = { probabilities: [...IRIS_LABELS] };
  const metrics = { train_accuracy: iris.accuracy };
  const mlp = { layers: mlpWeights([784, 256, 128, 10], 7), input: "pixels", output: "probabilities", label: "label" };
  const calibration = normalRows(256, 784, 11);
  const spam = spamModel();
  const preprocessing = { id: spam.data.featurizer!.id, params: { ...spam.data.featurizer!.params } };
  const spamOpts = { labels: spam.labels, metrics: spam.metrics, preprocessing };
  const built: Array<[Uint8Array, Parameters<typeof manifestFor>[1]]> = [
    [buildMlpFp32(spec), { name: "iris", version: 1, quantization: "none", labels, metrics }],
    [buildMlpInt8(spec, data.x, data.rows), { name: "iris-int8", version: 1, quantization: "int8-qlinear", labels, metrics }],
    [buildMlpFp32(mlp), { name: "mlp784", version: 1, quantization: "none" }],
    [buildMlpInt8(mlp, calibration, 256), { name: "mlp784-int8", version: 1, quantization: "int8-qlinear" }],
    [buildDtypeEchoModel(), { name: "dtypes", version: 1, quantization: "none" }],
    [buildMlpFp32(spam.spec), { name: "spam", version: 1, quantization: "none", ...spamOpts }],
    [buildMlpInt8(spam.spec, spam.data.train.x, spam.data.train.rows), { name: "spam-int8", version: 1, quantization: "int8-qlinear", ...spamOpts }],
  ];
  return Promise.all(
    built.map(async ([bytes, opts]) => ({
      manifest: await manifestFor(bytes, { ...opts, createdAt: CREATED_AT }),
      onnx: Buffer.from(bytes).toString("base64"),
    })),
  );
}

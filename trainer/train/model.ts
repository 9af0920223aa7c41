// The MLP (arch.ts MlpArch) trained with TensorFlow.js: relu hidden layers, a linear last layer, softmax
// cross-entropy. Parameters live in ONE flat Float32Array — [W0 (in×out, row-major), b0, W1, b1, …] —
// which is what travels through Redis, what the optimizer updates, what a checkpoint stores, and
// (sliced per layer) what the ONNX exporter reads. Gradients use the same layout.
import type { DenseLayer } from "../../shared/onnx/mlp";
import { mlpWeights } from "../../shared/onnx/mlp";
import { tf } from "./backend";

export type ParamLayout = { name: string; shape: number[]; offset: number; length: number }[];

export function paramLayout(sizes: readonly number[]): ParamLayout {
  if (sizes.length < 2 || sizes.some((s) => !Number.isInteger(s) || s < 1)) {
    throw new Error(`bad MLP sizes [${sizes.join(", ")}]`);
  }
  const out: ParamLayout = [];
  let offset = 0;
  for (let k = 0; k + 1 < sizes.length; k++) {
    const [i, o] = [sizes[k]!, sizes[k + 1]!];
    out.push({ name: `l${k}.weight`, shape: [i, o], offset, length: i * o });
    offset += i * o;
    out.push({ name: `l${k}.bias`, shape: [o], offset, length: o });
    offset += o;
  }
  return out;
}

export function paramCount(sizes: readonly number[]): number {
  const l = paramLayout(sizes);
  const last = l[l.length - 1]!;
  return last.offset + last.length;
}

/** Seeded He-normal init (the same init shared/onnx/mlp.ts mlpWeights uses). */
export function initParams(sizes: readonly number[], seed: number): Float32Array {
  const flat = new Float32Array(paramCount(sizes));
  let o = 0;
  for (const l of mlpWeights(sizes, seed)) {
    flat.set(l.weights, o);
    o += l.weights.length;
    flat.set(l.bias, o);
    o += l.bias.length;
  }
  return flat;
}

/** Flat parameters → the DenseLayer list the ONNX builders take (views, no copies). */
export function toDenseLayers(sizes: readonly number[], flat: Float32Array): DenseLayer[] {
  const layout = paramLayout(sizes);
  if (flat.length !== paramCount(sizes)) throw new Error(`expected ${paramCount(sizes)} parameters, got ${flat.length}`);
  const layers: DenseLayer[] = [];
  for (let k = 0; k + 1 < sizes.length; k++) {
    const w = layout[2 * k]!;
    const b = layout[2 * k + 1]!;
    layers.push({
      weights: flat.subarray(w.offset, w.offset + w.length),
      bias: flat.subarray(b.offset, b.offset + b.length),
      inputs: sizes[k]!,
      outputs: sizes[k + 1]!,
      activation: k + 2 < sizes.length ? "relu" : "none",
    });
  }
  return layers;
}

function paramTensors(sizes: readonly number[], flat: Float32Array): tf.Tensor[] {
  return paramLayout(sizes).map((p) => tf.tensor(flat.subarray(p.offset, p.offset + p.length), p.shape, "float32"));
}

function logitsOf(x: tf.Tensor, params: readonly tf.Tensor[]): tf.Tensor2D {
  let h = x as tf.Tensor2D;
  const layers = params.length / 2;
  for (let k = 0; k < layers; k++) {
    h = tf.add(tf.matMul(h, params[2 * k] as tf.Tensor2D), params[2 * k + 1]!) as tf.Tensor2D;
    if (k + 1 < layers) h = tf.relu(h);
  }
  return h;
}

/** [rows × cols] row-major → [cols × rows] row-major, written at out[offset…]. Tiled for cache locality. */
export function transposeInto(src: Float32Array, rows: number, cols: number, out: Float32Array, offset = 0): void {
  const T = 32;
  for (let r0 = 0; r0 < rows; r0 += T) {
    const r1 = Math.min(rows, r0 + T);
    for (let c0 = 0; c0 < cols; c0 += T) {
      const c1 = Math.min(cols, c0 + T);
      for (let r = r0; r < r1; r++) {
        const base = r * cols;
        for (let c = c0; c < c1; c++) out[offset + c * rows + r] = src[base + c]!;
      }
    }
  }
}

/** One shard's contribution to a step: the MEAN gradient over its n rows, in the flat layout. */
export type ShardGradient = {
  grads: Float32Array;
  /** Mean softmax cross-entropy over the shard's rows. */
  loss: number;
  /** Rows whose arg-max matched the label. */
  correct: number;
  n: number;
};

/**
 * Copies the given rows of a row-major matrix into one contiguous batch: into `buffer` when it is
 * big enough (a training loop reuses one: allocating ~10 MB a step costs more than the copy).
 */
export function gatherRows(x: Float32Array, cols: number, rows: ArrayLike<number>, buffer?: Float32Array): Float32Array {
  const size = rows.length * cols;
  const out = buffer && buffer.length >= size ? buffer.subarray(0, size) : new Float32Array(size);
  for (let r = 0; r < rows.length; r++) {
    const i = rows[r]!;
    out.set(x.subarray(i * cols, (i + 1) * cols), r * cols);
  }
  return out;
}

/**
 * The gradient step's compute half (what a worker runs): forward + backward on one batch with
 * the given parameters. Pure: same inputs → same outputs on a given backend.
 *
 * Backprop is written out (it is an MLP) rather than taken from tf.valueAndGrads: one forward
 * pass serves the loss, the accuracy and the backward pass, and the gradient with respect to
 * the input — a [batch × inputs] product autodiff computes and throws away, as big as the first
 * layer's weight gradient — is never computed. tf.grads checks it in the tests.
 */
export function computeGradient(
  sizes: readonly number[],
  params: Float32Array,
  x: Float32Array,
  y: ArrayLike<number>,
  into?: Float32Array,
): ShardGradient {
  const inputs = sizes[0]!;
  const classes = sizes[sizes.length - 1]!;
  const n = y.length;
  if (n === 0) throw new Error("computeGradient: empty batch");
  if (x.length !== n * inputs) throw new Error(`computeGradient: ${x.length} values for ${n}×${inputs}`);
  const L = sizes.length - 1;
  const [flat, lossT, correctT] = tf.tidy(() => {
    const p = paramTensors(sizes, params);
    const labels = tf.tensor1d(Int32Array.from(y), "int32");
    const onehot = tf.oneHot(labels, classes).toFloat();
    // forward, keeping each layer's input and pre-activation
    const hs: tf.Tensor2D[] = [tf.tensor2d(x, [n, inputs], "float32")];
    const zs: tf.Tensor2D[] = [];
    for (let k = 0; k < L; k++) {
      const z = tf.add(tf.matMul(hs[k]!, p[2 * k] as tf.Tensor2D), p[2 * k + 1]!) as tf.Tensor2D;
      zs.push(z);
      if (k + 1 < L) hs.push(tf.relu(z));
    }
    const logits = zs[L - 1]!;
    const logp = tf.logSoftmax(logits);
    const loss = tf.neg(tf.mean(tf.sum(tf.mul(onehot, logp), 1)));
    const correct = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), "int32"));
    // backward: d(mean CE)/dz_L = (softmax - onehot) / n
    let dz = tf.div(tf.sub(tf.exp(logp), onehot), n) as tf.Tensor2D;
    const parts: tf.Tensor[] = new Array(2 * L);
    for (let k = L - 1; k >= 0; k--) {
      // The weight gradient is computed transposed, dzᵀ·h ([out × in]), and flipped on the host
      // afterwards: transposing dz (batch × out) and the result (in × out) is far cheaper than
      // transposing the batch (batch × in), and tfjs-backend-wasm 4.22 runs matMul with
      // transpose flags ~8x slower than a plain matMul.
      parts[2 * k] = tf.matMul(tf.transpose(dz), hs[k]!);
      parts[2 * k + 1] = tf.sum(dz, 0);
      if (k > 0) {
        const dh = tf.matMul(dz, tf.transpose(p[2 * k] as tf.Tensor2D));
        dz = tf.mul(dh, tf.step(zs[k - 1]!)) as tf.Tensor2D; // relu' (0 at z <= 0)
      }
    }
    return [tf.concat(parts.map((g) => tf.reshape(g, [-1]))), loss, correct] as const;
  });
  // Same layout as the parameters, except each weight block is [out × in]: flip those.
  const raw = flat.dataSync() as Float32Array;
  const grads = into?.length === raw.length ? into : new Float32Array(raw.length);
  let o = 0;
  for (let k = 0; k < L; k++) {
    const [i, out] = [sizes[k]!, sizes[k + 1]!];
    transposeInto(raw.subarray(o, o + i * out), out, i, grads, o);
    o += i * out;
    grads.set(raw.subarray(o, o + out), o);
    o += out;
  }
  const loss = lossT.dataSync()[0]!;
  const correct = correctT.dataSync()[0]!;
  tf.dispose([flat, lossT, correctT]);
  return { grads, loss, correct, n };
}

/** The same gradient through tf.valueAndGrads (autodiff): the reference the tests compare with. */
export function computeGradientAutodiff(
  sizes: readonly number[],
  params: Float32Array,
  x: Float32Array,
  y: ArrayLike<number>,
): { grads: Float32Array; loss: number } {
  const n = y.length;
  const [flat, lossT] = tf.tidy(() => {
    const p = paramTensors(sizes, params);
    const xt = tf.tensor2d(x, [n, sizes[0]!], "float32");
    const onehot = tf.oneHot(tf.tensor1d(Int32Array.from(y), "int32"), sizes[sizes.length - 1]!).toFloat();
    const f = (...ps: tf.Tensor[]): tf.Scalar => tf.losses.softmaxCrossEntropy(onehot, logitsOf(xt, ps)) as tf.Scalar;
    const { value, grads } = tf.valueAndGrads(f)(p);
    return [tf.concat(grads.map((g) => tf.reshape(g, [-1]))), value] as const;
  });
  const out = { grads: new Float32Array(flat.dataSync()), loss: lossT.dataSync()[0]! };
  tf.dispose([flat, lossT]);
  return out;
}

/**
 * Averages shard gradients weighted by rows (= the mean gradient over the whole batch), summing
 * in shard order so the result does not depend on which worker answered first. `out` (of the
 * gradient's length) is reused for the result instead of a new array.
 */
export function averageGradients(parts: readonly ShardGradient[], out?: Float32Array): ShardGradient {
  if (parts.length === 0) throw new Error("averageGradients: nothing to average");
  if (parts.length === 1) return parts[0]!;
  const len = parts[0]!.grads.length;
  const total = parts.reduce((a, p) => a + p.n, 0);
  for (const p of parts) if (p.grads.length !== len) throw new Error(`averageGradients: ${p.grads.length} vs ${len} values`);
  const weights = parts.map((p) => p.n / total);
  const avg = out && out.length === len ? out : new Float32Array(len);
  // Each element is summed in float64 in shard order, then rounded once to float32.
  if (parts.length === 2) {
    const [a, b] = [parts[0]!.grads, parts[1]!.grads];
    const [wa, wb] = [weights[0]!, weights[1]!];
    for (let i = 0; i < len; i++) avg[i] = wa * a[i]! + wb * b[i]!;
  } else {
    for (let i = 0; i < len; i++) {
      let acc = 0;
      for (let k = 0; k < parts.length; k++) acc += weights[k]! * parts[k]!.grads[i]!;
      avg[i] = acc;
    }
  }
  let loss = 0;
  let correct = 0;
  parts.forEach((p, k) => {
    loss += weights[k]! * p.loss;
    correct += p.correct;
  });
  return { grads: avg, loss, correct, n: total };
}

/** Class probabilities (softmax) for `rows` inputs, in chunks to bound memory. */
export function predictProbabilities(sizes: readonly number[], params: Float32Array, x: Float32Array, rows: number): Float32Array {
  const it = predictChunks(sizes, params, x, rows);
  for (let r = it.next(); ; r = it.next()) if (r.done) return r.value;
}

/**
 * The same, yielding to the event loop between chunks, so timers (a coordinator's lease renewal,
 * BullMQ lock extension) keep running during a long evaluation.
 */
export async function predictProbabilitiesAsync(
  sizes: readonly number[],
  params: Float32Array,
  x: Float32Array,
  rows: number,
): Promise<Float32Array> {
  const it = predictChunks(sizes, params, x, rows);
  for (let r = it.next(); ; r = it.next()) {
    if (r.done) return r.value;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

export function* predictChunks(sizes: readonly number[], params: Float32Array, x: Float32Array, rows: number): Generator<void, Float32Array> {
  const inputs = sizes[0]!;
  const classes = sizes[sizes.length - 1]!;
  const out = new Float32Array(rows * classes);
  const chunk = Math.max(1, Math.floor((1 << 22) / inputs)); // ~16 MB of input per chunk
  const p = paramTensors(sizes, params);
  try {
    for (let r = 0; r < rows; r += chunk) {
      const m = Math.min(chunk, rows - r);
      const probs = tf.tidy(() => tf.softmax(logitsOf(tf.tensor2d(x.subarray(r * inputs, (r + m) * inputs), [m, inputs]), p)));
      out.set(probs.dataSync(), r * classes);
      probs.dispose();
      if (r + chunk < rows) yield;
    }
  } finally {
    tf.dispose(p);
  }
  return out;
}

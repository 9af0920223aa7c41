// Convolutional network → ONNX, in fp32 and int8. Pure TypeScript (runs in Node and workerd).
// The net: conv blocks ('same'-padded stride-1 conv, relu, max-pool) on an NHWC image, flatten,
// dense layers (relu between), softmax. Trained in NHWC (TF.js); ONNX's Conv is NCHW, so the
// graph reshapes the flat input to NHWC, transposes to NCHW, and the first dense layer's rows are
// permuted at export from (h, w, c) to (c, h, w) order — no transpose back at run time.
import { attr, encodeModel, floatTensor, graph, int8Tensor, int32Tensor, int64Tensor, node, uint8Tensor, valueInfo } from "./build";
import { argmaxRows, qlinearDense, rangeOf, requantize, softmaxRows, uint8Params, quantizeWeightsPerColumn, type DenseLayer, type QuantizedTensor, type Range } from "./mlp";
import type { onnx } from "./proto";
import { seededNormal } from "../random";

export type ConvLayer = {
  /** [kernel, kernel, inChannels, filters] row-major (HWIO, TF.js's filter layout). */
  weights: Float32Array;
  bias: Float32Array;
  kernel: number;
  inChannels: number;
  filters: number;
  /** Max-pool window and stride (1: no pooling). */
  pool: number;
};

export type CnnSpec = {
  /** [height, width, channels]: the input row is this image in NHWC order. */
  image: readonly [number, number, number];
  conv: ConvLayer[];
  /** dense[0] takes the last conv block flattened in NHWC order (h, w, c). */
  dense: DenseLayer[];
  /** FP32 [-1, h·w·c]: the same flat input an MLP on the data takes. */
  input: string;
  /** Softmax probabilities, FP32 [-1, classes]. */
  output: string;
  /** Optional arg-max class index, INT64 [-1]. */
  label?: string;
};

/** Spatial size after each conv block. */
export function convShapes(spec: Pick<CnnSpec, "image" | "conv">): { h: number; w: number; c: number }[] {
  let [h, w] = spec.image;
  return spec.conv.map((l) => {
    h = Math.floor(h / l.pool);
    w = Math.floor(w / l.pool);
    return { h, w, c: l.filters };
  });
}

function checkSpec(spec: CnnSpec): void {
  const [h, w, c] = spec.image;
  if (spec.conv.length === 0 || spec.dense.length === 0) throw new Error("CNN needs at least one conv block and one dense layer");
  let channels = c;
  spec.conv.forEach((l, i) => {
    if (l.kernel % 2 !== 1) throw new Error(`conv ${i}: kernel ${l.kernel} must be odd ('same' padding)`);
    if (l.inChannels !== channels) throw new Error(`conv ${i}: ${l.inChannels} input channels, the previous block gives ${channels}`);
    if (l.weights.length !== l.kernel * l.kernel * l.inChannels * l.filters) throw new Error(`conv ${i}: weights have ${l.weights.length} values`);
    if (l.bias.length !== l.filters) throw new Error(`conv ${i}: bias has ${l.bias.length} values, expected ${l.filters}`);
    channels = l.filters;
  });
  const last = convShapes(spec)[spec.conv.length - 1]!;
  if (last.h < 1 || last.w < 1) throw new Error(`CNN: pooling leaves no pixels of a ${h}x${w} image`);
  const flat = last.h * last.w * last.c;
  spec.dense.forEach((l, i) => {
    const want = i === 0 ? flat : spec.dense[i - 1]!.outputs;
    if (l.inputs !== want) throw new Error(`dense ${i}: ${l.inputs} inputs, expected ${want}`);
    if (l.weights.length !== l.inputs * l.outputs || l.bias.length !== l.outputs) throw new Error(`dense ${i}: bad weight/bias sizes`);
  });
  void w;
}

// ---------- plain-TS forward pass (reference, calibration, tests) ----------

type Trace = {
  logits: Float64Array;
  input: Range;
  /** Per conv block: range of relu(conv + bias) (pooling keeps the max and the 0 floor). */
  conv: Range[];
  /** Per dense layer: range of x·W (before bias) and of the layer's output. */
  matmul: Range[];
  activation: Range[];
};

/** relu(conv(x) + b), NHWC in and out, 'same' padding, float64. */
function conv2d(x: Float64Array, n: number, h: number, w: number, l: ConvLayer): Float64Array {
  const { kernel: k, inChannels: ci, filters: f } = l;
  const p = (k - 1) / 2;
  const out = new Float64Array(n * h * w * f);
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < h; y++) {
      for (let xx = 0; xx < w; xx++) {
        const o = ((b * h + y) * w + xx) * f;
        for (let j = 0; j < f; j++) out[o + j] = l.bias[j]!;
        for (let dy = 0; dy < k; dy++) {
          const sy = y + dy - p;
          if (sy < 0 || sy >= h) continue;
          for (let dx = 0; dx < k; dx++) {
            const sx = xx + dx - p;
            if (sx < 0 || sx >= w) continue;
            const xi = ((b * h + sy) * w + sx) * ci;
            const wi = (dy * k + dx) * ci * f;
            for (let c = 0; c < ci; c++) {
              const v = x[xi + c]!;
              if (v === 0) continue;
              const wr = wi + c * f;
              for (let j = 0; j < f; j++) out[o + j] = out[o + j]! + v * l.weights[wr + j]!;
            }
          }
        }
        for (let j = 0; j < f; j++) if (out[o + j]! < 0) out[o + j] = 0;
      }
    }
  }
  return out;
}

/** Max-pool, window = stride = s, 'valid' (floor), NHWC. */
function maxPool(x: Float64Array, n: number, h: number, w: number, c: number, s: number): Float64Array {
  if (s === 1) return x;
  const [oh, ow] = [Math.floor(h / s), Math.floor(w / s)];
  const out = new Float64Array(n * oh * ow * c).fill(-Infinity);
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < oh * s; y++) {
      for (let xx = 0; xx < ow * s; xx++) {
        const i = ((b * h + y) * w + xx) * c;
        const o = ((b * oh + Math.floor(y / s)) * ow + Math.floor(xx / s)) * c;
        for (let j = 0; j < c; j++) if (x[i + j]! > out[o + j]!) out[o + j] = x[i + j]!;
      }
    }
  }
  return out;
}

function traceCnn(spec: CnnSpec, x: ArrayLike<number>, rows: number): Trace {
  checkSpec(spec);
  let [h, w, c] = spec.image;
  if (x.length !== rows * h * w * c) throw new Error(`expected ${rows}×${h * w * c} inputs, got ${x.length}`);
  let a: Float64Array = Float64Array.from(x);
  const conv: Range[] = [];
  for (const l of spec.conv) {
    a = conv2d(a, rows, h, w, l);
    conv.push(rangeOf(a));
    a = maxPool(a, rows, h, w, l.filters, l.pool);
    [h, w, c] = [Math.floor(h / l.pool), Math.floor(w / l.pool), l.filters];
  }
  const matmul: Range[] = [];
  const activation: Range[] = [];
  spec.dense.forEach((l, i) => {
    const mm = new Float64Array(rows * l.outputs);
    for (let r = 0; r < rows; r++) {
      for (let k = 0; k < l.inputs; k++) {
        const v = a[r * l.inputs + k]!;
        if (v === 0) continue;
        for (let j = 0; j < l.outputs; j++) mm[r * l.outputs + j] = mm[r * l.outputs + j]! + v * l.weights[k * l.outputs + j]!;
      }
    }
    matmul.push(rangeOf(mm));
    const out = new Float64Array(mm.length);
    for (let k = 0; k < out.length; k++) {
      const z = mm[k]! + l.bias[k % l.outputs]!;
      out[k] = i + 1 < spec.dense.length && z < 0 ? 0 : z;
    }
    activation.push(rangeOf(out));
    a = out;
  });
  return { logits: a, input: rangeOf(x), conv, matmul, activation };
}

/** Reference forward pass (float64 accumulation): what the fp32 ONNX graph computes. */
export function cnnForward(spec: CnnSpec, x: ArrayLike<number>, rows: number): { logits: Float64Array; probabilities: Float32Array; labels: number[] } {
  const { logits } = traceCnn(spec, x, rows);
  const classes = spec.dense[spec.dense.length - 1]!.outputs;
  const l32 = Float32Array.from(logits);
  return { logits, probabilities: softmaxRows(l32, classes), labels: argmaxRows(l32, classes) };
}

// ---------- layout conversions ----------

/** HWIO [k, k, ci, f] → OIHW [f, ci, k, k] (ONNX Conv's weight layout). */
export function hwioToOihw(l: ConvLayer): Float32Array {
  const { kernel: k, inChannels: ci, filters: f } = l;
  const out = new Float32Array(l.weights.length);
  for (let dy = 0; dy < k; dy++)
    for (let dx = 0; dx < k; dx++)
      for (let c = 0; c < ci; c++)
        for (let j = 0; j < f; j++) out[((j * ci + c) * k + dy) * k + dx] = l.weights[((dy * k + dx) * ci + c) * f + j]!;
  return out;
}

/** The first dense layer with its rows reordered from NHWC-flatten (h, w, c) to NCHW-flatten (c, h, w). */
export function denseForNchw(l: DenseLayer, h: number, w: number, c: number): DenseLayer {
  const weights = new Float32Array(l.weights.length);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let ch = 0; ch < c; ch++) {
        const from = ((y * w + x) * c + ch) * l.outputs;
        const to = ((ch * h + y) * w + x) * l.outputs;
        weights.set(l.weights.subarray(from, from + l.outputs), to);
      }
  return { ...l, weights };
}

// ---------- graph pieces shared by fp32 and int8 ----------

function signature(spec: CnnSpec): { inputs: onnx.IValueInfoProto[]; outputs: onnx.IValueInfoProto[] } {
  const [h, w, c] = spec.image;
  const classes = spec.dense[spec.dense.length - 1]!.outputs;
  const outputs = [valueInfo(spec.output, "FP32", [-1, classes])];
  if (spec.label) outputs.push(valueInfo(spec.label, "INT64", [-1]));
  return { inputs: [valueInfo(spec.input, "FP32", [-1, h * w * c])], outputs };
}

function head(spec: CnnSpec, logits: string): onnx.INodeProto[] {
  const nodes = [node("Softmax", [logits], [spec.output], { axis: attr.int(-1) }, { name: "softmax" })];
  if (spec.label) nodes.push(node("ArgMax", [logits], [spec.label], { axis: attr.int(1), keepdims: attr.int(0) }, { name: "argmax" }));
  return nodes;
}

/** Flat rows → NCHW images (works on any element type: float or uint8). */
function toImage(spec: CnnSpec, x: string, nodes: onnx.INodeProto[], inits: onnx.ITensorProto[]): string {
  const [h, w, c] = spec.image;
  if (c === 1) {
    // One channel: NHWC and NCHW hold the same order, a reshape is enough.
    inits.push(int64Tensor("image.shape", [4], [-1, 1, h, w]));
    nodes.push(node("Reshape", [x, "image.shape"], ["image"], {}, { name: "image/Reshape" }));
    return "image";
  }
  inits.push(int64Tensor("image.shape", [4], [-1, h, w, c]));
  nodes.push(
    node("Reshape", [x, "image.shape"], ["image/nhwc"], {}, { name: "image/Reshape" }),
    node("Transpose", ["image/nhwc"], ["image"], { perm: attr.ints([0, 3, 1, 2]) }, { name: "image/Transpose" }),
  );
  return "image";
}

function convAttrs(l: ConvLayer): Record<string, ReturnType<typeof attr.ints>> {
  const p = (l.kernel - 1) / 2;
  return { kernel_shape: attr.ints([l.kernel, l.kernel]), pads: attr.ints([p, p, p, p]), strides: attr.ints([1, 1]) };
}

function pool(l: ConvLayer, i: number, x: string, nodes: onnx.INodeProto[]): string {
  if (l.pool === 1) return x;
  const out = `c${i}/pool`;
  nodes.push(node("MaxPool", [x], [out], { kernel_shape: attr.ints([l.pool, l.pool]), strides: attr.ints([l.pool, l.pool]) }, { name: `c${i}/MaxPool` }));
  return out;
}

/** The dense layers the graph uses: the first one's rows in NCHW-flatten order. */
function graphDense(spec: CnnSpec): DenseLayer[] {
  const last = convShapes(spec)[spec.conv.length - 1]!;
  return spec.dense.map((l, i) => (i === 0 ? denseForNchw(l, last.h, last.w, last.c) : l));
}

// ---------- fp32 ----------

export function buildCnnFp32(spec: CnnSpec): Uint8Array {
  checkSpec(spec);
  const nodes: onnx.INodeProto[] = [];
  const inits: onnx.ITensorProto[] = [];
  let h = toImage(spec, spec.input, nodes, inits);
  spec.conv.forEach((l, i) => {
    const p = `c${i}`;
    inits.push(floatTensor(`${p}.weight`, [l.filters, l.inChannels, l.kernel, l.kernel], hwioToOihw(l)), floatTensor(`${p}.bias`, [l.filters], l.bias));
    nodes.push(
      node("Conv", [h, `${p}.weight`, `${p}.bias`], [`${p}/conv`], convAttrs(l), { name: `${p}/Conv` }),
      node("Relu", [`${p}/conv`], [`${p}/relu`], {}, { name: `${p}/Relu` }),
    );
    h = pool(l, i, `${p}/relu`, nodes);
  });
  nodes.push(node("Flatten", [h], ["flat"], { axis: attr.int(1) }, { name: "Flatten" }));
  h = "flat";
  const dense = graphDense(spec);
  dense.forEach((l, i) => {
    const p = `d${i}`;
    inits.push(floatTensor(`${p}.weight`, [l.inputs, l.outputs], l.weights), floatTensor(`${p}.bias`, [l.outputs], l.bias));
    nodes.push(
      node("MatMul", [h, `${p}.weight`], [`${p}/matmul`], {}, { name: `${p}/MatMul` }),
      node("Add", [`${p}/matmul`, `${p}.bias`], [`${p}/add`], {}, { name: `${p}/Add` }),
    );
    h = `${p}/add`;
    if (i + 1 < dense.length) {
      nodes.push(node("Relu", [h], [`${p}/relu`], {}, { name: `${p}/Relu` }));
      h = `${p}/relu`;
    }
  });
  nodes.push(...head(spec, h));
  const { inputs, outputs } = signature(spec);
  return encodeModel(graph({ name: "cnn_fp32", nodes, inputs, outputs, initializers: inits }));
}

// ---------- int8 ----------

/** Symmetric int8 per filter (zero point 0, ±127), in OIHW order. */
function quantizeConv(l: ConvLayer): { q: Int8Array; scales: Float32Array } {
  const oihw = hwioToOihw(l);
  const per = l.inChannels * l.kernel * l.kernel;
  const scales = new Float32Array(l.filters);
  const q = new Int8Array(oihw.length);
  for (let j = 0; j < l.filters; j++) {
    let amax = 0;
    for (let i = 0; i < per; i++) amax = Math.max(amax, Math.abs(oihw[j * per + i]!));
    const s = Math.fround(amax > 0 ? amax / 127 : 1);
    scales[j] = s;
    for (let i = 0; i < per; i++) q[j * per + i] = Math.max(-127, Math.min(127, Math.round(oihw[j * per + i]! / s)));
  }
  return { q, scales };
}

/**
 * int8 CNN with the same input/output names and types as buildCnnFp32. Static activation scales
 * from running the reference forward pass over `calibration` rows.
 * QuantizeLinear(input) → per block QLinearConv (uint8 x, int8 per-filter weights, int32 bias)
 * whose uint8 output range starts at 0, so its saturation IS the relu → MaxPool on uint8 (max
 * commutes with the monotone quantization) → Flatten → the dense layers as in buildMlpInt8's
 * "qlinear" form (QLinearMatMul → Dequantize → Add bias → Quantize) → Softmax on fp32 logits.
 */
export function buildCnnInt8(spec: CnnSpec, calibration: Float32Array, rows: number): Uint8Array {
  checkSpec(spec);
  if (rows <= 0) throw new Error("int8 calibration needs at least one row");
  const t = traceCnn(spec, calibration, rows);
  const nodes: onnx.INodeProto[] = [];
  const inits: onnx.ITensorProto[] = [];
  const inQ = uint8Params(t.input);
  inits.push(floatTensor("input.scale", [], [inQ.scale]), uint8Tensor("input.zero_point", [], [inQ.zeroPoint]));
  nodes.push(node("QuantizeLinear", [spec.input, "input.scale", "input.zero_point"], ["input/q"], {}, { name: "input/Quantize" }));
  let hq = toImage(spec, "input/q", nodes, inits);
  let hScale = "input.scale";
  let hZero = "input.zero_point";
  let xScale = inQ.scale;
  spec.conv.forEach((l, i) => {
    const p = `c${i}`;
    const w = quantizeConv(l);
    const outQ = uint8Params({ min: 0, max: t.conv[i]!.max });
    const bias = Int32Array.from(l.bias, (b, j) => Math.round(b / (xScale * w.scales[j]!)));
    inits.push(
      int8Tensor(`${p}.weight_q`, [l.filters, l.inChannels, l.kernel, l.kernel], w.q),
      floatTensor(`${p}.weight_scale`, [l.filters], w.scales),
      int8Tensor(`${p}.weight_zero_point`, [l.filters], new Int8Array(l.filters)),
      floatTensor(`${p}.out_scale`, [], [outQ.scale]),
      uint8Tensor(`${p}.out_zero_point`, [], [outQ.zeroPoint]),
      int32Tensor(`${p}.bias_q`, [l.filters], bias),
    );
    nodes.push(
      node(
        "QLinearConv",
        [hq, hScale, hZero, `${p}.weight_q`, `${p}.weight_scale`, `${p}.weight_zero_point`, `${p}.out_scale`, `${p}.out_zero_point`, `${p}.bias_q`],
        [`${p}/conv_q`],
        convAttrs(l),
        { name: `${p}/QLinearConv` },
      ),
    );
    hq = pool(l, i, `${p}/conv_q`, nodes);
    [hScale, hZero, xScale] = [`${p}.out_scale`, `${p}.out_zero_point`, outQ.scale];
  });
  nodes.push(node("Flatten", [hq], ["flat_q"], { axis: attr.int(1) }, { name: "Flatten" }));
  hq = "flat_q";
  const dense = graphDense(spec);
  let x: QuantizedTensor = { q: hq, scale: hScale, zero: hZero };
  let logits = "";
  dense.forEach((l, i) => {
    const p = `d${i}`;
    const add = qlinearDense(p, l, x, t.matmul[i]!, inits, nodes);
    if (i + 1 === dense.length) {
      logits = add;
      return;
    }
    // relu: the range starts at 0, so the zero point is 0 and QuantizeLinear's floor is the relu
    x = requantize(p, { min: 0, max: t.activation[i]!.max }, inits, nodes);
  });
  nodes.push(...head(spec, logits));
  const { inputs, outputs } = signature(spec);
  return encodeModel(graph({ name: "cnn_int8_qlinear", nodes, inputs, outputs, initializers: inits }));
}

/**
 * A seeded CNN (He-normal weights, N(0, 0.1²) biases) named like the trainer's exports
 * (features → probabilities, label): fixtures and tests. `dense` ends with the classes.
 */
export function cnnWeights(
  image: [number, number, number],
  conv: readonly { filters: number; kernel: number; pool: number }[],
  dense: readonly number[],
  seed: number,
): CnnSpec {
  const normal = seededNormal(seed);
  const fill = (n: number, std: number) => Float32Array.from({ length: n }, () => normal() * std);
  let ci = image[2];
  const convLayers: ConvLayer[] = conv.map((c) => {
    const fan = c.kernel * c.kernel * ci;
    const l = { weights: fill(fan * c.filters, Math.sqrt(2 / fan)), bias: fill(c.filters, 0.1), kernel: c.kernel, inChannels: ci, filters: c.filters, pool: c.pool };
    ci = c.filters;
    return l;
  });
  const last = convShapes({ image, conv: convLayers })[conv.length - 1]!;
  const sizes = [last.h * last.w * last.c, ...dense];
  const denseLayers: DenseLayer[] = sizes.slice(1).map((o, j) => ({
    weights: fill(sizes[j]! * o, Math.sqrt(2 / sizes[j]!)),
    bias: fill(o, 0.1),
    inputs: sizes[j]!,
    outputs: o,
    activation: j + 2 < sizes.length ? "relu" : "none",
  }));
  return { image, conv: convLayers, dense: denseLayers, input: "features", output: "probabilities", label: "label" };
}

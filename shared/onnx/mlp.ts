// Dense MLP → ONNX, in fp32 and int8. Pure TypeScript (runs in Node and workerd).
import {
  attr,
  encodeModel,
  floatTensor,
  graph,
  int8Tensor,
  node,
  uint8Tensor,
  valueInfo,
} from "./build";
import { seededNormal } from "../random";
import { onnx } from "./proto";

export type DenseLayer = {
  /** inputs×outputs, row-major (x·W). */
  weights: Float32Array;
  bias: Float32Array;
  inputs: number;
  outputs: number;
  activation: "relu" | "none";
};

export type MlpSpec = {
  layers: DenseLayer[];
  /** FP32 [-1, inputs]. */
  input: string;
  /** Softmax probabilities, FP32 [-1, classes]. */
  output: string;
  /** Optional arg-max class index, INT64 [-1]. */
  label?: string;
};

/**
 * "qlinear": QLinearMatMul with static uint8 activation scales and per-channel int8 weights.
 * "dynamic": the quantize_dynamic pattern (DynamicQuantizeLinear + MatMulInteger).
 */
export type Int8Format = "qlinear" | "dynamic";

function checkSpec(spec: MlpSpec): void {
  if (spec.layers.length === 0) throw new Error("MLP needs at least one layer");
  const names = new Set([spec.input, spec.output, ...(spec.label ? [spec.label] : [])]);
  if (names.size !== (spec.label ? 3 : 2)) throw new Error("MLP input/output/label names must differ");
  spec.layers.forEach((l, i) => {
    if (l.weights.length !== l.inputs * l.outputs) {
      throw new Error(`layer ${i}: weights have ${l.weights.length} values, expected ${l.inputs}×${l.outputs}`);
    }
    if (l.bias.length !== l.outputs) throw new Error(`layer ${i}: bias has ${l.bias.length} values, expected ${l.outputs}`);
    const prev = spec.layers[i - 1];
    if (prev && prev.outputs !== l.inputs) {
      throw new Error(`layer ${i}: ${l.inputs} inputs but layer ${i - 1} has ${prev.outputs} outputs`);
    }
  });
}

// ---------- plain-TS forward pass (reference and calibration) ----------

export type Range = { min: number; max: number };

type Trace = {
  logits: Float32Array;
  /** Per layer: range of x·W (before bias) and of the layer's output (after activation). */
  matmul: Range[];
  activation: Range[];
  input: Range;
};

/** Smallest and largest value ({0, 0} when empty): a calibration range. */
export function rangeOf(data: ArrayLike<number>): Range {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return data.length === 0 ? { min: 0, max: 0 } : { min, max };
}

function trace(layers: readonly DenseLayer[], x: Float32Array, rows: number): Trace {
  const first = layers[0];
  if (!first) throw new Error("MLP needs at least one layer");
  if (x.length !== rows * first.inputs) throw new Error(`expected ${rows}×${first.inputs} inputs, got ${x.length}`);
  const matmul: Range[] = [];
  const activation: Range[] = [];
  let h: Float32Array = x;
  for (const l of layers) {
    const mm = new Float32Array(rows * l.outputs);
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < l.outputs; j++) {
        let acc = 0;
        for (let i = 0; i < l.inputs; i++) acc += h[r * l.inputs + i]! * l.weights[i * l.outputs + j]!;
        mm[r * l.outputs + j] = acc;
      }
    }
    matmul.push(rangeOf(mm));
    const out = new Float32Array(rows * l.outputs);
    for (let k = 0; k < out.length; k++) {
      const z = mm[k]! + l.bias[k % l.outputs]!;
      out[k] = l.activation === "relu" && z < 0 ? 0 : z;
    }
    activation.push(rangeOf(out));
    h = out;
  }
  return { logits: h, matmul, activation, input: rangeOf(x) };
}

export function softmaxRows(logits: Float32Array, cols: number): Float32Array {
  const out = new Float32Array(logits.length);
  for (let r = 0; r < logits.length / cols; r++) {
    let max = -Infinity;
    for (let j = 0; j < cols; j++) max = Math.max(max, logits[r * cols + j]!);
    let sum = 0;
    for (let j = 0; j < cols; j++) sum += Math.exp(logits[r * cols + j]! - max);
    for (let j = 0; j < cols; j++) out[r * cols + j] = Math.exp(logits[r * cols + j]! - max) / sum;
  }
  return out;
}

export function argmaxRows(values: Float32Array, cols: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < values.length / cols; r++) {
    let best = 0;
    for (let j = 1; j < cols; j++) if (values[r * cols + j]! > values[r * cols + best]!) best = j;
    out.push(best);
  }
  return out;
}

/** Reference forward pass: what the fp32 ONNX model computes, in plain TypeScript. */
export function mlpForward(
  layers: readonly DenseLayer[],
  x: Float32Array,
  rows: number,
): { logits: Float32Array; probabilities: Float32Array; labels: number[] } {
  const { logits } = trace(layers, x, rows);
  const classes = layers[layers.length - 1]!.outputs;
  return { logits, probabilities: softmaxRows(logits, classes), labels: argmaxRows(logits, classes) };
}

// ---------- fp32 ----------

function signature(spec: MlpSpec): { inputs: onnx.IValueInfoProto[]; outputs: onnx.IValueInfoProto[] } {
  const first = spec.layers[0]!;
  const last = spec.layers[spec.layers.length - 1]!;
  const outputs = [valueInfo(spec.output, "FP32", [-1, last.outputs])];
  if (spec.label) outputs.push(valueInfo(spec.label, "INT64", [-1]));
  return { inputs: [valueInfo(spec.input, "FP32", [-1, first.inputs])], outputs };
}

/** Softmax over classes, and ArgMax of the logits (same class, no ties from saturated probabilities). */
function head(spec: MlpSpec, logits: string): onnx.INodeProto[] {
  const nodes = [node("Softmax", [logits], [spec.output], { axis: attr.int(-1) }, { name: "softmax" })];
  if (spec.label) {
    nodes.push(node("ArgMax", [logits], [spec.label], { axis: attr.int(1), keepdims: attr.int(0) }, { name: "argmax" }));
  }
  return nodes;
}

export function buildMlpFp32(spec: MlpSpec): Uint8Array {
  checkSpec(spec);
  const nodes: onnx.INodeProto[] = [];
  const inits: onnx.ITensorProto[] = [];
  let h = spec.input;
  spec.layers.forEach((l, i) => {
    const p = `l${i}`;
    inits.push(floatTensor(`${p}.weight`, [l.inputs, l.outputs], l.weights));
    inits.push(floatTensor(`${p}.bias`, [l.outputs], l.bias));
    nodes.push(node("MatMul", [h, `${p}.weight`], [`${p}/matmul`], {}, { name: `${p}/MatMul` }));
    nodes.push(node("Add", [`${p}/matmul`, `${p}.bias`], [`${p}/add`], {}, { name: `${p}/Add` }));
    h = `${p}/add`;
    if (l.activation === "relu") {
      nodes.push(node("Relu", [h], [`${p}/relu`], {}, { name: `${p}/Relu` }));
      h = `${p}/relu`;
    }
  });
  nodes.push(...head(spec, h));
  const { inputs, outputs } = signature(spec);
  return encodeModel(graph({ name: "mlp_fp32", nodes, inputs, outputs, initializers: inits }));
}

// ---------- int8 ----------

/** Round half to even, as ONNX QuantizeLinear does. */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Asymmetric uint8 parameters covering [min, max] and always 0 (so 0 is exact). */
export function uint8Params(range: Range): { scale: number; zeroPoint: number } {
  const lo = Math.min(0, range.min);
  const hi = Math.max(0, range.max);
  const scale = Math.fround(hi > lo ? (hi - lo) / 255 : 1);
  const zeroPoint = Math.min(255, Math.max(0, roundHalfEven(-lo / scale)));
  return { scale, zeroPoint };
}

/** Symmetric int8 per output column (zero point 0, range ±127). */
export function quantizeWeightsPerColumn(l: DenseLayer): { q: Int8Array; scales: Float32Array } {
  const scales = new Float32Array(l.outputs);
  for (let j = 0; j < l.outputs; j++) {
    let amax = 0;
    for (let i = 0; i < l.inputs; i++) amax = Math.max(amax, Math.abs(l.weights[i * l.outputs + j]!));
    scales[j] = amax > 0 ? amax / 127 : 1;
  }
  const q = new Int8Array(l.weights.length);
  for (let i = 0; i < l.inputs; i++) {
    for (let j = 0; j < l.outputs; j++) {
      const v = roundHalfEven(l.weights[i * l.outputs + j]! / scales[j]!);
      q[i * l.outputs + j] = Math.max(-127, Math.min(127, v));
    }
  }
  return { q, scales };
}

/** Names of a uint8 activation and its quantization parameters in a QLinear graph. */
export type QuantizedTensor = { q: string; scale: string; zero: string };

/**
 * One int8 dense layer of a QLinear graph (MLP and CNN alike), named by `p`: QLinearMatMul of the
 * uint8 input with per-column int8 weights (output quantized over `matmul`'s range),
 * DequantizeLinear, then + bias in fp32. Returns the fp32 output, `<p>/add`.
 */
export function qlinearDense(p: string, l: DenseLayer, x: QuantizedTensor, matmul: Range, inits: onnx.ITensorProto[], nodes: onnx.INodeProto[]): string {
  const w = quantizeWeightsPerColumn(l);
  const mmQ = uint8Params(matmul);
  inits.push(
    int8Tensor(`${p}.weight_q`, [l.inputs, l.outputs], w.q),
    floatTensor(`${p}.weight_scale`, [l.outputs], w.scales),
    int8Tensor(`${p}.weight_zero_point`, [l.outputs], new Int8Array(l.outputs)),
    floatTensor(`${p}.matmul_scale`, [], [mmQ.scale]),
    uint8Tensor(`${p}.matmul_zero_point`, [], [mmQ.zeroPoint]),
    floatTensor(`${p}.bias`, [l.outputs], l.bias),
  );
  nodes.push(
    node(
      "QLinearMatMul",
      [x.q, x.scale, x.zero, `${p}.weight_q`, `${p}.weight_scale`, `${p}.weight_zero_point`, `${p}.matmul_scale`, `${p}.matmul_zero_point`],
      [`${p}/matmul_q`],
      {},
      { name: `${p}/QLinearMatMul` },
    ),
    node("DequantizeLinear", [`${p}/matmul_q`, `${p}.matmul_scale`, `${p}.matmul_zero_point`], [`${p}/matmul`], {}, { name: `${p}/Dequantize` }),
    node("Add", [`${p}/matmul`, `${p}.bias`], [`${p}/add`], {}, { name: `${p}/Add` }),
  );
  return `${p}/add`;
}

/** Quantizes layer `p`'s fp32 output to uint8 over `range` for the next layer (`<p>/out_q`). */
export function requantize(p: string, range: Range, inits: onnx.ITensorProto[], nodes: onnx.INodeProto[]): QuantizedTensor {
  const q = uint8Params(range);
  inits.push(floatTensor(`${p}.out_scale`, [], [q.scale]), uint8Tensor(`${p}.out_zero_point`, [], [q.zeroPoint]));
  nodes.push(node("QuantizeLinear", [`${p}/add`, `${p}.out_scale`, `${p}.out_zero_point`], [`${p}/out_q`], {}, { name: `${p}/Quantize` }));
  return { q: `${p}/out_q`, scale: `${p}.out_scale`, zero: `${p}.out_zero_point` };
}

/**
 * int8 MLP with the same input/output names and types as buildMlpFp32, so the two are
 * interchangeable. Weights: int8, per output column, symmetric. Bias stays fp32.
 *
 * Default "qlinear": onnxruntime (node and web, 1.30) accepts a 1-D (per-column) b_scale /
 * b_zero_point in QLinearMatMul, and it was the fastest int8 form measured in ort-web.
 * Static activation scales come from running the fp32 net over `calibration`.
 * Per layer: QLinearMatMul(uint8 x, int8 W) → DequantizeLinear → Add bias (fp32) →
 * QuantizeLinear for the next layer. A Relu before a QuantizeLinear is dropped: its output
 * range starts at 0, so the zero point is 0 and QuantizeLinear's saturation at 0 is the Relu.
 * Trade-off: x·W is requantized to uint8 before the bias, so a bias that cancels a large x·W
 * offset costs resolution (iris layer 0: x·W in [-27, 18], x·W+b in [-10, 7.5]); "dynamic"
 * keeps int32 accumulators and is closer to fp32 (iris max |Δp| 0.08 vs 0.16).
 */
export function buildMlpInt8(
  spec: MlpSpec,
  calibration: Float32Array,
  rows: number,
  opts: { format?: Int8Format } = {},
): Uint8Array {
  checkSpec(spec);
  if (rows <= 0) throw new Error("int8 calibration needs at least one row");
  const format = opts.format ?? "qlinear";
  const t = trace(spec.layers, calibration, rows);
  const nodes: onnx.INodeProto[] = [];
  const inits: onnx.ITensorProto[] = [];
  const { inputs, outputs } = signature(spec);

  if (format === "qlinear") {
    const inQ = uint8Params(t.input);
    inits.push(floatTensor("input.scale", [], [inQ.scale]), uint8Tensor("input.zero_point", [], [inQ.zeroPoint]));
    nodes.push(
      node("QuantizeLinear", [spec.input, "input.scale", "input.zero_point"], ["input/q"], {}, { name: "input/Quantize" }),
    );
    let x: QuantizedTensor = { q: "input/q", scale: "input.scale", zero: "input.zero_point" };
    let logits = "";
    spec.layers.forEach((l, i) => {
      const p = `l${i}`;
      const add = qlinearDense(p, l, x, t.matmul[i]!, inits, nodes);
      if (i === spec.layers.length - 1) {
        logits = add;
        if (l.activation === "relu") {
          nodes.push(node("Relu", [logits], [`${p}/relu`], {}, { name: `${p}/Relu` }));
          logits = `${p}/relu`;
        }
        return;
      }
      if (l.activation === "relu" && uint8Params(t.activation[i]!).zeroPoint !== 0) throw new Error("internal: relu range must start at 0");
      x = requantize(p, t.activation[i]!, inits, nodes);
    });
    nodes.push(...head(spec, logits));
  } else {
    // quantize_dynamic: activations quantized per call (uint8, per tensor), int8 per-column weights.
    let h = spec.input;
    spec.layers.forEach((l, i) => {
      const p = `l${i}`;
      const w = quantizeWeightsPerColumn(l);
      inits.push(
        int8Tensor(`${p}.weight_q`, [l.inputs, l.outputs], w.q),
        floatTensor(`${p}.weight_scale`, [l.outputs], w.scales),
        int8Tensor(`${p}.weight_zero_point`, [l.outputs], new Int8Array(l.outputs)),
        floatTensor(`${p}.bias`, [l.outputs], l.bias),
      );
      nodes.push(
        node("DynamicQuantizeLinear", [h], [`${p}/x_q`, `${p}/x_scale`, `${p}/x_zero_point`], {}, { name: `${p}/DynamicQuantize` }),
        node("MatMulInteger", [`${p}/x_q`, `${p}.weight_q`, `${p}/x_zero_point`, `${p}.weight_zero_point`], [`${p}/acc`], {}, {
          name: `${p}/MatMulInteger`,
        }),
        node("Cast", [`${p}/acc`], [`${p}/acc_f`], { to: attr.int(onnx.TensorProto.DataType.FLOAT) }, { name: `${p}/Cast` }),
        node("Mul", [`${p}/x_scale`, `${p}.weight_scale`], [`${p}/scale`], {}, { name: `${p}/ScaleMul` }),
        node("Mul", [`${p}/acc_f`, `${p}/scale`], [`${p}/matmul`], {}, { name: `${p}/Mul` }),
        node("Add", [`${p}/matmul`, `${p}.bias`], [`${p}/add`], {}, { name: `${p}/Add` }),
      );
      h = `${p}/add`;
      if (l.activation === "relu") {
        nodes.push(node("Relu", [h], [`${p}/relu`], {}, { name: `${p}/Relu` }));
        h = `${p}/relu`;
      }
    });
    nodes.push(...head(spec, h));
  }
  return encodeModel(graph({ name: `mlp_int8_${format}`, nodes, inputs, outputs, initializers: inits }));
}

/** Seeded He-initialised MLP (relu hidden layers, linear last layer, zero biases). */
export function mlpWeights(sizes: readonly number[], seed: number): DenseLayer[] {
  if (sizes.length < 2) throw new Error("mlpWeights needs at least [inputs, outputs]");
  const normal = seededNormal(seed);
  const layers: DenseLayer[] = [];
  for (let k = 0; k + 1 < sizes.length; k++) {
    const inputs = sizes[k]!;
    const outputs = sizes[k + 1]!;
    const std = Math.sqrt(2 / inputs);
    const weights = new Float32Array(inputs * outputs);
    for (let i = 0; i < weights.length; i++) weights[i] = normal() * std;
    const bias = new Float32Array(outputs);
    for (let j = 0; j < outputs; j++) bias[j] = normal() * 0.01;
    layers.push({ weights, bias, inputs, outputs, activation: k + 2 < sizes.length ? "relu" : "none" });
  }
  return layers;
}

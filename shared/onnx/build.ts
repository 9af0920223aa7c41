// Small builders for ONNX graphs. Pure TypeScript (runs in Node and workerd).
import { ONNX_ELEM_TYPE, type Datatype } from "../datatypes";
import { onnx } from "./proto";

/** IR 8 (ONNX 1.10, the schema onnx-proto encodes); onnxruntime 1.30 loads IR <= 11. */
export const DEFAULT_IR_VERSION = 8;
/** Opset 13: per-axis QuantizeLinear/DequantizeLinear, Softmax over the last axis only. */
export const DEFAULT_OPSET = 13;

// ---------- tensors (initializers) ----------
// All initializers go in raw_data, little-endian, written through DataView so the bytes do
// not depend on the host's endianness.

function rawTensor(name: string, dt: Datatype, dims: readonly number[], raw: Uint8Array): onnx.ITensorProto {
  return { name, dataType: ONNX_ELEM_TYPE[dt], dims: [...dims], rawData: raw };
}

function checkCount(name: string, dims: readonly number[], length: number): void {
  const count = dims.reduce((a, b) => a * b, 1);
  if (count !== length) throw new Error(`tensor ${name}: ${length} values for dims [${dims.join(",")}]`);
}

export function floatTensor(name: string, dims: readonly number[], data: ArrayLike<number>): onnx.ITensorProto {
  checkCount(name, dims, data.length);
  const buf = new Uint8Array(data.length * 4);
  const view = new DataView(buf.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i]!, true);
  return rawTensor(name, "FP32", dims, buf);
}

export function int8Tensor(name: string, dims: readonly number[], data: ArrayLike<number>): onnx.ITensorProto {
  checkCount(name, dims, data.length);
  const buf = new Uint8Array(data.length);
  const view = new DataView(buf.buffer);
  for (let i = 0; i < data.length; i++) view.setInt8(i, data[i]!);
  return rawTensor(name, "INT8", dims, buf);
}

export function uint8Tensor(name: string, dims: readonly number[], data: ArrayLike<number>): onnx.ITensorProto {
  checkCount(name, dims, data.length);
  return rawTensor(name, "UINT8", dims, Uint8Array.from(data));
}

export function int32Tensor(name: string, dims: readonly number[], data: ArrayLike<number>): onnx.ITensorProto {
  checkCount(name, dims, data.length);
  const buf = new Uint8Array(data.length * 4);
  const view = new DataView(buf.buffer);
  for (let i = 0; i < data.length; i++) view.setInt32(i * 4, data[i]!, true);
  return rawTensor(name, "INT32", dims, buf);
}

export function int64Tensor(
  name: string,
  dims: readonly number[],
  data: ArrayLike<number | bigint>,
): onnx.ITensorProto {
  checkCount(name, dims, data.length);
  const buf = new Uint8Array(data.length * 8);
  const view = new DataView(buf.buffer);
  for (let i = 0; i < data.length; i++) view.setBigInt64(i * 8, BigInt(data[i]!), true);
  return rawTensor(name, "INT64", dims, buf);
}

// ---------- value infos ----------

/** A dimension: a fixed size, -1 (dynamic, named "batch"), or a symbolic name. */
export type Dim = number | string;

export function valueInfo(name: string, datatype: Datatype, shape: readonly Dim[]): onnx.IValueInfoProto {
  const dim = shape.map((d) =>
    typeof d === "string" ? { dimParam: d } : d < 0 ? { dimParam: "batch" } : { dimValue: d },
  );
  return {
    name,
    type: { tensorType: { elemType: ONNX_ELEM_TYPE[datatype], shape: { dim } } },
  };
}

// ---------- nodes ----------

export type Attr =
  | { kind: "int"; value: number }
  | { kind: "float"; value: number }
  | { kind: "string"; value: string }
  | { kind: "ints"; value: readonly number[] }
  | { kind: "floats"; value: readonly number[] }
  | { kind: "tensor"; value: onnx.ITensorProto };

/** Numbers are ambiguous (int or float), so attributes are tagged. */
export const attr = {
  int: (value: number): Attr => ({ kind: "int", value }),
  float: (value: number): Attr => ({ kind: "float", value }),
  string: (value: string): Attr => ({ kind: "string", value }),
  ints: (value: readonly number[]): Attr => ({ kind: "ints", value }),
  floats: (value: readonly number[]): Attr => ({ kind: "floats", value }),
  tensor: (value: onnx.ITensorProto): Attr => ({ kind: "tensor", value }),
};

const T = onnx.AttributeProto.AttributeType;

function attributeProto(name: string, a: Attr): onnx.IAttributeProto {
  switch (a.kind) {
    case "int":
      return { name, type: T.INT, i: a.value };
    case "float":
      return { name, type: T.FLOAT, f: a.value };
    case "string":
      return { name, type: T.STRING, s: new TextEncoder().encode(a.value) };
    case "ints":
      return { name, type: T.INTS, ints: [...a.value] };
    case "floats":
      return { name, type: T.FLOATS, floats: [...a.value] };
    case "tensor":
      return { name, type: T.TENSOR, t: a.value };
  }
}

export function node(
  opType: string,
  inputs: readonly string[],
  outputs: readonly string[],
  attrs: Record<string, Attr> = {},
  opts: { name?: string; domain?: string } = {},
): onnx.INodeProto {
  // Attributes sorted by name so the encoding does not depend on object key order.
  const attribute = Object.keys(attrs)
    .sort()
    .map((k) => attributeProto(k, attrs[k]!));
  const n: onnx.INodeProto = { opType, input: [...inputs], output: [...outputs], attribute };
  if (opts.name !== undefined) n.name = opts.name;
  if (opts.domain !== undefined) n.domain = opts.domain;
  return n;
}

// ---------- graph and model ----------

export function graph(parts: {
  name: string;
  nodes: readonly onnx.INodeProto[];
  inputs: readonly onnx.IValueInfoProto[];
  outputs: readonly onnx.IValueInfoProto[];
  initializers?: readonly onnx.ITensorProto[];
}): onnx.IGraphProto {
  return {
    name: parts.name,
    node: [...parts.nodes],
    input: [...parts.inputs],
    output: [...parts.outputs],
    initializer: [...(parts.initializers ?? [])],
  };
}

export type EncodeOptions = {
  opset?: number;
  irVersion?: number;
  /** Extra operator sets, e.g. { "com.microsoft": 1 }. */
  extraOpsets?: Record<string, number>;
  producerName?: string;
  docString?: string;
};

/** Deterministic: no timestamps, so the same graph always gives the same bytes. */
export function encodeModel(g: onnx.IGraphProto, opts: EncodeOptions = {}): Uint8Array {
  const opsetImport: onnx.IOperatorSetIdProto[] = [{ domain: "", version: opts.opset ?? DEFAULT_OPSET }];
  for (const domain of Object.keys(opts.extraOpsets ?? {}).sort()) {
    opsetImport.push({ domain, version: opts.extraOpsets![domain]! });
  }
  const model: onnx.IModelProto = {
    irVersion: opts.irVersion ?? DEFAULT_IR_VERSION,
    opsetImport,
    producerName: opts.producerName ?? "meridian",
    graph: g,
  };
  if (opts.docString !== undefined) model.docString = opts.docString;
  const err = onnx.ModelProto.verify(model);
  if (err) throw new Error(`invalid ONNX model: ${err}`);
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}

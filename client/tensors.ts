// Tensors on the client's side: what a caller hands in (typed arrays, or plain arrays converted
// by datatype) and the typed outputs read back from a JSON or binary answer. Pure.
import { decodeBinaryTensor, ELEMENT_BYTES, sliceBinary, splitBody, TYPED_ARRAYS, type BinaryResponseHeader, type TensorInput } from "../shared/binary";
import { elementCount, type Datatype } from "../shared/datatypes";
import type { InferenceResult, OutputTensor } from "../shared/oip";
import { TensorError, decodeTensor, encodeValues, flatten, toHalf, type TensorValues } from "../shared/tensors";

export { TensorError };
export type { Datatype, InferenceResult, OutputTensor, TensorValues };

export type PlainValue = number | bigint | string | boolean;
/** Plain values, flat (row-major) or nested like the shape. */
export type PlainValues = ReadonlyArray<PlainValue | PlainValues>;

export interface InputTensor {
  name: string;
  datatype: Datatype;
  shape: number[];
  /**
   * The native typed array of the datatype is sent as it is (FP16 as raw half-float bits in a
   * Uint16Array, BOOL as 0/1 bytes, INT64 as a BigInt64Array); anything else (a plain or nested
   * array, another typed array) is converted and range-checked as the edge would.
   */
  values: TensorValues | PlainValues;
  parameters?: Record<string, unknown>;
}

type Fixed = Exclude<Datatype, "BYTES">;

/** The typed array each datatype travels as (FP16: raw bits). */
const NATIVE: Record<Fixed, abstract new (...args: never[]) => ArrayBufferView> = TYPED_ARRAYS;

/** An input as the binary codec takes it: native typed values whose count matches the shape. */
export function toTensorInput(input: InputTensor): TensorInput {
  const { name, datatype, shape } = input;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new TensorError(`input "${name}": shape must be an array of non-negative integers`);
  }
  const count = elementCount(shape);
  const native = (values: TensorValues): TensorInput => {
    if (values.length !== count) throw new TensorError(`input "${name}": ${values.length} values, shape [${shape.join(", ")}] needs ${count}`);
    return { name, datatype, shape, values, ...(input.parameters ? { parameters: input.parameters } : {}) };
  };
  const v = input.values;
  if (datatype !== "BYTES" && !Array.isArray(v) && v instanceof NATIVE[datatype as Fixed]) return native(v as TensorValues);
  // The edge's own decoder converts and checks the rest; 64-bit integers go as decimal strings
  // (it takes those), other bigints as numbers.
  const wide = datatype === "INT64" || datatype === "UINT64";
  const flat = ArrayBuffer.isView(v) ? Array.from(v as ArrayLike<PlainValue>) : flatten(v as unknown[]);
  const plain = flat.map((x) => (typeof x === "bigint" ? (wide ? x.toString() : Number(x)) : x));
  return native(decodeTensor(name, datatype, shape, plain).values);
}

/** An answer's outputs with lookups by name. */
export class InferenceOutputs implements InferenceResult {
  model_name: string;
  model_version: string;
  id?: string;
  /** The answer's parameters (for a model with feature views: which values were defaulted or stale, and how they were read). */
  parameters?: InferenceResult["parameters"];
  outputs: OutputTensor[];

  constructor(result: InferenceResult) {
    this.model_name = result.model_name;
    this.model_version = result.model_version;
    if (result.id !== undefined) this.id = result.id;
    if (result.parameters !== undefined) this.parameters = result.parameters;
    this.outputs = result.outputs;
  }

  /** The output called `name`; a TensorError when the answer has none. */
  output(name: string): OutputTensor {
    const found = this.outputs.find((o) => o.name === name);
    if (!found) throw new TensorError(`the answer has no output "${name}" (it has ${this.outputs.map((o) => o.name).join(", ") || "none"})`);
    return found;
  }

  /** An output's values as JSON would carry them: numbers (FP16 decoded), booleans, strings; 64-bit integers beyond 2^53 as strings. */
  data(name: string): Array<number | string | boolean> {
    const o = this.output(name);
    return encodeValues(o.datatype, o.values);
  }
}

/**
 * A response body (JSON, or a JSON header of `length` bytes followed by binary outputs) as typed
 * outputs. Unlike the request direction, outputs may be NaN or ±Infinity (a model overflowing):
 * they are kept, and JSON's null (how JSON carries them) reads as NaN.
 */
export function decodeAnswer(body: Uint8Array, length: number | null): InferenceResult {
  const { header, binary } = splitBody(body, length);
  const parsed = JSON.parse(new TextDecoder().decode(header)) as BinaryResponseHeader;
  if (!parsed || typeof parsed !== "object" || !Array.isArray(parsed.outputs)) throw new TensorError("the answer has no outputs array");
  const slices = sliceBinary(parsed.outputs, binary, "output");
  const outputs = parsed.outputs.map((o): OutputTensor => {
    const bytes = slices.get(o);
    const values = bytes ? binaryValues(o.name, o.datatype, o.shape, bytes) : jsonValues(o.name, o.datatype, flatten(o.data ?? []));
    return { name: o.name, datatype: o.datatype, shape: o.shape, values };
  });
  const result: InferenceResult = { model_name: parsed.model_name, model_version: parsed.model_version, outputs };
  if (parsed.id !== undefined) result.id = parsed.id;
  if (parsed.parameters && typeof parsed.parameters === "object") result.parameters = parsed.parameters as InferenceResult["parameters"];
  return result;
}

const FLOAT: Partial<Record<Datatype, new (buffer: ArrayBuffer, offset: number, length: number) => Uint16Array | Float32Array | Float64Array>> = {
  FP16: Uint16Array,
  FP32: Float32Array,
  FP64: Float64Array,
};

function binaryValues(name: string, datatype: Datatype, shape: number[], bytes: Uint8Array): TensorValues {
  const Float = FLOAT[datatype];
  // The shared decoder refuses non-finite floats (right for inputs): outputs are viewed here.
  if (!Float) return decodeBinaryTensor(`output "${name}"`, datatype, shape, bytes).values;
  const count = elementCount(shape);
  const width = ELEMENT_BYTES[datatype as Fixed];
  if (bytes.byteLength !== count * width) {
    throw new TensorError(`output "${name}": ${bytes.byteLength} bytes of binary data, shape [${shape.join(", ")}] of ${datatype} needs ${count * width}`);
  }
  const aligned = bytes.byteOffset % width === 0 && bytes.buffer instanceof ArrayBuffer ? bytes : bytes.slice();
  return new Float(aligned.buffer as ArrayBuffer, aligned.byteOffset, count);
}

function jsonValues(name: string, datatype: Datatype, data: unknown[]): TensorValues {
  const bad = (i: number): never => {
    throw new TensorError(`output "${name}": element ${i} (${JSON.stringify(data[i])}) is not a ${datatype} value`);
  };
  const number = (v: unknown, i: number): number => (v === null ? NaN : typeof v === "number" ? v : bad(i));
  const big = (v: unknown, i: number): bigint => (typeof v === "number" && Number.isInteger(v)) || (typeof v === "string" && /^-?\d+$/.test(v)) ? BigInt(v) : bad(i);
  switch (datatype) {
    case "BYTES":
      return data.map((v, i) => (typeof v === "string" ? v : bad(i)));
    case "BOOL":
      return Uint8Array.from(data, (v, i) => (typeof v === "boolean" ? Number(v) : bad(i)));
    case "FP16":
      return Uint16Array.from(data, (v, i) => toHalf(number(v, i)));
    case "FP32":
      return Float32Array.from(data, number);
    case "FP64":
      return Float64Array.from(data, number);
    case "INT64":
      return BigInt64Array.from(data, big);
    case "UINT64":
      return BigUint64Array.from(data, big);
    default: {
      const View = NATIVE[datatype] as unknown as { from(data: unknown[], map: (v: unknown, i: number) => number): TensorValues };
      return View.from(data, (v, i) => (typeof v === "number" && Number.isInteger(v) ? v : bad(i)));
    }
  }
}

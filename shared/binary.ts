// The binary tensor data extension of OIP v2 (KServe, Triton): a body is a JSON header of
// `Inference-Header-Content-Length` bytes followed by the raw data of the tensors whose
// `parameters.binary_data_size` is set, in the order they appear. Data is little-endian and
// row-major, BOOL one byte, FP16 raw half floats, BYTES a 4-byte length before each element.
// Pure: the edge, the client library and the tests share it.
import { type Datatype, ORT_TYPE, elementCount } from "./datatypes";
import type { InferenceResponse, InferenceResult, ResponseOutput } from "./oip";
import { TensorError, encodeValues, toHalf, type DecodedTensor, type TensorValues } from "./tensors";

export const HEADER_LENGTH = "inference-header-content-length";
export const BINARY_CONTENT_TYPE = "application/octet-stream";

/** Bytes per element of every datatype but BYTES (which has a length before each element). */
export const ELEMENT_BYTES: Record<Exclude<Datatype, "BYTES">, number> = {
  BOOL: 1,
  UINT8: 1,
  INT8: 1,
  UINT16: 2,
  INT16: 2,
  FP16: 2,
  UINT32: 4,
  INT32: 4,
  FP32: 4,
  UINT64: 8,
  INT64: 8,
  FP64: 8,
};

type Fixed = Exclude<Datatype, "BYTES">;
type TypedArrayOf = { new (buffer: ArrayBufferLike, byteOffset: number, length: number): Exclude<TensorValues, string[]>; BYTES_PER_ELEMENT: number };

/** The typed array each fixed-size datatype travels as, little-endian (FP16: raw half-float bits). */
export const TYPED_ARRAYS: Record<Fixed, TypedArrayOf> = {
  BOOL: Uint8Array,
  UINT8: Uint8Array,
  INT8: Int8Array,
  UINT16: Uint16Array,
  INT16: Int16Array,
  FP16: Uint16Array,
  UINT32: Uint32Array,
  INT32: Int32Array,
  FP32: Float32Array,
  UINT64: BigUint64Array,
  INT64: BigInt64Array,
  FP64: Float64Array,
};

/** The header length a request or response declares, or null when it has none. */
export function headerLength(value: string | null | undefined): number | null {
  if (value === null || value === undefined) return null;
  if (!/^\d{1,15}$/.test(value.trim())) throw new TensorError(`${HEADER_LENGTH} must be a byte count, not "${value.slice(0, 32)}"`);
  return Number(value);
}

/** Splits a body into its JSON header and the binary section after it. */
export function splitBody(body: Uint8Array, length: number | null): { header: Uint8Array; binary: Uint8Array } {
  if (length === null) return { header: body, binary: body.subarray(body.byteLength) };
  if (length > body.byteLength) {
    throw new TensorError(`${HEADER_LENGTH} is ${length}, past the end of the ${body.byteLength}-byte body`);
  }
  return { header: body.subarray(0, length), binary: body.subarray(length) };
}

/** The binary_data_size a tensor declares, or undefined; a bad value is a TensorError. */
export function binarySize(what: string, parameters: Record<string, unknown> | undefined): number | undefined {
  const size = parameters?.binary_data_size;
  if (size === undefined) return undefined;
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
    throw new TensorError(`${what}: parameter "binary_data_size" must be a non-negative integer`);
  }
  return size;
}

/**
 * Hands each tensor that declares binary_data_size its slice of the binary section, in order.
 * The sizes must add up to the section exactly: anything else means the framing is wrong.
 */
export function sliceBinary<T extends { name: string; parameters?: Record<string, unknown> }>(
  tensors: readonly T[],
  binary: Uint8Array,
  kind = "input",
): Map<T, Uint8Array> {
  const out = new Map<T, Uint8Array>();
  let at = 0;
  for (const t of tensors) {
    const size = binarySize(`${kind} "${t.name}"`, t.parameters);
    if (size === undefined) continue;
    if (at + size > binary.byteLength) {
      throw new TensorError(
        `${kind} "${t.name}": binary_data_size ${size} at offset ${at} runs past the ${binary.byteLength} bytes of binary data after the JSON header`,
      );
    }
    out.set(t, binary.subarray(at, at + size));
    at += size;
  }
  if (at !== binary.byteLength) {
    throw new TensorError(
      out.size === 0
        ? `the body has ${binary.byteLength} bytes after the ${HEADER_LENGTH} JSON header, but no ${kind} declares binary_data_size`
        : `the ${kind}s' binary_data_size add up to ${at} bytes, the body has ${binary.byteLength} after the JSON header`,
    );
  }
  return out;
}

/**
 * Decodes one tensor's binary data, whose datatype and shape were checked already. Fixed-width
 * data is viewed in place when aligned (copied once otherwise). As an input (`check`), values the
 * JSON path refuses (NaN, Infinity, a BOOL byte other than 0 or 1, a NUL in a string) are refused
 * here too; an output is taken as the model made it.
 */
export function decodeBinaryTensor(what: string, datatype: Datatype, shape: readonly number[], bytes: Uint8Array, check = true): DecodedTensor {
  const count = elementCount(shape);
  const dims = [...shape];
  const type = ORT_TYPE[datatype];
  if (datatype === "BYTES") return { type, values: decodeStrings(what, count, shape, bytes, check), dims };
  const width = ELEMENT_BYTES[datatype];
  if (bytes.byteLength !== count * width) {
    throw new TensorError(
      `${what}: binary_data_size is ${bytes.byteLength} bytes, shape [${shape.join(", ")}] of ${datatype} needs ${count * width} (${count} × ${width})`,
    );
  }
  const View = TYPED_ARRAYS[datatype];
  const aligned = bytes.byteOffset % View.BYTES_PER_ELEMENT === 0 ? bytes : bytes.slice();
  const values = new View(aligned.buffer, aligned.byteOffset, count);
  if (check) checkValues(what, datatype, values);
  return { type, values, dims };
}

function checkValues(what: string, datatype: Fixed, values: Exclude<TensorValues, string[]>): void {
  const bad = (i: number, problem: string): never => {
    throw new TensorError(`${what}: element ${i} is ${problem}`);
  };
  if (datatype === "FP32" || datatype === "FP64") {
    const v = values as Float32Array | Float64Array;
    for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i]!)) bad(i, `${v[i]}, expected a finite ${datatype} number (the model takes no NaN or Infinity)`);
  } else if (datatype === "FP16") {
    const v = values as Uint16Array;
    for (let i = 0; i < v.length; i++) if ((v[i]! & 0x7c00) === 0x7c00) bad(i, "NaN or Infinity, expected a finite FP16 number");
  } else if (datatype === "BOOL") {
    const v = values as Uint8Array;
    for (let i = 0; i < v.length; i++) if (v[i]! > 1) bad(i, `the byte ${v[i]}, expected 0 (false) or 1 (true)`);
  }
}

// ignoreBOM: a leading U+FEFF is part of the element, not a marker to strip.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

function decodeStrings(what: string, count: number, shape: readonly number[], bytes: Uint8Array, check: boolean): string[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: string[] = new Array(count);
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + 4 > bytes.byteLength) {
      throw new TensorError(`${what}: binary BYTES data ends after ${i} elements, shape [${shape.join(", ")}] needs ${count}`);
    }
    const length = view.getUint32(at, true);
    at += 4;
    if (at + length > bytes.byteLength) {
      throw new TensorError(`${what}: BYTES element ${i} says ${length} bytes, only ${bytes.byteLength - at} are left in its binary data`);
    }
    const element = bytes.subarray(at, at + length);
    if (check && element.includes(0)) throw new TensorError(`${what}: BYTES element ${i} contains a NUL byte, which the runtime's strings cannot hold`);
    try {
      out[i] = utf8.decode(element);
    } catch {
      throw new TensorError(`${what}: BYTES element ${i} is not valid UTF-8`);
    }
    at += length;
  }
  if (at !== bytes.byteLength) {
    throw new TensorError(`${what}: binary BYTES data has ${bytes.byteLength - at} bytes left after the ${count} elements of shape [${shape.join(", ")}]`);
  }
  return out;
}

/** One tensor's values as binary data (little-endian, as every platform Workers and Node run on). */
export function encodeBinaryTensor(values: TensorValues | readonly string[]): Uint8Array {
  if (!Array.isArray(values)) {
    const v = values as Exclude<TensorValues, string[]>;
    return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  }
  const parts = (values as readonly string[]).map((s) => encoder.encode(s));
  const out = new Uint8Array(parts.reduce((n, p) => n + 4 + p.byteLength, 0));
  const view = new DataView(out.buffer);
  let at = 0;
  for (const p of parts) {
    view.setUint32(at, p.byteLength, true);
    out.set(p, at + 4);
    at += 4 + p.byteLength;
  }
  return out;
}

/**
 * A JSON header followed by binary parts, as one body; `headerLength` goes in the header field.
 * The header is padded with spaces (valid JSON) to a multiple of 8 bytes, so the binary data
 * starts aligned and a reader can view it in place.
 */
export function frame(header: unknown, parts: readonly Uint8Array[]): { body: Uint8Array<ArrayBuffer>; headerLength: number } {
  let json = encoder.encode(JSON.stringify(header));
  const pad = parts.length === 0 ? 0 : (8 - (json.byteLength % 8)) % 8;
  if (pad > 0) json = encoder.encode(JSON.stringify(header) + " ".repeat(pad));
  const body = new Uint8Array(json.byteLength + parts.reduce((n, p) => n + p.byteLength, 0));
  body.set(json, 0);
  let at = json.byteLength;
  for (const p of parts) {
    body.set(p, at);
    at += p.byteLength;
  }
  return { body, headerLength: json.byteLength };
}

interface OutputRequest {
  parameters?: Record<string, unknown>;
  outputs?: ReadonlyArray<{ name: string; parameters?: Record<string, unknown> }>;
}

/**
 * Which outputs an answer carries as binary data: an output's own `binary_data`, else the
 * request's `binary_data_output`. A flag that is not a boolean is a TensorError.
 */
export function binaryOutputs(request: OutputRequest): (name: string) => boolean {
  const flag = (what: string, value: unknown): boolean | undefined => {
    if (value === undefined || typeof value === "boolean") return value;
    throw new TensorError(`${what} must be true or false`);
  };
  const all = flag(`parameter "binary_data_output"`, request.parameters?.binary_data_output) ?? false;
  const own = new Map<string, boolean>();
  for (const o of request.outputs ?? []) {
    const v = flag(`output "${o.name}": parameter "binary_data"`, o.parameters?.binary_data);
    if (v !== undefined) own.set(o.name, v);
  }
  if (!all && own.size === 0) return () => false;
  return (name) => own.get(name) ?? all;
}

/** The JSON form of a result (every output as JSON data). */
export function toJsonResponse(result: InferenceResult): InferenceResponse {
  const response: InferenceResponse = {
    model_name: result.model_name,
    model_version: result.model_version,
    outputs: result.outputs.map((o) => ({ name: o.name, datatype: o.datatype, shape: o.shape, data: encodeValues(o.datatype, o.values) })),
  };
  if (result.id !== undefined) response.id = result.id;
  if (result.parameters !== undefined) response.parameters = result.parameters;
  return response;
}

/** The JSON header of a response with binary outputs: those have binary_data_size, not data. */
export interface BinaryResponseHeader extends Omit<InferenceResponse, "outputs"> {
  outputs: Array<Omit<ResponseOutput, "data"> & Partial<Pick<ResponseOutput, "data">>>;
}

/** A result with the chosen outputs as binary data: the body and its JSON header's length. */
export function encodeResult(result: InferenceResult, binary: (name: string) => boolean): { body: Uint8Array<ArrayBuffer>; headerLength: number } {
  const parts: Uint8Array[] = [];
  const outputs: BinaryResponseHeader["outputs"] = result.outputs.map((o) => {
    if (!binary(o.name)) return { name: o.name, datatype: o.datatype, shape: o.shape, data: encodeValues(o.datatype, o.values) };
    const bytes = encodeBinaryTensor(o.values);
    parts.push(bytes);
    return { name: o.name, datatype: o.datatype, shape: o.shape, parameters: { binary_data_size: bytes.byteLength } };
  });
  const header: BinaryResponseHeader = { model_name: result.model_name, model_version: result.model_version, outputs };
  if (result.id !== undefined) header.id = result.id;
  if (result.parameters !== undefined) header.parameters = result.parameters;
  return frame(header, parts);
}

/** A tensor to send: typed values (FP16 as raw bits, BYTES as strings) or JSON data. */
export interface TensorInput {
  name: string;
  datatype: Datatype;
  shape: number[];
  values: TensorValues | readonly string[];
  parameters?: Record<string, unknown>;
}

/**
 * A request body with the chosen inputs as binary data (all by default); `headerLength` is null
 * when nothing went as binary (a plain JSON body).
 */
export function encodeRequest(
  request: { id?: string; parameters?: Record<string, unknown>; inputs: readonly TensorInput[]; outputs?: ReadonlyArray<{ name: string; parameters?: Record<string, unknown> }> },
  binary: (input: TensorInput) => boolean = () => true,
): { body: Uint8Array<ArrayBuffer>; headerLength: number | null } {
  const parts: Uint8Array[] = [];
  const inputs = request.inputs.map((t) => {
    const base = { name: t.name, datatype: t.datatype, shape: t.shape };
    if (!binary(t)) return { ...base, ...(t.parameters ? { parameters: t.parameters } : {}), data: encodeValues(t.datatype, t.values as ArrayLike<unknown>) };
    const bytes = encodeBinaryTensor(t.values);
    parts.push(bytes);
    return { ...base, parameters: { ...t.parameters, binary_data_size: bytes.byteLength } };
  });
  const header: Record<string, unknown> = { ...(request.id !== undefined ? { id: request.id } : {}), ...(request.parameters ? { parameters: request.parameters } : {}), inputs };
  if (request.outputs) header.outputs = request.outputs;
  const framed = frame(header, parts);
  return parts.length === 0 ? { body: framed.body, headerLength: null } : framed;
}

/** A response body (JSON, or a JSON header and binary outputs) as typed outputs. */
export function decodeResponse(body: Uint8Array, length: number | null): InferenceResult {
  const { header, binary } = splitBody(body, length);
  const parsed = JSON.parse(new TextDecoder().decode(header)) as BinaryResponseHeader;
  const slices = sliceBinary(parsed.outputs, binary, "output");
  const outputs = parsed.outputs.map((o) => {
    const bytes = slices.get(o);
    const values = bytes ? decodeBinaryTensor(`output "${o.name}"`, o.datatype, o.shape, bytes, false).values : fromJson(o.name, o.datatype, o.data ?? []);
    return { name: o.name, datatype: o.datatype, shape: o.shape, values };
  });
  const result: InferenceResult = { model_name: parsed.model_name, model_version: parsed.model_version, outputs };
  if (parsed.id !== undefined) result.id = parsed.id;
  if (parsed.parameters !== undefined) result.parameters = parsed.parameters as InferenceResult["parameters"];
  return result;
}

/** JSON output data as typed values: null (how JSON carries NaN) back to NaN, 64-bit integers from numbers or strings. */
function fromJson(name: string, datatype: Datatype, data: ReadonlyArray<number | string | boolean | null>): TensorValues {
  const bad = (i: number, what: string): never => {
    throw new TensorError(`output "${name}": element ${i} is ${JSON.stringify(data[i])}, expected ${what}`);
  };
  if (datatype === "BYTES") return data.map((v, i) => (typeof v === "string" ? v : bad(i, "a string")));
  if (datatype === "BOOL") return Uint8Array.from(data, (v, i) => (typeof v === "boolean" ? Number(v) : bad(i, "a boolean")));
  const float = datatype === "FP16" || datatype === "FP32" || datatype === "FP64";
  const wide = datatype === "INT64" || datatype === "UINT64";
  const View = TYPED_ARRAYS[datatype];
  const out = new View(new ArrayBuffer(data.length * View.BYTES_PER_ELEMENT), 0, data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (float) {
      const x = v === null ? NaN : typeof v === "number" ? v : bad(i, "a number");
      (out as Float64Array)[i] = datatype === "FP16" ? toHalf(x) : x;
    } else if (wide) {
      (out as BigInt64Array)[i] = (typeof v === "number" && Number.isInteger(v)) || (typeof v === "string" && /^-?\d+$/.test(v)) ? BigInt(v) : bad(i, "an integer");
    } else (out as Int32Array)[i] = typeof v === "number" && Number.isInteger(v) ? v : bad(i, "an integer");
  }
  return out;
}

/** Little-endian is assumed everywhere above: refuse to run anywhere else rather than corrupt data. */
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error("the binary tensor codec needs a little-endian platform");

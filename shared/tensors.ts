// Turns OIP JSON tensor data into typed arrays (and back), validating every element.
// Pure: both the edge runtime and Node-side tools use it.
import {
  type Datatype,
  type OrtType,
  INTEGER_RANGE,
  ORT_TYPE,
  elementCount,
} from "./datatypes";
import type { TensorData } from "./oip";
import type { TensorSpec } from "./manifest";

export type TensorValues =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | BigUint64Array
  | BigInt64Array
  | Float32Array
  | Float64Array
  | string[];

export interface DecodedTensor {
  type: OrtType;
  values: TensorValues;
  dims: number[];
}

/** A client's tensor is malformed; the message names the input and the problem. */
export class TensorError extends Error {
  override name = "TensorError";
}

const FP32_MAX = 3.4028234663852886e38;
const FP16_MAX = 65504;

/** Deeper nesting than any tensor has: refused before it costs anything. */
export const MAX_NESTING = 64;

/**
 * Row-major elements of flat or nested data. Iterative, so nesting a client sends can never
 * overflow the stack; nesting deeper than MAX_NESTING is a TensorError.
 */
export function flatten(data: TensorData): unknown[] {
  if (!data.some(Array.isArray)) return data;
  const out: unknown[] = [];
  const stack: Array<{ items: unknown[]; at: number }> = [{ items: data, at: 0 }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if (top.at === top.items.length) {
      stack.pop();
      continue;
    }
    const v = top.items[top.at++];
    if (!Array.isArray(v)) out.push(v);
    else if (stack.length >= MAX_NESTING) throw new TensorError(`data is nested more than ${MAX_NESTING} levels deep`);
    else stack.push({ items: v, at: 0 });
  }
  return out;
}

/** Checks a requested shape against the model's declared one (-1 = any size). */
export function checkShape(input: string, shape: readonly number[], spec: TensorSpec): void {
  const want = `[${spec.shape.join(", ")}]`;
  if (shape.length !== spec.shape.length) {
    throw new TensorError(
      `input "${input}": shape [${shape.join(", ")}] has rank ${shape.length}, the model expects rank ${spec.shape.length} ${want}`,
    );
  }
  shape.forEach((d, i) => {
    const expected = spec.shape[i];
    if (d < 1) throw new TensorError(`input "${input}": dimension ${i} is ${d}, must be at least 1`);
    if (expected !== undefined && expected !== -1 && d !== expected) {
      throw new TensorError(
        `input "${input}": shape [${shape.join(", ")}] is not accepted, the model expects ${want} (dimension ${i} must be ${expected})`,
      );
    }
  });
}

/** Decodes one input whose datatype and shape were already checked against the model. */
export function decodeTensor(
  input: string,
  datatype: Datatype,
  shape: number[],
  data: TensorData,
): DecodedTensor {
  let flat: unknown[];
  try {
    flat = flatten(data);
  } catch (err) {
    if (err instanceof TensorError) throw new TensorError(`input "${input}": ${err.message}`);
    throw err;
  }
  const expected = elementCount(shape);
  if (flat.length !== expected) {
    throw new TensorError(
      `input "${input}": data has ${flat.length} elements, shape [${shape.join(", ")}] needs ${expected}`,
    );
  }
  const bad = (i: number, what: string): never => {
    throw new TensorError(
      `input "${input}": element ${i} is ${show(flat[i])}, expected ${what}`,
    );
  };
  const type = ORT_TYPE[datatype];
  const dims = [...shape];
  switch (datatype) {
    case "BOOL": {
      const out = new Uint8Array(flat.length);
      flat.forEach((v, i) => (typeof v === "boolean" ? (out[i] = v ? 1 : 0) : bad(i, "a boolean")));
      return { type, values: out, dims };
    }
    case "BYTES": {
      // onnxruntime's strings end at a NUL: refused rather than silently cut.
      const out = flat.map((v, i) => (typeof v !== "string" ? bad(i, "a string") : v.includes("\u0000") ? bad(i, "a string without NUL characters (the runtime's strings cannot hold them)") : v));
      return { type, values: out, dims };
    }
    case "FP16":
    case "FP32":
    case "FP64": {
      const max = datatype === "FP16" ? FP16_MAX : datatype === "FP32" ? FP32_MAX : Number.MAX_VALUE;
      const out =
        datatype === "FP16"
          ? new Uint16Array(flat.length)
          : datatype === "FP32"
            ? new Float32Array(flat.length)
            : new Float64Array(flat.length);
      flat.forEach((v, i) => {
        if (typeof v !== "number") return bad(i, `a ${datatype} number`);
        if (!Number.isFinite(v)) return bad(i, `a finite ${datatype} number (the model takes no NaN or Infinity)`);
        if (Math.abs(v) > max) return bad(i, `a number within the ${datatype} range (±${max})`);
        out[i] = datatype === "FP16" ? toHalf(v) : v;
      });
      return { type, values: out, dims };
    }
    default:
      return { type, values: decodeIntegers(datatype, flat, bad), dims };
  }
}

const show = (v: unknown) => (typeof v === "number" ? String(v) : (JSON.stringify(v) ?? String(v)));

function decodeIntegers(
  datatype: Datatype,
  flat: unknown[],
  bad: (i: number, what: string) => never,
): TensorValues {
  const range = INTEGER_RANGE[datatype];
  if (!range) throw new TensorError(`datatype ${datatype} is not an integer type`);
  const [lo, hi] = range;
  const wide = datatype === "INT64" || datatype === "UINT64";
  const what = `an integer in [${lo}, ${hi}]${wide ? " (a number or a decimal string)" : ""}`;
  const toBig = (v: unknown, i: number): bigint => {
    let b: bigint;
    if (typeof v === "number" && Number.isInteger(v)) b = BigInt(v);
    else if (wide && typeof v === "string" && /^-?\d{1,20}$/.test(v)) b = BigInt(v);
    else return bad(i, what);
    return b < lo || b > hi ? bad(i, what) : b;
  };
  switch (datatype) {
    case "INT64":
      return BigInt64Array.from(flat, toBig);
    case "UINT64":
      return BigUint64Array.from(flat, toBig);
    case "INT8":
      return Int8Array.from(flat, (v, i) => Number(toBig(v, i)));
    case "UINT8":
      return Uint8Array.from(flat, (v, i) => Number(toBig(v, i)));
    case "INT16":
      return Int16Array.from(flat, (v, i) => Number(toBig(v, i)));
    case "UINT16":
      return Uint16Array.from(flat, (v, i) => Number(toBig(v, i)));
    case "INT32":
      return Int32Array.from(flat, (v, i) => Number(toBig(v, i)));
    default:
      return Uint32Array.from(flat, (v, i) => Number(toBig(v, i)));
  }
}

/** JSON-ready values for an output tensor. 64-bit integers beyond 2^53 become strings. */
export function encodeValues(datatype: Datatype, values: ArrayLike<unknown>): Array<number | string | boolean> {
  const out: Array<number | string | boolean> = new Array(values.length);
  // FP16 arrives as raw bits (Uint16Array) unless the runtime has Float16Array.
  const halfBits = datatype === "FP16" && values instanceof Uint16Array;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (datatype === "BOOL") out[i] = Boolean(v);
    else if (halfBits) out[i] = fromHalf(v as number);
    else if (typeof v === "bigint") {
      const n = Number(v);
      out[i] = Number.isSafeInteger(n) ? n : v.toString();
    } else out[i] = v as number | string;
  }
  return out;
}

// IEEE 754 half precision, round-to-nearest-even, since Float16Array is not everywhere yet.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function toHalf(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

export function fromHalf(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

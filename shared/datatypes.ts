// Open Inference Protocol datatypes and their ONNX counterparts. Pure: no platform imports.

export const DATATYPES = [
  "BOOL",
  "UINT8",
  "UINT16",
  "UINT32",
  "UINT64",
  "INT8",
  "INT16",
  "INT32",
  "INT64",
  "FP16",
  "FP32",
  "FP64",
  "BYTES",
] as const;
export type Datatype = (typeof DATATYPES)[number];

export function isDatatype(value: unknown): value is Datatype {
  return typeof value === "string" && (DATATYPES as readonly string[]).includes(value);
}

/** ONNX TensorProto.DataType enum values (onnx.proto). */
export const ONNX_ELEM_TYPE: Record<Datatype, number> = {
  FP32: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  BYTES: 8, // ONNX "string"
  BOOL: 9,
  FP16: 10,
  FP64: 11,
  UINT32: 12,
  UINT64: 13,
};

const FROM_ONNX = new Map<number, Datatype>(
  Object.entries(ONNX_ELEM_TYPE).map(([dt, n]) => [n, dt as Datatype]),
);

export function datatypeFromOnnx(elemType: number): Datatype | undefined {
  return FROM_ONNX.get(elemType);
}

/** onnxruntime's tensor type names (onnxruntime-common `Tensor.Type`). */
export type OrtType =
  | "bool"
  | "uint8"
  | "uint16"
  | "uint32"
  | "uint64"
  | "int8"
  | "int16"
  | "int32"
  | "int64"
  | "float16"
  | "float32"
  | "float64"
  | "string";

export const ORT_TYPE: Record<Datatype, OrtType> = {
  BOOL: "bool",
  UINT8: "uint8",
  UINT16: "uint16",
  UINT32: "uint32",
  UINT64: "uint64",
  INT8: "int8",
  INT16: "int16",
  INT32: "int32",
  INT64: "int64",
  FP16: "float16",
  FP32: "float32",
  FP64: "float64",
  BYTES: "string",
};

const FROM_ORT = new Map<string, Datatype>(
  Object.entries(ORT_TYPE).map(([dt, t]) => [t, dt as Datatype]),
);

export function datatypeFromOrt(type: string): Datatype | undefined {
  return FROM_ORT.get(type);
}

/** Inclusive integer ranges, so out-of-range values are rejected rather than wrapped. */
export const INTEGER_RANGE: Partial<Record<Datatype, readonly [bigint, bigint]>> = {
  UINT8: [0n, 255n],
  UINT16: [0n, 65535n],
  UINT32: [0n, 4294967295n],
  UINT64: [0n, 18446744073709551615n],
  INT8: [-128n, 127n],
  INT16: [-32768n, 32767n],
  INT32: [-2147483648n, 2147483647n],
  INT64: [-9223372036854775808n, 9223372036854775807n],
};

/** Number of elements of a fully known shape. */
export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

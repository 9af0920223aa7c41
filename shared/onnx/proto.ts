// The ONNX protobuf schema (onnx-proto: protobufjs static code for ONNX v1.10).
// onnx-proto is CommonJS (`module.exports = $root`): Node's ESM loader exposes only
// `default` (the `onnx` property is invisible to cjs-module-lexer), while esbuild and
// vite also expose `onnx` directly. Read it from whichever the host provides.
import * as onnxProto from "onnx-proto";

type OnnxNamespace = typeof onnxProto.onnx;
const mod = onnxProto as unknown as { onnx?: OnnxNamespace; default?: { onnx?: OnnxNamespace } };
const resolved = mod.onnx ?? mod.default?.onnx;
if (!resolved) throw new Error("onnx-proto: the `onnx` namespace export was not found");

/** Runtime value: message classes (`onnx.ModelProto.encode/decode`) and enums. */
export const onnx: OnnxNamespace = resolved;

// Type-only merge so callers can write `onnx.IModelProto` with a single import.
export declare namespace onnx {
  export type IModelProto = onnxProto.onnx.IModelProto;
  export type IGraphProto = onnxProto.onnx.IGraphProto;
  export type INodeProto = onnxProto.onnx.INodeProto;
  export type ITensorProto = onnxProto.onnx.ITensorProto;
  export type IValueInfoProto = onnxProto.onnx.IValueInfoProto;
  export type IAttributeProto = onnxProto.onnx.IAttributeProto;
  export type ITypeProto = onnxProto.onnx.ITypeProto;
  export type ITensorShapeProto = onnxProto.onnx.ITensorShapeProto;
  export type IOperatorSetIdProto = onnxProto.onnx.IOperatorSetIdProto;
  export type ModelProto = onnxProto.onnx.ModelProto;
}

/** protobufjs yields int64 fields as `number` or as a Long object (when `long` resolves). */
export type Int64Like = NonNullable<onnxProto.onnx.IAttributeProto["i"]>;

export function int64ToNumber(v: Int64Like | null | undefined): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === "number") return v;
  return v.toNumber();
}

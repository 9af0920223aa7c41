// Read a model's serving signature (inputs, outputs, opsets, ops) without running it.
import { datatypeFromOnnx } from "../datatypes";
import type { TensorSpec } from "../manifest";
import { OnnxFormatError } from "./errors";
import { int64ToNumber, onnx } from "./proto";

export type OnnxSignature = {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /** Operator set versions by domain; the default domain ("" in the file) is "ai.onnx". */
  opsets: Record<string, number>;
  /** Sorted distinct op types (including subgraphs); non-default domains as "domain.Op". */
  ops: string[];
};

const DEFAULT_DOMAIN = "ai.onnx";

export function decodeModel(bytes: Uint8Array): onnx.ModelProto {
  if (!(bytes instanceof Uint8Array) || bytes.byteLength === 0) {
    throw new OnnxFormatError("not an ONNX model: empty input");
  }
  try {
    return onnx.ModelProto.decode(bytes);
  } catch (cause) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    throw new OnnxFormatError(`not an ONNX model: protobuf decode failed (${detail})`, { cause });
  }
}

function tensorSpec(vi: onnx.IValueInfoProto, where: string): TensorSpec {
  const name = vi.name ?? "";
  if (!name) throw new OnnxFormatError(`${where}: value without a name`);
  const tensorType = vi.type?.tensorType;
  if (!tensorType) {
    throw new OnnxFormatError(`${where} "${name}": only tensor types are supported (got a sequence, map or no type)`);
  }
  const elemType = tensorType.elemType ?? 0;
  const datatype = datatypeFromOnnx(elemType);
  if (!datatype) {
    throw new OnnxFormatError(`${where} "${name}": unsupported ONNX element type ${elemType}`);
  }
  // No shape at all means unknown rank, which a TensorSpec cannot express.
  if (!tensorType.shape) throw new OnnxFormatError(`${where} "${name}": unknown rank (no shape)`);
  // Decoded messages carry only the oneof member that was present as an own property.
  const shape = (tensorType.shape.dim ?? []).map((d) =>
    Object.prototype.hasOwnProperty.call(d, "dimValue") && d.dimValue !== null && d.dimValue !== undefined
      ? Math.max(int64ToNumber(d.dimValue), -1)
      : -1,
  );
  return { name, datatype, shape };
}

function collectOps(g: onnx.IGraphProto, into: Set<string>): void {
  for (const n of g.node ?? []) {
    const domain = n.domain ?? "";
    const op = n.opType ?? "";
    into.add(domain === "" || domain === DEFAULT_DOMAIN ? op : `${domain}.${op}`);
    for (const a of n.attribute ?? []) {
      if (a.g) collectOps(a.g, into);
      for (const sub of a.graphs ?? []) collectOps(sub, into);
    }
  }
}

export function readSignature(bytes: Uint8Array): OnnxSignature {
  const model = decodeModel(bytes);
  const g = model.graph;
  if (!g) throw new OnnxFormatError("not an ONNX model: no graph");

  // Since IR 4 initializers may also be listed as graph inputs (overridable defaults);
  // they are weights, not serving inputs.
  const initNames = new Set((g.initializer ?? []).map((t) => t.name ?? ""));
  const inputs = (g.input ?? []).filter((vi) => !initNames.has(vi.name ?? "")).map((vi) => tensorSpec(vi, "input"));
  const outputs = (g.output ?? []).map((vi) => tensorSpec(vi, "output"));
  if (inputs.length === 0) throw new OnnxFormatError("ONNX model has no inputs");
  if (outputs.length === 0) throw new OnnxFormatError("ONNX model has no outputs");

  const opsets: Record<string, number> = {};
  for (const o of model.opsetImport ?? []) {
    const domain = o.domain ? o.domain : DEFAULT_DOMAIN;
    opsets[domain] = int64ToNumber(o.version);
  }
  if (Object.keys(opsets).length === 0) throw new OnnxFormatError("ONNX model has no opset_import");

  const ops = new Set<string>();
  collectOps(g, ops);
  return { inputs, outputs, opsets, ops: [...ops].sort() };
}

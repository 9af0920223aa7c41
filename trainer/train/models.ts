// One interface over the architectures (arch.ts): what the loop, the workers, evaluation and the
// exporter need of a model. The MLP's functions live in model.ts (hand-written backprop), the
// CNN's in cnn.ts (autodiff over im2col convolutions); this file only dispatches.
import { buildCnnFp32, buildCnnInt8 } from "../../shared/onnx/cnn";
import { buildMlpFp32, buildMlpInt8, type Int8Format } from "../../shared/onnx/mlp";
import { archClasses, archInputs, type Arch } from "./arch";
import { cnnGradient, cnnInit, cnnLayout, cnnParamCount, cnnPredictChunks, toCnnSpec } from "./cnn";
import { computeGradient, initParams, paramCount, paramLayout, predictChunks, toDenseLayers, type ParamLayout, type ShardGradient } from "./model";

export type TensorNames = { input: string; output: string; label?: string };

export interface ArchModel {
  readonly arch: Arch;
  /** Values per input row. */
  readonly inputs: number;
  readonly classes: number;
  layout(): ParamLayout;
  paramCount(): number;
  /** Seeded, deterministic initial parameters. */
  init(seed: number): Float32Array;
  /**
   * Mean gradient over the batch (flat layout), loss and correct count. Pure per backend. `into`
   * (of the parameter count) receives the gradient instead of a new array (workers reuse one).
   */
  computeGradient(params: Float32Array, x: Float32Array, y: ArrayLike<number>, into?: Float32Array): ShardGradient;
  /** Softmax probabilities in chunks, yielding between chunks. */
  predictChunks(params: Float32Array, x: Float32Array, rows: number): Generator<void, Float32Array>;
  /** The int8 graph forms this architecture can export, the preferred one first. */
  readonly int8Formats: readonly Int8Format[];
  onnxFp32(params: Float32Array, names: TensorNames): Uint8Array;
  onnxInt8(params: Float32Array, names: TensorNames, calibration: Float32Array, rows: number, format: Int8Format): Uint8Array;
}

export function modelFor(arch: Arch): ArchModel {
  const base = { arch, inputs: archInputs(arch), classes: archClasses(arch) };
  if (arch.kind === "mlp") {
    const { sizes } = arch;
    return {
      ...base,
      layout: () => paramLayout(sizes),
      paramCount: () => paramCount(sizes),
      init: (seed) => initParams(sizes, seed),
      computeGradient: (params, x, y, into) => computeGradient(sizes, params, x, y, into),
      predictChunks: (params, x, rows) => predictChunks(sizes, params, x, rows),
      int8Formats: ["qlinear", "dynamic"],
      onnxFp32: (params, names) => buildMlpFp32({ layers: toDenseLayers(sizes, params), ...names }),
      onnxInt8: (params, names, cal, rows, format) => buildMlpInt8({ layers: toDenseLayers(sizes, params), ...names }, cal, rows, { format }),
    };
  }
  return {
    ...base,
    layout: () => cnnLayout(arch),
    paramCount: () => cnnParamCount(arch),
    init: (seed) => cnnInit(arch, seed),
    computeGradient: (params, x, y, into) => cnnGradient(arch, params, x, y, "conv", into),
    predictChunks: (params, x, rows) => cnnPredictChunks(arch, params, x, rows),
    int8Formats: ["qlinear"],
    onnxFp32: (params, names) => buildCnnFp32(toCnnSpec(arch, params, names)),
    onnxInt8: (params, names, cal, rows, format) => {
      if (format !== "qlinear") throw new Error(`the CNN exports int8 as qlinear only (asked for ${format})`);
      return buildCnnInt8(toCnnSpec(arch, params, names), cal, rows);
    },
  };
}

/** Class probabilities (softmax) of `rows` inputs. */
export function probabilitiesOf(arch: Arch, params: Float32Array, x: Float32Array, rows: number): Float32Array {
  const it = modelFor(arch).predictChunks(params, x, rows);
  for (let r = it.next(); ; r = it.next()) if (r.done) return r.value;
}

/** The same, yielding to the event loop between chunks (timers keep running in a long evaluation). */
export async function probabilitiesOfAsync(arch: Arch, params: Float32Array, x: Float32Array, rows: number): Promise<Float32Array> {
  const it = modelFor(arch).predictChunks(params, x, rows);
  for (let r = it.next(); ; r = it.next()) {
    if (r.done) return r.value;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

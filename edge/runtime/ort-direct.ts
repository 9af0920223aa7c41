// session.run through onnxruntime's C API in the same WASM instance, without ort-web's JS wrapper:
// for a small model the wrapper (run options built and freed per run, tensor metadata, output
// Tensors, several awaits) costs about as much as the model. Numeric CPU tensors only; a run
// with string tensors goes through session.run. Outputs equal session.run's to the bit
// (ort-direct.test.ts).
import { ort } from "./ort";

/** The parts of ort-web's Emscripten module this uses (onnxruntime-web 1.30, wasm32). */
export interface OrtModule {
  readonly PTR_SIZE: number;
  readonly HEAPU8: Uint8Array;
  readonly HEAP32: Int32Array;
  readonly HEAPU32: Uint32Array;
  stackSave(): number;
  stackRestore(stack: number): void;
  stackAlloc(size: number): number;
  UTF8ToString(offset: number): string;
  lengthBytesUTF8(str: string): number;
  stringToUTF8(str: string, offset: number, maxBytes: number): void;
  _malloc(size: number): number;
  _free(ptr: number): void;
  _OrtFree(ptr: number): number;
  _OrtGetLastError(codeOffset: number, messageOffset: number): number;
  _OrtCreateTensor(dataType: number, data: number, byteLength: number, dims: number, dimsLength: number, location: number): number;
  _OrtGetTensorData(tensor: number, dataType: number, data: number, dims: number, dimsLength: number): number;
  _OrtReleaseTensor(tensor: number): number;
  _OrtCreateRunOptions(logSeverityLevel: number, logVerbosityLevel: number, terminate: boolean, tag: number): number;
  _OrtRun(session: number, inputNames: number, inputs: number, inputCount: number, outputNames: number, outputCount: number, outputs: number, runOptions: number): number | Promise<number>;
}

type Numeric = Exclude<ort.Tensor.Type, "string" | "int4" | "uint4">;
type TypedArray = Exclude<ort.Tensor.DataType, string[]>;

// ONNX TensorProto data types, and the arrays ort-web gives each (float16 as ort-web does).
const TYPES: Record<Numeric, { id: number; array: { new (buffer: ArrayBuffer): TypedArray; BYTES_PER_ELEMENT: number } }> = {
  float32: { id: 1, array: Float32Array },
  uint8: { id: 2, array: Uint8Array },
  int8: { id: 3, array: Int8Array },
  uint16: { id: 4, array: Uint16Array },
  int16: { id: 5, array: Int16Array },
  int32: { id: 6, array: Int32Array },
  int64: { id: 7, array: BigInt64Array },
  bool: { id: 9, array: Uint8Array },
  float16: { id: 10, array: (globalThis as { Float16Array?: typeof Uint16Array }).Float16Array ?? Uint16Array },
  float64: { id: 11, array: Float64Array },
  uint32: { id: 12, array: Uint32Array },
  uint64: { id: 13, array: BigUint64Array },
};
const TYPE_BY_ID = new Map(Object.entries(TYPES).map(([name, t]) => [t.id, name as Numeric]));
const CPU = 1;

export type Run = (feeds: Record<string, ort.Tensor>, names: readonly string[]) => Promise<Record<string, ort.Tensor>>;

export interface DirectSession {
  run: Run;
  /** Frees the names it keeps in WASM memory (the session itself is released by its owner). */
  dispose(): void;
}

/** A direct runner for a session, or null when it is not one of ort-web's WASM sessions. */
export function directSession(module: OrtModule | undefined, session: ort.InferenceSession): DirectSession | null {
  if (!module) return null;
  const handle = (session as unknown as { handler?: { sessionId?: unknown } }).handler?.sessionId;
  if (typeof handle !== "number" || module.PTR_SIZE !== 4) return null;
  // Every output must be a tensor of a type read here: the run cannot fall back once it has run.
  if (!session.outputMetadata.every((o) => o.isTensor && o.type in TYPES)) return null;
  const m = module;
  const utf8 = (name: string) => {
    const size = m.lengthBytesUTF8(name) + 1;
    const at = m._malloc(size);
    m.stringToUTF8(name, at, size);
    return at;
  };
  const inputs = new Map(session.inputNames.map((n) => [n, utf8(n)]));
  const outputs = new Map(session.outputNames.map((n) => [n, utf8(n)]));
  const options = runOptions(m);
  const fallback: Run = (feeds, names) => session.run(feeds, [...names]);

  const run: Run = async (feeds, names) => {
    const entries = Object.entries(feeds);
    if (entries.some(([, t]) => !(t.type in TYPES))) return fallback(feeds, names);
    const stack = m.stackSave();
    const inNames = m.stackAlloc(4 * entries.length);
    const inValues = m.stackAlloc(4 * entries.length);
    const outNames = m.stackAlloc(4 * names.length);
    const outValues = m.stackAlloc(4 * names.length);
    const scratch = m.stackAlloc(16);
    const buffers: number[] = [];
    const tensors: number[] = [];
    try {
      for (let i = 0; i < entries.length; i++) {
        const [name, tensor] = entries[i]!;
        const nameAt = inputs.get(name);
        if (nameAt === undefined) throw new Error(`invalid input '${name}'`);
        const data = tensor.data as TypedArray;
        const at = m._malloc(Math.max(data.byteLength, 1));
        buffers.push(at);
        m.HEAPU8.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
        const dims = m.stackAlloc(4 * Math.max(tensor.dims.length, 1));
        for (let d = 0; d < tensor.dims.length; d++) m.HEAP32[(dims >> 2) + d] = tensor.dims[d]!;
        const t = m._OrtCreateTensor(TYPES[tensor.type as Numeric].id, at, data.byteLength, dims, tensor.dims.length, CPU);
        if (t === 0) throw lastError(m, `cannot create tensor for input '${name}'`);
        tensors.push(t);
        m.HEAPU32[(inNames >> 2) + i] = nameAt;
        m.HEAPU32[(inValues >> 2) + i] = t;
      }
      for (let j = 0; j < names.length; j++) {
        const nameAt = outputs.get(names[j]!);
        if (nameAt === undefined) throw new Error(`invalid output '${names[j]}'`);
        m.HEAPU32[(outNames >> 2) + j] = nameAt;
        m.HEAPU32[(outValues >> 2) + j] = 0;
      }
      const ran = m._OrtRun(handle, inNames, inValues, entries.length, outNames, names.length, outValues, options);
      if ((typeof ran === "number" ? ran : await ran) !== 0) throw lastError(m, "failed to call OrtRun()");
      const out: Record<string, ort.Tensor> = {};
      for (let j = 0; j < names.length; j++) {
        const t = m.HEAPU32[(outValues >> 2) + j]!;
        try {
          if (m._OrtGetTensorData(t, scratch, scratch + 4, scratch + 8, scratch + 12) !== 0) throw lastError(m, `cannot read output '${names[j]}'`);
          const w = scratch >> 2;
          const type = TYPE_BY_ID.get(m.HEAP32[w]!);
          const dataAt = m.HEAPU32[w + 1]!;
          const dimsAt = m.HEAPU32[w + 2]!;
          const dims = Array.from(m.HEAP32.subarray(dimsAt >> 2, (dimsAt >> 2) + m.HEAP32[w + 3]!));
          m._OrtFree(dimsAt);
          if (!type) throw new Error(`output '${names[j]}' has a type ort-web cannot read`);
          const size = dims.reduce((a, b) => a * b, 1);
          const { array } = TYPES[type];
          const copy = m.HEAPU8.slice(dataAt, dataAt + size * array.BYTES_PER_ELEMENT).buffer;
          out[names[j]!] = new ort.Tensor(type, new array(copy) as never, dims);
        } finally {
          m._OrtReleaseTensor(t);
        }
      }
      return out;
    } finally {
      for (const t of tensors) m._OrtReleaseTensor(t);
      for (const b of buffers) m._free(b);
      m.stackRestore(stack);
    }
  };
  return {
    run,
    dispose() {
      for (const at of [...inputs.values(), ...outputs.values()]) m._free(at);
    },
  };
}

// One set of run options per module, built once (ort-web builds and frees one per run): its defaults.
const optionsOf = new WeakMap<OrtModule, number>();
function runOptions(m: OrtModule): number {
  let handle = optionsOf.get(m);
  if (handle === undefined) {
    handle = m._OrtCreateRunOptions(2, 0, false, 0);
    if (handle === 0) throw lastError(m, "cannot create run options");
    optionsOf.set(m, handle);
  }
  return handle;
}

function lastError(m: OrtModule, what: string): Error {
  const stack = m.stackSave();
  try {
    const at = m.stackAlloc(8);
    m._OrtGetLastError(at, at + 4);
    const message = m.HEAPU32[(at >> 2) + 1]! ? m.UTF8ToString(m.HEAPU32[(at >> 2) + 1]!) : "";
    return new Error(`${what}. ERROR_CODE: ${m.HEAP32[at >> 2]}, ERROR_MESSAGE: ${message}`);
  } finally {
    m.stackRestore(stack);
  }
}

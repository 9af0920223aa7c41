// session.run through onnxruntime's C API in the same WASM instance, without ort-web's JS wrapper
// (run options built and freed per run, tensor metadata, output Tensors, several awaits), and for
// a signature seen before, with tensors kept bound in WASM memory: for a small model, what
// surrounds the kernels costs more than they do, most of it in CPU cache misses, since a
// request's own work evicts the runtime's code and data. Numeric CPU tensors only; a run with
// string tensors goes through session.run. Outputs equal session.run's to the bit
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

/** Signatures (input names, types, dims; output names) a session keeps bound tensors for. */
const MAX_BOUND = 4;
/** The largest signature bound (inputs and outputs): larger runs are dominated by their copies. */
const MAX_BOUND_BYTES = 256 << 10;
/** Signatures counted towards binding before the count starts afresh. */
const MAX_SEEN = 64;

/**
 * Tensors kept in WASM memory for one signature: a run of it copies the inputs in and runs into
 * the pre-allocated outputs, with no allocation, tensor creation or release around the run.
 */
interface Bound {
  inputs: Array<{ at: number; bytes: number }>;
  outputs: Array<{ at: number; bytes: number; type: Numeric; dims: number[] }>;
  /** Names and tensors, as the arrays OrtRun takes (inputs, then outputs). */
  names: number;
  values: number;
  tensors: number[];
}

/** A runner for one session, direct to the C API. */
export class DirectSession {
  private readonly inputs: Map<string, number>;
  private readonly outputs: Map<string, number>;
  private readonly options: number;
  private readonly bound = new Map<string, Bound>();
  private readonly seen = new Map<string, number>();
  private disposed = false;
  /** Off after a bound run fails (outputs whose shape depends on the values) or an asynchronous OrtRun. */
  private binds = true;

  private constructor(
    private readonly m: OrtModule,
    private readonly session: ort.InferenceSession,
    private readonly handle: number,
  ) {
    this.inputs = new Map(session.inputNames.map((n) => [n, this.utf8(n)]));
    this.outputs = new Map(session.outputNames.map((n) => [n, this.utf8(n)]));
    this.options = runOptions(m);
  }

  /** A direct runner for a session, or null when it is not one of ort-web's WASM sessions. */
  static of(module: OrtModule | undefined, session: ort.InferenceSession): DirectSession | null {
    if (!module) return null;
    const handle = (session as unknown as { handler?: { sessionId?: unknown } }).handler?.sessionId;
    if (typeof handle !== "number" || module.PTR_SIZE !== 4) return null;
    // Every output must be a tensor of a type read here: the run cannot fall back once it has run.
    if (!session.outputMetadata.every((o) => o.isTensor && o.type in TYPES)) return null;
    return new DirectSession(module, session, handle);
  }

  readonly run: Run = async (feeds, names) => {
    if (this.disposed) throw new Error("the session was released");
    const entries = Object.entries(feeds);
    if (entries.some(([, t]) => !(t.type in TYPES))) return this.session.run(feeds, [...names]);
    const key = signature(entries, names);
    const bound = this.bound.get(key);
    if (bound) {
      const out = this.runBound(bound, entries, names);
      if (out) return out;
      // Refused: run unbound. If that fails too, the inputs were at fault (it throws their error);
      // if it answers, the outputs' shapes depend on the values, and nothing is bound again.
      const plain = await this.runPlain(entries, names);
      this.binds = false;
      for (const b of this.bound.values()) this.unbind(b);
      this.bound.clear();
      return plain.out;
    }
    const { out, sync } = await this.runPlain(entries, names);
    if (!sync) this.binds = false;
    // Bound on its second sighting (a batcher's merged runs come in many sizes), small ones only,
    // and once: another run of the signature may have bound it while this one awaited.
    const sightings = (this.seen.get(key) ?? 0) + 1;
    if (this.seen.size >= MAX_SEEN) this.seen.clear();
    this.seen.set(key, sightings);
    if (this.binds && sightings >= 2 && !this.bound.has(key) && bytesIn(entries, out) <= MAX_BOUND_BYTES) {
      if (this.bound.size >= MAX_BOUND) {
        const [oldest, b] = this.bound.entries().next().value!;
        this.unbind(b);
        this.bound.delete(oldest);
      }
      this.bound.set(key, this.bind(entries, names, out));
    }
    return out;
  };

  /** Frees what it keeps in WASM memory (the session itself is released by its owner). */
  dispose(): void {
    this.disposed = true;
    for (const b of this.bound.values()) this.unbind(b);
    this.bound.clear();
    for (const at of [...this.inputs.values(), ...this.outputs.values()]) this.m._free(at);
  }

  /** A run of a bound signature; null when the runtime refused it (the caller runs it again unbound). */
  private runBound(b: Bound, entries: Array<[string, ort.Tensor]>, names: readonly string[]): Record<string, ort.Tensor> | null {
    const m = this.m;
    for (let i = 0; i < entries.length; i++) m.HEAPU8.set(bytesOf(entries[i]![1]), b.inputs[i]!.at);
    const n = entries.length;
    if (m._OrtRun(this.handle, b.names, b.values, n, b.names + 4 * n, names.length, b.values + 4 * n, this.options) !== 0) return null;
    const out: Record<string, ort.Tensor> = {};
    for (let j = 0; j < names.length; j++) {
      // The runtime writes into a pre-allocated output or refuses the run; never replaces it.
      if (m.HEAPU32[(b.values >> 2) + n + j] !== b.tensors[n + j]) throw new Error(`onnxruntime replaced the bound output '${names[j]}'`);
      const o = b.outputs[j]!;
      out[names[j]!] = new ort.Tensor(o.type, new TYPES[o.type].array(m.HEAPU8.slice(o.at, o.at + o.bytes).buffer) as never, [...o.dims]);
    }
    return out;
  }

  /** A run with tensors made for it; `sync` says whether OrtRun returned at once (the only runs bound). */
  private async runPlain(entries: Array<[string, ort.Tensor]>, names: readonly string[]): Promise<{ out: Record<string, ort.Tensor>; sync: boolean }> {
    const m = this.m;
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
        const nameAt = this.inputs.get(name);
        if (nameAt === undefined) throw new Error(`invalid input '${name}'`);
        const data = bytesOf(tensor);
        const at = m._malloc(Math.max(data.byteLength, 1));
        buffers.push(at);
        m.HEAPU8.set(data, at);
        tensors.push(this.tensor(tensor.type as Numeric, at, data.byteLength, tensor.dims, `input '${name}'`));
        m.HEAPU32[(inNames >> 2) + i] = nameAt;
        m.HEAPU32[(inValues >> 2) + i] = tensors[i]!;
      }
      for (let j = 0; j < names.length; j++) {
        m.HEAPU32[(outNames >> 2) + j] = this.outputName(names[j]!);
        m.HEAPU32[(outValues >> 2) + j] = 0;
      }
      const ran = m._OrtRun(this.handle, inNames, inValues, entries.length, outNames, names.length, outValues, this.options);
      const sync = typeof ran === "number";
      if ((sync ? ran : await ran) !== 0) throw lastError(m, "failed to call OrtRun()");
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
          const { array } = TYPES[type];
          const copy = m.HEAPU8.slice(dataAt, dataAt + elements(dims) * array.BYTES_PER_ELEMENT).buffer;
          out[names[j]!] = new ort.Tensor(type, new array(copy) as never, dims);
        } finally {
          m._OrtReleaseTensor(t);
        }
      }
      return { out, sync };
    } finally {
      for (const t of tensors) m._OrtReleaseTensor(t);
      for (const b of buffers) m._free(b);
      m.stackRestore(stack);
    }
  }

  /** Tensors for a signature, shaped like the run that just answered it. */
  private bind(entries: Array<[string, ort.Tensor]>, names: readonly string[], out: Record<string, ort.Tensor>): Bound {
    const m = this.m;
    const n = entries.length;
    const b: Bound = { inputs: [], outputs: [], names: m._malloc(4 * (n + names.length)), values: m._malloc(4 * (n + names.length)), tensors: [] };
    entries.forEach(([name, t], i) => {
      const bytes = bytesOf(t).byteLength;
      const at = m._malloc(Math.max(bytes, 1));
      b.inputs.push({ at, bytes });
      b.tensors.push(this.tensor(t.type as Numeric, at, bytes, t.dims, `input '${name}'`));
      m.HEAPU32[(b.names >> 2) + i] = this.inputs.get(name)!;
    });
    names.forEach((name, j) => {
      const t = out[name]!;
      const bytes = bytesOf(t).byteLength;
      const at = m._malloc(Math.max(bytes, 1));
      b.outputs.push({ at, bytes, type: t.type as Numeric, dims: [...t.dims] });
      b.tensors.push(this.tensor(t.type as Numeric, at, bytes, t.dims, `output '${name}'`));
      m.HEAPU32[(b.names >> 2) + n + j] = this.outputName(name);
    });
    b.tensors.forEach((t, i) => (m.HEAPU32[(b.values >> 2) + i] = t));
    return b;
  }

  private unbind(b: Bound): void {
    for (const t of b.tensors) this.m._OrtReleaseTensor(t);
    for (const { at } of [...b.inputs, ...b.outputs]) this.m._free(at);
    this.m._free(b.names);
    this.m._free(b.values);
  }

  private tensor(type: Numeric, at: number, bytes: number, dims: readonly number[], what: string): number {
    const m = this.m;
    const stack = m.stackSave();
    try {
      const dimsAt = m.stackAlloc(4 * Math.max(dims.length, 1));
      for (let d = 0; d < dims.length; d++) m.HEAP32[(dimsAt >> 2) + d] = dims[d]!;
      const t = m._OrtCreateTensor(TYPES[type].id, at, bytes, dimsAt, dims.length, CPU);
      if (t === 0) throw lastError(m, `cannot create tensor for ${what}`);
      return t;
    } finally {
      m.stackRestore(stack);
    }
  }

  private outputName(name: string): number {
    const at = this.outputs.get(name);
    if (at === undefined) throw new Error(`invalid output '${name}'`);
    return at;
  }

  private utf8(name: string): number {
    const size = this.m.lengthBytesUTF8(name) + 1;
    const at = this.m._malloc(size);
    this.m.stringToUTF8(name, at, size);
    return at;
  }
}

function signature(entries: Array<[string, ort.Tensor]>, names: readonly string[]): string {
  let key = "";
  for (const [name, t] of entries) key += `${name}\0${t.type}\0${t.dims.join(",")}\0`;
  return `${key}>${names.join("\0")}`;
}

function bytesIn(entries: Array<[string, ort.Tensor]>, out: Record<string, ort.Tensor>): number {
  let bytes = 0;
  for (const [, t] of entries) bytes += bytesOf(t).byteLength;
  for (const t of Object.values(out)) bytes += bytesOf(t).byteLength;
  return bytes;
}

function bytesOf(t: ort.Tensor): Uint8Array {
  const d = t.data as TypedArray;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

const elements = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

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

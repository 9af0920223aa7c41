// Direct runs through onnxruntime's C API give what session.run gives, to the bit, for every
// numeric datatype and the sample models; sessions they cannot serve are left to session.run.
import { describe, expect, it } from "vitest";
import "../index"; // wires ort to its .wasm, as the Worker does
import { DATATYPES, ORT_TYPE } from "../../shared/datatypes";
import { encodeModel, graph, node, valueInfo } from "../../shared/onnx/build";
import { fixture } from "../../test/edge/seed";
import { ort, ortModuleOf, sessionOptions, startRuntime } from "./ort";
import { DirectSession } from "./ort-direct";

const NUMERIC = DATATYPES.filter((d) => d !== "BYTES");

/** y_t = x_t for each datatype t, every input with its own length. */
const echo = (types: readonly (typeof DATATYPES)[number][]) =>
  encodeModel(
    graph({
      name: "echo",
      nodes: types.map((t) => node("Identity", [`x_${t}`], [`y_${t}`])),
      inputs: types.map((t) => valueInfo(`x_${t}`, t, [`n_${t}`])),
      outputs: types.map((t) => valueInfo(`y_${t}`, t, [`n_${t}`])),
    }),
  );

/** Seeded bytes (a small LCG): the same inputs every run. */
function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) out[i] = (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) >>> 24;
  return out;
}

function tensorOf(type: Exclude<ort.Tensor.Type, "string">, dims: number[], seed: number): ort.Tensor {
  const count = dims.reduce((a, b) => a * b, 1);
  const arrays = { float32: Float32Array, float64: Float64Array, int8: Int8Array, uint8: Uint8Array, int16: Int16Array, uint16: Uint16Array, float16: Uint16Array, int32: Int32Array, uint32: Uint32Array, int64: BigInt64Array, uint64: BigUint64Array, bool: Uint8Array } as const;
  const array = arrays[type as keyof typeof arrays];
  const raw = bytes(count * array.BYTES_PER_ELEMENT, seed);
  if (type === "bool") raw.forEach((b, i) => (raw[i] = b & 1));
  // Floats from sin (random bytes would be NaNs with payloads); the rest from raw bytes.
  if (type === "float32") return new ort.Tensor(type, Float32Array.from({ length: count }, (_, i) => Math.sin(i + seed) * 3), dims);
  if (type === "float64") return new ort.Tensor(type, Float64Array.from({ length: count }, (_, i) => Math.sin(i + seed) * 3), dims);
  const Tensor = ort.Tensor as unknown as new (type: string, data: ArrayBufferView, dims: number[]) => ort.Tensor;
  return new Tensor(type, new array(raw.buffer as ArrayBuffer) as ArrayBufferView, dims);
}

function same(a: ort.Tensor, b: ort.Tensor): void {
  expect(b.type).toBe(a.type);
  expect([...b.dims]).toEqual([...a.dims]);
  const view = (t: ort.Tensor) => {
    const d = t.data as ArrayBufferView;
    return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  };
  expect(view(b)).toEqual(view(a));
}

async function open(model: Uint8Array) {
  await startRuntime();
  const session = await ort.InferenceSession.create(model, sessionOptions());
  return { session, direct: DirectSession.of(ortModuleOf(), session) };
}

describe("direct runs", () => {
  it("run in the Worker's runtime", async () => {
    await startRuntime();
    expect(ortModuleOf()).toBeDefined();
  });

  it("equal session.run to the bit for every numeric datatype", async () => {
    const { session, direct } = await open(echo(NUMERIC));
    expect(direct).not.toBeNull();
    const feeds = Object.fromEntries(NUMERIC.map((t, i) => [`x_${t}`, tensorOf(ORT_TYPE[t] as Exclude<ort.Tensor.Type, "string">, [i + 1], i)]));
    const names = NUMERIC.map((t) => `y_${t}`);
    const want = await session.run(feeds, names);
    const got = await direct!.run(feeds, names);
    for (const n of names) same(want[n]!, got[n]!);
    // Empty tensors too.
    const empty = Object.fromEntries(NUMERIC.map((t) => [`x_${t}`, tensorOf(ORT_TYPE[t] as Exclude<ort.Tensor.Type, "string">, [0], 1)]));
    const wantEmpty = await session.run(empty, names);
    const gotEmpty = await direct!.run(empty, names);
    for (const n of names) same(wantEmpty[n]!, gotEmpty[n]!);
    direct!.dispose();
    await session.release();
  });

  it.each(["iris", "iris-int8", "mlp784", "mlp784-int8", "spam-int8"])("equal session.run to the bit on %s, asked for one output or all", async (name) => {
    const { manifest, bytes: model } = fixture(name);
    const { session, direct } = await open(model);
    expect(direct).not.toBeNull();
    for (const rows of [1, 7, 64]) {
      const feeds = Object.fromEntries(manifest.inputs.map((s, i) => [s.name, tensorOf("float32", s.shape.map((d) => (d === -1 ? rows : d)), rows + i)]));
      const all = session.outputNames;
      const want = await session.run(feeds);
      const got = await direct!.run(feeds, all);
      for (const n of all) same(want[n]!, got[n]!);
      const one = await direct!.run(feeds, [all[all.length - 1]!]);
      expect(Object.keys(one)).toEqual([all[all.length - 1]]);
    }
    direct!.dispose();
    await session.release();
  });

  it("report the runtime's error and keep working after it", async () => {
    const { session, direct } = await open(fixture("iris").bytes);
    const input = session.inputNames[0]!;
    // iris takes [n, 4]: five columns is refused by the runtime itself.
    await expect(direct!.run({ [input]: tensorOf("float32", [1, 5], 1) }, session.outputNames)).rejects.toThrow(/ERROR_MESSAGE: .*(dimension|shape|Got)/i);
    await expect(direct!.run({ nope: tensorOf("float32", [1, 4], 1) }, session.outputNames)).rejects.toThrow(/invalid input 'nope'/);
    await expect(direct!.run({ [input]: tensorOf("float32", [1, 4], 1) }, ["nope"])).rejects.toThrow(/invalid output 'nope'/);
    const feeds = { [input]: tensorOf("float32", [2, 4], 3) };
    const want = await session.run(feeds);
    const got = await direct!.run(feeds, session.outputNames);
    for (const n of session.outputNames) same(want[n]!, got[n]!);
    direct!.dispose();
    await expect(direct!.run(feeds, session.outputNames)).rejects.toThrow(/released/);
    await session.release();
  });

  it("equal session.run on repeated and interleaved signatures (bound tensors), past the bound limit", async () => {
    const { session, direct } = await open(fixture("mlp784").bytes);
    const input = session.inputNames[0]!;
    const all = session.outputNames;
    // Rows 1..6 cycle twice: more signatures than are kept bound, each seen again with new values.
    for (let k = 0; k < 12; k++) {
      const rows = (k % 6) + 1;
      const feeds = { [input]: tensorOf("float32", [rows, 784], 100 + k) };
      const want = await session.run(feeds);
      for (const names of [all, [all[0]!]]) {
        const got = await direct!.run(feeds, names);
        for (const n of names) same(want[n]!, got[n]!);
      }
    }
    direct!.dispose();
    await session.release();
  });

  it("keep WASM memory flat under concurrent runs of many signatures (a batcher's merged runs)", async () => {
    const { session, direct } = await open(fixture("mlp784").bytes);
    const input = session.inputNames[0]!;
    const pair = (rows: number, k: number) => Promise.all([0, 1].map((i) => direct!.run({ [input]: tensorOf("float32", [rows, 784], k + i) }, session.outputNames)));
    for (let k = 0; k < 40; k++) await pair((k % 20) + 1, k);
    const heap = ortModuleOf()!.HEAPU8.byteLength;
    // Two runs of one signature at a time, 20 signatures in turn: binding, eviction and the race
    // between two runs binding the same signature, 1,000 times.
    for (let k = 0; k < 1000; k++) await pair((k % 20) + 1, k);
    expect(ortModuleOf()!.HEAPU8.byteLength - heap).toBeLessThanOrEqual(1 << 20);
    direct!.dispose();
    await session.release();
  });

  it("run unbound, and bind no more, when an output's shape depends on the values", async () => {
    // NonZero: the count of non-zero values is the output's second dimension.
    const model = encodeModel(graph({ name: "nonzero", nodes: [node("NonZero", ["x"], ["y"])], inputs: [valueInfo("x", "FP32", [4])], outputs: [valueInfo("y", "INT64", [1, "k"])] }));
    const { session, direct } = await open(model);
    for (const values of [[1, 0, 1, 0], [1, 1, 1, 0], [0, 0, 0, 0], [1, 0, 1, 0]]) {
      const feeds = { x: new ort.Tensor("float32", Float32Array.from(values), [4]) };
      const want = await session.run(feeds);
      const got = await direct!.run(feeds, ["y"]);
      same(want.y!, got.y!);
      expect(Number(got.y!.dims[1])).toBe(values.filter((v) => v !== 0).length);
    }
    direct!.dispose();
    await session.release();
  });

  it("leave a session with string outputs to session.run", async () => {
    const { session, direct } = await open(echo(["BYTES", "FP32"]));
    expect(direct).toBeNull();
    await session.release();
  });
});

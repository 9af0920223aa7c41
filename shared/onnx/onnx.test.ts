// shared/onnx: models built in plain TypeScript, run with onnxruntime-node and onnxruntime-web (WASM, in Node).
import { createHash } from "node:crypto";
import * as ortNode from "onnxruntime-node";
import * as ortWeb from "onnxruntime-web";
import { beforeAll, describe, expect, it } from "vitest";
import { DATATYPES, ORT_TYPE, type Datatype } from "../datatypes";
import { ManifestSchema } from "../manifest";
import { encodeModel, graph, node, valueInfo } from "./build";
import { OnnxFormatError } from "./errors";
import { readSignature } from "./inspect";
import { buildMlpFp32, buildMlpInt8, mlpForward, type DenseLayer, type MlpSpec } from "./mlp";
import { ECHO_DATATYPES, ECHO_DROPPED, IRIS_LABELS, buildDtypeEchoModel, irisData, irisSpec, irisWeights } from "../../dev/samples/iris";
import { identityModel } from "./warmup";
import { manifestFor } from "./manifest";
import { mlpWeights } from "./mlp";
import { normalRows } from "../random";
import { onnx } from "./proto";
import { buildFixtureModels } from "../../dev/samples/index";
import { spamModel } from "../../dev/samples/spam";

ortWeb.env.wasm.numThreads = 1;
ortWeb.env.logLevel = "error";

/** The part of the ort API both packages share (onnxruntime-common). */
type Ort = Pick<typeof ortNode, "InferenceSession" | "Tensor">;
const RUNTIMES: [string, Ort][] = [
  ["onnxruntime-node", ortNode],
  ["onnxruntime-web", ortWeb as unknown as Ort],
];

async function runMlp(
  ort: Ort,
  bytes: Uint8Array,
  spec: MlpSpec,
  x: Float32Array,
  rows: number,
): Promise<{ probabilities: Float32Array; labels: number[] }> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const inputs = spec.layers[0]!.inputs;
    const out = await session.run({ [spec.input]: new ort.Tensor("float32", x, [rows, inputs]) });
    const probs = out[spec.output]!;
    expect(probs.dims).toEqual([rows, spec.layers[spec.layers.length - 1]!.outputs]);
    const labels = spec.label ? Array.from(out[spec.label]!.data as BigInt64Array, Number) : [];
    return { probabilities: probs.data as Float32Array, labels };
  } finally {
    await session.release();
  }
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function agreement(a: number[], b: number[]): number {
  return a.filter((v, i) => v === b[i]).length / a.length;
}

describe("iris MLP", () => {
  let layers: DenseLayer[];
  let spec: MlpSpec;
  let fp32: Uint8Array;
  let int8: Uint8Array;
  let int8Dynamic: Uint8Array;
  const { x, y, rows } = irisData();

  beforeAll(() => {
    const t0 = performance.now();
    const trained = irisWeights();
    const ms = performance.now() - t0;
    console.log(`iris training: ${ms.toFixed(0)} ms, accuracy ${trained.accuracy.toFixed(4)}, loss ${trained.loss.toFixed(4)}`);
    expect(ms).toBeLessThan(2000);
    expect(trained.accuracy).toBeGreaterThanOrEqual(0.95);
    layers = trained.layers;
    spec = irisSpec(layers);
    fp32 = buildMlpFp32(spec);
    int8 = buildMlpInt8(spec, x, rows);
    int8Dynamic = buildMlpInt8(spec, x, rows, { format: "dynamic" });
    console.log(`iris sizes: fp32 ${fp32.length} B, int8 qlinear ${int8.length} B, int8 dynamic ${int8Dynamic.length} B`);
  });

  it("is deterministic (same weights, same bytes)", () => {
    const again = irisSpec(irisWeights().layers);
    expect(buildMlpFp32(again)).toEqual(fp32);
    expect(buildMlpInt8(again, x, rows)).toEqual(int8);
    expect(buildMlpInt8(again, x, rows, { format: "dynamic" })).toEqual(int8Dynamic);
  });

  it("reference forward pass classifies the training set", () => {
    const ref = mlpForward(layers, x, rows);
    expect(agreement(ref.labels, y)).toBeGreaterThanOrEqual(0.95);
  });

  for (const [name, ort] of RUNTIMES) {
    it(`${name}: fp32 matches the plain-TS forward pass to 1e-5`, async () => {
      const ref = mlpForward(layers, x, rows);
      const got = await runMlp(ort, fp32, spec, x, rows);
      const diff = maxAbsDiff(got.probabilities, ref.probabilities);
      console.log(`${name} fp32 max |Δp| = ${diff.toExponential(2)}`);
      expect(diff).toBeLessThan(1e-5);
      expect(got.labels).toEqual(ref.labels);
    });

    for (const format of ["qlinear", "dynamic"] as const) {
      it(`${name}: int8 ${format} keeps the fp32 top-1 class on >= 97% of rows`, async () => {
        const bytes = format === "qlinear" ? int8 : int8Dynamic;
        const ref = await runMlp(ort, fp32, spec, x, rows);
        const got = await runMlp(ort, bytes, spec, x, rows);
        const agree = agreement(got.labels, ref.labels);
        const diff = maxAbsDiff(got.probabilities, ref.probabilities);
        console.log(`${name} int8 ${format}: top-1 agreement ${(agree * 100).toFixed(1)}%, max |Δp| ${diff.toFixed(4)}`);
        expect(agree).toBeGreaterThanOrEqual(0.97);
      });
    }
  }

  it("readSignature: fp32 and int8 have the same signature", () => {
    const expected = {
      inputs: [{ name: "measurements", datatype: "FP32", shape: [-1, 4] }],
      outputs: [
        { name: "probabilities", datatype: "FP32", shape: [-1, 3] },
        { name: "label", datatype: "INT64", shape: [-1] },
      ],
      opsets: { "ai.onnx": 13 },
    };
    const a = readSignature(fp32);
    expect(a).toMatchObject(expected);
    expect(a.ops).toEqual(["Add", "ArgMax", "MatMul", "Relu", "Softmax"]);
    const b = readSignature(int8);
    expect(b).toMatchObject(expected);
    expect(b.ops).toEqual(["Add", "ArgMax", "DequantizeLinear", "QLinearMatMul", "QuantizeLinear", "Softmax"]);
    const c = readSignature(int8Dynamic);
    expect(c).toMatchObject(expected);
    expect(c.ops).toContain("MatMulInteger");
  });

  it("manifestFor fills signature, sha256 and size", async () => {
    const m = await manifestFor(fp32, {
      name: "iris",
      version: 1,
      quantization: "none",
      labels: { probabilities: [...IRIS_LABELS] },
      createdAt: "2026-01-01T00:00:00.000Z",
    });
    expect(ManifestSchema.parse(m)).toEqual(m);
    expect(m.size).toBe(fp32.length);
    expect(m.sha256).toBe(createHash("sha256").update(fp32).digest("hex"));
    expect(m.inputs).toEqual(readSignature(fp32).inputs);
    expect(m.labels).toEqual({ probabilities: ["setosa", "versicolor", "virginica"] });
  });
});

describe("mlp784 (benchmark model)", () => {
  const sizes = [784, 256, 128, 10];
  const spec: MlpSpec = { layers: mlpWeights(sizes, 784), input: "features", output: "probabilities", label: "label" };
  const fp32 = buildMlpFp32(spec);
  const int8 = buildMlpInt8(spec, normalRows(256, 784, 785), 256);

  it("int8 is at least 3x smaller than fp32", () => {
    console.log(`mlp784: fp32 ${fp32.length} B, int8 ${int8.length} B (${(fp32.length / int8.length).toFixed(2)}x)`);
    expect(fp32.length / int8.length).toBeGreaterThanOrEqual(3);
  });

  it("int8 runs on onnxruntime-node and mostly keeps the fp32 class", async () => {
    const rows = 64;
    const x = normalRows(rows, 784, 9);
    const ref = await runMlp(ortNode, fp32, spec, x, rows);
    const got = await runMlp(ortNode, int8, spec, x, rows);
    const agree = agreement(got.labels, ref.labels);
    console.log(`mlp784 int8 top-1 agreement on random rows: ${(agree * 100).toFixed(1)}%`);
    expect(agree).toBeGreaterThanOrEqual(0.9);
  });
});

describe("readSignature errors", () => {
  it("throws OnnxFormatError on garbage bytes", () => {
    const garbage = new TextEncoder().encode("this is definitely not an onnx model");
    expect(() => readSignature(garbage)).toThrow(OnnxFormatError);
    expect(() => readSignature(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff]))).toThrow(OnnxFormatError);
    expect(() => readSignature(new Uint8Array())).toThrow(OnnxFormatError);
  });

  it("throws OnnxFormatError for a model without a graph", () => {
    const bytes = onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 8, producerName: "x" })).finish();
    expect(() => readSignature(bytes)).toThrow(/no graph/);
  });

  it("throws OnnxFormatError for an unsupported element type (bfloat16)", () => {
    const vi = valueInfo("x", "FP32", [-1]);
    vi.type!.tensorType!.elemType = onnx.TensorProto.DataType.BFLOAT16;
    const bytes = encodeModel(graph({ name: "g", nodes: [node("Identity", ["x"], ["y"])], inputs: [vi], outputs: [vi] }));
    let caught: unknown;
    try {
      readSignature(bytes);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(OnnxFormatError);
    expect((caught as Error).message).toMatch(/unsupported ONNX element type 16/);
  });

  it("excludes initializers listed as graph inputs", () => {
    const w = onnx.TensorProto.create({ name: "w", dataType: 1, dims: [1], floatData: [2] });
    const bytes = encodeModel(
      graph({
        name: "g",
        nodes: [node("Mul", ["x", "w"], ["y"])],
        inputs: [valueInfo("x", "FP32", [-1, "n"]), valueInfo("w", "FP32", [1])],
        outputs: [valueInfo("y", "FP32", [-1, -1])],
        initializers: [w],
      }),
    );
    const sig = readSignature(bytes);
    expect(sig.inputs).toEqual([{ name: "x", datatype: "FP32", shape: [-1, -1] }]);
    expect(sig.ops).toEqual(["Mul"]);
  });
});

function sample(dt: Datatype): { data: ortNode.Tensor.DataType; expected: string[] } {
  const table: Record<Datatype, { data: unknown; expected?: string[] }> = {
    BOOL: { data: new Uint8Array([1, 0, 1]) },
    UINT8: { data: new Uint8Array([0, 7, 255]) },
    UINT16: { data: new Uint16Array([0, 7, 65535]) },
    UINT32: { data: new Uint32Array([0, 7, 4294967295]) },
    UINT64: { data: new BigUint64Array([0n, 7n, 18446744073709551615n]) },
    INT8: { data: new Int8Array([-128, 0, 127]) },
    INT16: { data: new Int16Array([-32768, 0, 32767]) },
    INT32: { data: new Int32Array([-2147483648, 0, 2147483647]) },
    INT64: { data: new BigInt64Array([-9223372036854775808n, 0n, 9223372036854775807n]) },
    FP16: { data: new Uint16Array([0x3c00, 0, 0xc000]) }, // 1, 0, -2 as raw half bits
    FP32: { data: new Float32Array([1.5, 0, -2]) },
    FP64: { data: new Float64Array([1.5, 0, -2]) },
    BYTES: { data: ["a", "", "héllo"] },
  };
  const s = table[dt];
  const expected = s.expected ?? Array.from(s.data as ArrayLike<unknown>, String);
  return { data: s.data as ortNode.Tensor.DataType, expected };
}

describe("datatype echo model", () => {
  const bytes = buildDtypeEchoModel();

  it("covers every datatype that onnxruntime-web can run", () => {
    console.log(`echo datatypes: ${ECHO_DATATYPES.join(", ")}; dropped: ${JSON.stringify(ECHO_DROPPED)}`);
    expect([...ECHO_DATATYPES, ...Object.keys(ECHO_DROPPED)].sort()).toEqual([...DATATYPES].sort());
    const sig = readSignature(bytes);
    expect(sig.inputs).toEqual(ECHO_DATATYPES.map((dt) => ({ name: `x_${dt.toLowerCase()}`, datatype: dt, shape: [-1] })));
    expect(sig.outputs.map((o) => o.name)).toEqual(ECHO_DATATYPES.map((dt) => `y_${dt.toLowerCase()}`));
  });

  for (const [name, ort] of RUNTIMES) {
    it(`${name}: round-trips each datatype`, async () => {
      const session = await ort.InferenceSession.create(bytes);
      try {
        const feeds: Record<string, InstanceType<Ort["Tensor"]>> = {};
        for (const dt of ECHO_DATATYPES) {
          feeds[`x_${dt.toLowerCase()}`] = new ort.Tensor(ORT_TYPE[dt], sample(dt).data, [3]);
        }
        const out = await session.run(feeds);
        for (const dt of ECHO_DATATYPES) {
          const y = out[`y_${dt.toLowerCase()}`]!;
          expect(y.type, dt).toBe(ORT_TYPE[dt]);
          expect(y.dims, dt).toEqual([3]);
          expect(Array.from(y.data as ArrayLike<unknown>, String), dt).toEqual(sample(dt).expected);
        }
      } finally {
        await session.release();
      }
    });
  }
});

describe("identityModel", () => {
  it("runs on onnxruntime-web", async () => {
    const session = await ortWeb.InferenceSession.create(identityModel());
    const out = await session.run({ x: new ortWeb.Tensor("float32", new Float32Array([1, 2]), [2]) });
    expect(Array.from(out.y!.data as Float32Array)).toEqual([1, 2]);
    await session.release();
  });
});

describe("sample model metrics", () => {
  it("each int8 sample model carries metrics measured on its own bytes, not its fp32 original's", async () => {
    const fixtures = await buildFixtureModels();
    const byName = (n: string) => fixtures.find((f) => f.manifest.name === n)!;
    const spam = spamModel();
    const { x, y, rows } = spam.data.test;
    for (const [name, input, rowsX, labels] of [
      ["spam-int8", "features", x, y],
      ["iris-int8", "measurements", irisData().x, irisData().y],
    ] as const) {
      const f = byName(name);
      // An independent runtime (onnxruntime-node) on the same rows.
      const session = await ortNode.InferenceSession.create(Buffer.from(f.onnx, "base64"), { intraOpNumThreads: 1 });
      const n = labels.length;
      const out = await session.run({ [input]: new ortNode.Tensor("float32", rowsX, [n, rowsX.length / n]) });
      await session.release();
      const predicted = out.label!.data as BigInt64Array;
      let correct = 0;
      for (let r = 0; r < n; r++) if (Number(predicted[r]) === labels[r]) correct++;
      const key = name === "spam-int8" ? "accuracy" : "train_accuracy";
      expect(f.manifest.metrics[key], name).toBeCloseTo(correct / n, 12);
    }
    // The int8 spam model does differ from the fp32 one on the held-out split.
    expect(byName("spam-int8").manifest.metrics.accuracy).not.toBe(byName("spam").manifest.metrics.accuracy);
    expect(rows).toBe(y.length);
  });
});

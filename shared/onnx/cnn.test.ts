// shared/onnx/cnn.ts: the CNN graphs (fp32 and int8) run by onnxruntime-node and onnxruntime-web
// (WASM, in Node) against the plain-TypeScript reference forward pass.
import * as ortNode from "onnxruntime-node";
import * as ortWeb from "onnxruntime-web";
import { describe, expect, it } from "vitest";
import { normalRows } from "../random";
import { buildCnnFp32, buildCnnInt8, cnnForward, cnnWeights, type CnnSpec } from "./cnn";
import { argmaxRows } from "./mlp";

ortWeb.env.wasm.numThreads = 1;
ortWeb.env.logLevel = "error";

type Ort = Pick<typeof ortNode, "InferenceSession" | "Tensor">;
const RUNTIMES: [string, Ort][] = [
  ["onnxruntime-node", ortNode],
  ["onnxruntime-web", ortWeb as unknown as Ort],
];

async function run(ort: Ort, bytes: Uint8Array, x: Float32Array, rows: number, features: number): Promise<{ p: Float32Array; labels: number[] }> {
  const opts = ort === ortNode ? { extra: { session: { x64quantprecision: "1" } } } : {};
  const s = await ort.InferenceSession.create(bytes, opts);
  try {
    const out = await s.run({ features: new ort.Tensor("float32", x, [rows, features]) });
    return { p: out.probabilities!.data as Float32Array, labels: Array.from(out.label!.data as BigInt64Array, Number) };
  } finally {
    await s.release();
  }
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

describe("CNN → ONNX", () => {
  const cases: [string, CnnSpec][] = [
    // one channel (the input is reshaped straight to NCHW), MNIST-sized
    ["28x28x1, c8k3p2-c16k5p2, d32", cnnWeights([28, 28, 1], [{ filters: 8, kernel: 3, pool: 2 }, { filters: 16, kernel: 5, pool: 2 }], [32, 10], 1)],
    // three channels (NHWC → NCHW transpose), an odd size (pooling floors), no pool in block 2, 1x1 kernel
    ["9x7x3, c4k3p2-c5k1p1, no hidden", cnnWeights([9, 7, 3], [{ filters: 4, kernel: 3, pool: 2 }, { filters: 5, kernel: 1, pool: 1 }], [4], 2)],
  ];
  for (const [name, spec] of cases) {
    const F = spec.image[0] * spec.image[1] * spec.image[2];
    const rows = 16;
    const x = normalRows(rows, F, 7).map(Math.abs);
    const ref = cnnForward(spec, x, rows);
    for (const [rt, ort] of RUNTIMES) {
      it(`${name}: fp32 on ${rt} matches the reference forward pass (1e-5)`, async () => {
        const out = await run(ort, buildCnnFp32(spec), x, rows, F);
        expect(maxAbsDiff(out.p, ref.probabilities)).toBeLessThan(1e-5);
        expect(out.labels).toEqual(ref.labels);
      });
      it(`${name}: int8 (QLinearConv + QLinearMatMul) on ${rt} stays close to fp32`, async () => {
        const int8 = buildCnnInt8(spec, x, rows);
        const out = await run(ort, int8, x, rows, F);
        expect(maxAbsDiff(out.p, ref.probabilities)).toBeLessThan(0.1);
        const agree = out.labels.filter((l, i) => l === ref.labels[i]).length;
        expect(agree).toBeGreaterThanOrEqual(rows - 2);
        expect(buildCnnFp32(spec).length / int8.length).toBeGreaterThan(name.startsWith("28") ? 3 : 1);
      });
    }
  }

  it("node and web give the same int8 answers (x64quantprecision on node)", async () => {
    const spec = cases[0]![1];
    const x = normalRows(32, 784, 9).map(Math.abs);
    const int8 = buildCnnInt8(spec, x, 32);
    const [a, b] = await Promise.all(RUNTIMES.map(([, ort]) => run(ort, int8, x, 32, 784)));
    expect(maxAbsDiff(a!.p, b!.p)).toBeLessThan(1e-5);
    expect(argmaxRows(a!.p, 10)).toEqual(argmaxRows(b!.p, 10));
  });

  it("the bytes are deterministic, and bad specs are refused", () => {
    const spec = cases[1]![1];
    expect(buildCnnFp32(spec)).toEqual(buildCnnFp32(spec));
    expect(() => buildCnnFp32({ ...spec, conv: [{ ...spec.conv[0]!, kernel: 2 }, spec.conv[1]!] })).toThrow(/kernel 2 must be odd/);
    expect(() => buildCnnFp32({ ...spec, dense: [{ ...spec.dense[0]!, inputs: 3 }] })).toThrow(/dense 0: 3 inputs, expected/);
  });
});

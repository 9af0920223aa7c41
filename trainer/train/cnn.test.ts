// The CNN in TF.js (cnn.ts): its gradient against finite differences of the independent float64
// forward pass in shared/onnx/cnn.ts, its two differentiable forms against each other, predictions
// (tf.conv2d) against the reference, a seeded init, and a short MNIST run whose loss falls.
import { beforeAll, describe, expect, it } from "vitest";
import { cnnForward } from "../../shared/onnx/cnn";
import { seededNormal } from "../../shared/random";
import { loadDataset } from "../data";
import { ArchError, archParamCount, mlp, parseArch, type CnnArch } from "./arch";
import { selectBackend } from "./backend";
import { cnnGradient, cnnInit, cnnLayout, cnnLogits, cnnParamCount, toCnnSpec } from "./cnn";
import { silentEvents } from "./events";
import { LocalGradients, train, type TrainConfig } from "./loop";
import { modelFor } from "./models";

beforeAll(async () => {
  await selectBackend("auto");
});

/** Three channels, an odd size, a block without pooling: the layouts' corners. */
const tiny: CnnArch = { kind: "cnn", input: [7, 6, 2], conv: [{ filters: 3, kernel: 3, pool: 2 }, { filters: 4, kernel: 3, pool: 1 }], dense: [5], classes: 3 };

function batch(a: CnnArch, n: number, seed: number): { x: Float32Array; y: Int32Array } {
  const normal = seededNormal(seed);
  const F = a.input[0] * a.input[1] * a.input[2];
  return { x: Float32Array.from({ length: n * F }, () => Math.abs(normal())), y: Int32Array.from({ length: n }, (_, i) => i % a.classes) };
}

/** Mean cross-entropy of the float64 reference forward pass. */
function refLoss(a: CnnArch, params: Float32Array, x: Float32Array, y: Int32Array): number {
  const { logits } = cnnForward(toCnnSpec(a, params, { input: "x", output: "p" }), x, y.length);
  let loss = 0;
  for (let r = 0; r < y.length; r++) {
    const row = logits.subarray(r * a.classes, (r + 1) * a.classes);
    const max = Math.max(...row);
    const lse = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
    loss += lse - row[y[r]!]!;
  }
  return loss / y.length;
}

describe("CNN gradient", () => {
  const params = cnnInit(tiny, 3);
  const { x, y } = batch(tiny, 6, 4);

  it("equals central finite differences of the float64 reference, parameter by parameter", () => {
    const g = cnnGradient(tiny, params, x, y);
    expect(Math.abs(g.loss - refLoss(tiny, params, x, y))).toBeLessThan(1e-5);
    const diffs: number[] = [];
    for (let i = 0; i < params.length; i++) {
      const p = Float32Array.from(params);
      const h = 1e-3;
      p[i] = params[i]! + h;
      const up = refLoss(tiny, p, x, y);
      const hUp = p[i]! - params[i]!; // the float32 step actually taken
      p[i] = params[i]! - h;
      const down = refLoss(tiny, p, x, y);
      const hDown = params[i]! - p[i]!;
      diffs.push(Math.abs((up - down) / (hUp + hDown) - g.grads[i]!));
    }
    diffs.sort((a, b) => a - b);
    // float32 gradient vs float64 differences: within 1e-5 except where a step of h
    // crosses a relu kink or changes a max-pool winner (a handful of parameters at most).
    expect(diffs[Math.floor(diffs.length * 0.97)]!).toBeLessThan(1e-5);
    console.log(`CNN gradient vs finite differences: ${params.length} parameters, median |Δ| ${diffs[diffs.length >> 1]!.toExponential(1)}, max ${diffs[diffs.length - 1]!.toExponential(1)}`);
  });

  it("the conv form (custom gradient, what training runs) equals TF.js autodiff through im2col", () => {
    const a = cnnGradient(tiny, params, x, y, "conv");
    const b = cnnGradient(tiny, params, x, y, "im2col");
    expect(Math.abs(a.loss - b.loss)).toBeLessThan(1e-6);
    expect(a.correct).toBe(b.correct);
    let m = 0;
    for (let i = 0; i < a.grads.length; i++) m = Math.max(m, Math.abs(a.grads[i]! - b.grads[i]!));
    expect(m).toBeLessThan(1e-5);
  });

  it("writes into a given array of the parameter count, with the same bits", () => {
    const out = new Float32Array(params.length).fill(Number.NaN);
    const g = cnnGradient(tiny, params, x, y, "conv", out);
    expect(g.grads).toBe(out);
    expect(Buffer.from(out.buffer).equals(Buffer.from(cnnGradient(tiny, params, x, y).grads.buffer))).toBe(true);
  });

  it("is deterministic (same inputs, same bits) and averages over shards like the MLP's", () => {
    const a = cnnGradient(tiny, params, x, y);
    const b = cnnGradient(tiny, params, x, y);
    expect(Buffer.from(a.grads.buffer).equals(Buffer.from(b.grads.buffer))).toBe(true);
    const F = 7 * 6 * 2;
    const p1 = cnnGradient(tiny, params, x.subarray(0, 2 * F), y.subarray(0, 2));
    const p2 = cnnGradient(tiny, params, x.subarray(2 * F), y.subarray(2));
    let m = 0;
    for (let i = 0; i < a.grads.length; i++) m = Math.max(m, Math.abs((2 * p1.grads[i]! + 4 * p2.grads[i]!) / 6 - a.grads[i]!));
    expect(m).toBeLessThan(1e-6);
  });

  it("predictions (tf.conv2d) and the training forms give the reference logits", () => {
    const ref = cnnForward(toCnnSpec(tiny, params, { input: "x", output: "p" }), x, 6).logits;
    for (const form of ["conv2d", "train", "im2col"] as const) {
      const l = cnnLogits(tiny, params, x, 6, form);
      let m = 0;
      for (let i = 0; i < l.length; i++) m = Math.max(m, Math.abs(l[i]! - ref[i]!));
      expect(m, form).toBeLessThan(1e-5);
    }
  });
});

describe("CNN parameters and --arch", () => {
  it("layout: HWIO conv blocks, then dense layers on the NHWC-flattened last block", () => {
    expect(cnnLayout(tiny).map((p) => `${p.name}:${p.shape.join("x")}`)).toEqual([
      "c0.weight:3x3x2x3", "c0.bias:3", "c1.weight:3x3x3x4", "c1.bias:4", "d0.weight:36x5", "d0.bias:5", "d1.weight:5x3", "d1.bias:3",
    ]);
    expect(cnnParamCount(tiny)).toBe(54 + 3 + 108 + 4 + 180 + 5 + 15 + 3);
    expect(modelFor(tiny).paramCount()).toBe(cnnParamCount(tiny));
    // the TF.js-free count the coordinator uses
    expect(archParamCount(tiny)).toBe(cnnParamCount(tiny));
    const dflt = parseArch("cnn", { features: 784, classes: 10, shape: [28, 28, 1] }, []);
    expect(archParamCount(dflt)).toBe(modelFor(dflt).paramCount());
    expect(archParamCount(dflt)).toBe(105_866);
    expect(archParamCount(mlp([784, 128, 10]))).toBe(modelFor(mlp([784, 128, 10])).paramCount());
  });

  it("init is seeded: same seed same bits, another seed other values, He-scaled", () => {
    expect(cnnInit(tiny, 1)).toEqual(cnnInit(tiny, 1));
    expect(cnnInit(tiny, 1)).not.toEqual(cnnInit(tiny, 2));
    const a = parseArch("cnn", { features: 784, classes: 10, shape: [28, 28, 1] }, [128]) as CnnArch;
    const p = cnnInit(a, 1);
    const w = cnnLayout(a).find((l) => l.name === "c1.weight")!;
    const v = p.subarray(w.offset, w.offset + w.length);
    const std = Math.sqrt(v.reduce((s, t) => s + t * t, 0) / v.length);
    expect(std).toBeGreaterThan(0.9 * Math.sqrt(2 / 144));
    expect(std).toBeLessThan(1.1 * Math.sqrt(2 / 144));
  });

  it("--arch specs", () => {
    const img = { features: 784, classes: 10, shape: [28, 28, 1] as const };
    expect(parseArch("cnn", img, [128])).toEqual({ kind: "cnn", input: [28, 28, 1], conv: [{ filters: 16, kernel: 3, pool: 2 }, { filters: 32, kernel: 3, pool: 2 }], dense: [64], classes: 10 });
    expect(parseArch("cnn:8/", img, [128])).toEqual({ kind: "cnn", input: [28, 28, 1], conv: [{ filters: 8, kernel: 3, pool: 2 }], dense: [], classes: 10 });
    expect(parseArch("mlp", img, [128])).toEqual({ kind: "mlp", sizes: [784, 128, 10] });
    expect(parseArch("mlp:64,32", img, [128])).toEqual({ kind: "mlp", sizes: [784, 64, 32, 10] });
    expect(() => parseArch("cnn", { features: 12, classes: 3 }, [16])).toThrow(ArchError);
    expect(() => parseArch("cnn", { features: 12, classes: 3 }, [16])).toThrow("--arch cnn needs image data (a dataset with an image shape, e.g. mnist); this one is 12 flat features");
    expect(() => parseArch("cnn:8,8,8,8,8,8", img, [])).toThrow(/pooling leaves no pixels/);
    expect(() => parseArch("resnet", img, [])).toThrow(/unknown --arch "resnet"/);
    expect(() => parseArch("mlp:0", img, [])).toThrow(/--arch mlp takes sizes/);
  });
});

describe("CNN training on an MNIST slice", () => {
  it("the loss falls over one epoch of 600 digits, and the same seed gives the same bits", async () => {
    const data = loadDataset("mnist", { splitSeed: 1, testFraction: 0.2, limit: 700 });
    const arch = parseArch("cnn:8,16/32", { features: 784, classes: 10, shape: [28, 28, 1] }, []);
    const cfg: TrainConfig = { arch, epochs: 1, batchSize: 32, optimizer: { kind: "adam", lr: 0.003 }, seed: 2, shards: 1, checkpointEvery: 0, evalEachEpoch: false };
    const losses: number[] = [];
    const r = await train({ cfg, data, gradients: new LocalGradients(arch, data.train), events: { ...silentEvents, step: (s) => void losses.push(s.loss) } });
    const head = losses.slice(0, 3).reduce((a, b) => a + b) / 3;
    const tail = losses.slice(-3).reduce((a, b) => a + b) / 3;
    expect(tail).toBeLessThan(head * 0.7);
    expect(r.test.accuracy).toBeGreaterThan(0.5);
    const again = await train({ cfg, data, gradients: new LocalGradients(arch, data.train), events: silentEvents });
    expect(Buffer.from(again.params.buffer).equals(Buffer.from(r.params.buffer))).toBe(true);
  });
});

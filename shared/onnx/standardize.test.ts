import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { buildMlpFp32, mlpWeights } from "./mlp";
import { prependStandardization } from "./standardize";

describe("prependStandardization", () => {
  const sizes = [3, 4, 2];
  const layers = mlpWeights(sizes, 7);
  const model = buildMlpFp32({ layers, input: "features", output: "probabilities" });
  const run = async (bytes: Uint8Array, x: number[]) => {
    const s = await ort.InferenceSession.create(bytes);
    try {
      return Array.from((await s.run({ features: new ort.Tensor("float32", Float32Array.from(x), [x.length / 3, 3]) })).probabilities!.data as Float32Array);
    } finally {
      await s.release();
    }
  };

  it("the graph on raw rows equals the original graph on (x − mean) / std", async () => {
    const mean = [10, -2, 0];
    const std = [4, 0.5, 1];
    const raw = [14, -1.5, 0.3, 2, -2, -0.7];
    const standardized = raw.map((v, i) => (v - mean[i % 3]!) / std[i % 3]!);
    const served = await run(prependStandardization(model, "features", { mean, std }), raw);
    const reference = await run(model, standardized);
    served.forEach((p, i) => expect(p).toBeCloseTo(reference[i]!, 6));
  });

  it("refuses what it cannot honour", () => {
    expect(() => prependStandardization(model, "pixels", { mean: [0, 0, 0], std: [1, 1, 1] })).toThrow('the graph has no input "pixels"');
    expect(() => prependStandardization(model, "features", { mean: [0, 0], std: [1, 1, 1] })).toThrow("2 means, 3 stds");
    expect(() => prependStandardization(model, "features", { mean: [0, 0, 0], std: [1, 0, 1] })).toThrow("feature 1 has mean 0, std 0");
  });
});

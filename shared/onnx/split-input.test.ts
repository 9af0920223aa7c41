import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { readSignature } from "./inspect";
import { buildMlpFp32, mlpWeights } from "./mlp";
import { splitInput } from "./split-input";

describe("splitInput", () => {
  const model = buildMlpFp32({ layers: mlpWeights([5, 4, 2], 3), input: "features", output: "probabilities" });
  const split = splitInput(model, "features", [
    { name: "features", width: 2 },
    { name: "user", width: 3 },
  ]);

  it("takes each part as its own input and answers the same bits as the joined row", async () => {
    expect(readSignature(split).inputs).toEqual([
      { name: "features", datatype: "FP32", shape: [-1, 2] },
      { name: "user", datatype: "FP32", shape: [-1, 3] },
    ]);
    const rows = [0.5, -1, 2, 0.25, 3, -0.5, 1, 1, -2, 0.125];
    const whole = await ort.InferenceSession.create(model);
    const parts = await ort.InferenceSession.create(split);
    const a = (await whole.run({ features: new ort.Tensor("float32", Float32Array.from(rows), [2, 5]) })).probabilities!.data;
    const b = (
      await parts.run({
        features: new ort.Tensor("float32", Float32Array.from([...rows.slice(0, 2), ...rows.slice(5, 7)]), [2, 2]),
        user: new ort.Tensor("float32", Float32Array.from([...rows.slice(2, 5), ...rows.slice(7, 10)]), [2, 3]),
      })
    ).probabilities!.data;
    await Promise.all([whole.release(), parts.release()]);
    expect(Array.from(b as Float32Array)).toEqual(Array.from(a as Float32Array));
  });

  it("refuses parts that do not add up, clash with a name, or an input the graph lacks", () => {
    expect(() => splitInput(model, "pixels", [{ name: "a", width: 5 }])).toThrow('the graph has no input "pixels"');
    expect(() => splitInput(model, "features", [{ name: "a", width: 4 }])).toThrow('"features" has 5 values a row, the parts 4');
    expect(() => splitInput(model, "features", [{ name: "probabilities", width: 5 }])).toThrow('"probabilities" is taken');
    expect(() => splitInput(model, "features", [{ name: "a", width: 2 }, { name: "a", width: 3 }])).toThrow('"a" is taken');
  });
});

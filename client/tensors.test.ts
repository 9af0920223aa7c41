import { describe, expect, it } from "vitest";
import { encodeResult, toJsonResponse } from "../shared/binary";
import type { InferenceResult } from "../shared/oip";
import { fromHalf } from "../shared/tensors";
import { InferenceOutputs, TensorError, decodeAnswer, toTensorInput } from "./tensors";

describe("toTensorInput", () => {
  it("sends the datatype's native typed array as it is", () => {
    const values = Float32Array.of(1, 2, 3, 4);
    expect(toTensorInput({ name: "x", datatype: "FP32", shape: [1, 4], values }).values).toBe(values);
    const bits = Uint16Array.of(0x3c00); // FP16 travels as raw half-float bits
    expect(toTensorInput({ name: "x", datatype: "FP16", shape: [1], values: bits }).values).toBe(bits);
  });

  it("converts plain, nested and other typed arrays by datatype", () => {
    expect(toTensorInput({ name: "x", datatype: "FP32", shape: [2, 2], values: [[1.5, 2], [3, 4]] }).values).toEqual(Float32Array.of(1.5, 2, 3, 4));
    expect(toTensorInput({ name: "x", datatype: "FP32", shape: [2], values: Float64Array.of(0.1, 0.2) }).values).toEqual(Float32Array.of(0.1, 0.2));
    const half = toTensorInput({ name: "x", datatype: "FP16", shape: [3], values: [1, -2, 0.5] }).values as Uint16Array;
    expect(Array.from(half, fromHalf)).toEqual([1, -2, 0.5]);
    expect(toTensorInput({ name: "x", datatype: "INT64", shape: [3], values: [2n ** 62n, "-9223372036854775808", 7] }).values).toEqual(
      BigInt64Array.of(2n ** 62n, -(2n ** 63n), 7n),
    );
    expect(toTensorInput({ name: "x", datatype: "UINT64", shape: [1], values: Int32Array.of(5) }).values).toEqual(BigUint64Array.of(5n));
    expect(toTensorInput({ name: "x", datatype: "INT8", shape: [2], values: [1n, -1n] }).values).toEqual(Int8Array.of(1, -1));
    expect(toTensorInput({ name: "x", datatype: "BOOL", shape: [2], values: [true, false] }).values).toEqual(Uint8Array.of(1, 0));
    expect(toTensorInput({ name: "x", datatype: "BYTES", shape: [2], values: ["a", "ü"] }).values).toEqual(["a", "ü"]);
  });

  it("refuses what the edge would refuse, before sending it", () => {
    const bad = (input: Parameters<typeof toTensorInput>[0], message: RegExp | typeof TensorError) => expect(() => toTensorInput(input)).toThrow(message);
    bad({ name: "x", datatype: "UINT8", shape: [1], values: [256] }, /input "x": element 0 is 256, expected an integer in \[0, 255\]/);
    bad({ name: "x", datatype: "INT64", shape: [1], values: [2n ** 63n] }, /element 0/);
    bad({ name: "x", datatype: "FP32", shape: [2, 2], values: [1, 2, 3] }, /data has 3 elements, shape \[2, 2\] needs 4/);
    bad({ name: "x", datatype: "FP32", shape: [3], values: Float32Array.of(1, 2) }, /input "x": 2 values, shape \[3\] needs 3/);
    bad({ name: "x", datatype: "BOOL", shape: [1], values: [1] }, /expected a boolean/);
    bad({ name: "x", datatype: "FP32", shape: [1.5], values: [1] }, TensorError);
  });
});

describe("decodeAnswer", () => {
  const result: InferenceResult = {
    model_name: "m",
    model_version: "1",
    id: "r1",
    outputs: [
      { name: "p", datatype: "FP32", shape: [1, 3], values: Float32Array.of(NaN, Infinity, 0.25) },
      { name: "h", datatype: "FP16", shape: [2], values: Uint16Array.of(0x7c00, 0x3c00) },
      { name: "big", datatype: "UINT64", shape: [1], values: BigUint64Array.of(2n ** 64n - 1n) },
      { name: "s", datatype: "BYTES", shape: [2], values: ["", "ünï ✓"] },
      { name: "b", datatype: "BOOL", shape: [2], values: Uint8Array.of(0, 1) },
    ],
  };

  it("keeps non-finite outputs from binary data (a model that overflows is still an answer)", () => {
    const { body, headerLength } = encodeResult(result, () => true);
    const decoded = new InferenceOutputs(decodeAnswer(body, headerLength));
    expect(decoded.id).toBe("r1");
    expect(Array.from(decoded.output("p").values as Float32Array)).toEqual([NaN, Infinity, 0.25]);
    expect(decoded.output("h").values).toEqual(Uint16Array.of(0x7c00, 0x3c00));
    expect(decoded.output("big").values).toEqual(BigUint64Array.of(2n ** 64n - 1n));
    expect(decoded.data("big")).toEqual(["18446744073709551615"]);
    expect(decoded.output("s").values).toEqual(["", "ünï ✓"]);
    expect(decoded.data("b")).toEqual([false, true]);
    expect(() => decoded.output("nope")).toThrow(/no output "nope" \(it has p, h, big, s, b\)/);
  });

  it("reads JSON's null as NaN, and mixed JSON and binary outputs", () => {
    const json = new TextEncoder().encode(JSON.stringify(toJsonResponse(result)));
    const decoded = decodeAnswer(json, null);
    expect(Array.from(decoded.outputs[0]!.values as Float32Array)).toEqual([NaN, NaN, 0.25]);
    expect(decoded.outputs[2]!.values).toEqual(BigUint64Array.of(2n ** 64n - 1n));
    const mixed = encodeResult(result, (name) => name === "s" || name === "p");
    expect(decodeAnswer(mixed.body, mixed.headerLength).outputs.map((o) => o.values)).toEqual([
      Float32Array.of(NaN, Infinity, 0.25),
      Uint16Array.of(0x7e00, 0x3c00), // JSON turned FP16 Infinity into null, read back as NaN
      BigUint64Array.of(2n ** 64n - 1n),
      ["", "ünï ✓"],
      Uint8Array.of(0, 1),
    ]);
  });

  it("refuses framing that does not add up", () => {
    const { body, headerLength } = encodeResult(result, () => true);
    expect(() => decodeAnswer(body.subarray(0, body.byteLength - 1), headerLength)).toThrow(TensorError);
    expect(() => decodeAnswer(body, body.byteLength + 1)).toThrow(/past the end/);
  });
});

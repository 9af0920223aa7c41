// The binary tensor codec on its own (Node): framing, alignment, every datatype both ways, and
// the difference between inputs (checked) and outputs (taken as the model made them).
import { describe, expect, it } from "vitest";
import { HEADER_LENGTH, binaryOutputs, decodeBinaryTensor, decodeResponse, encodeRequest, encodeResult, headerLength, sliceBinary, splitBody } from "./binary";
import type { InferenceResult } from "./oip";
import { TensorError, decodeTensor, toHalf } from "./tensors";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

describe("binary tensor data", () => {
  it("frames a request: JSON header padded to 8 bytes, then each binary input in order", () => {
    const { body, headerLength: length } = encodeRequest({
      id: "r1",
      inputs: [
        { name: "a", datatype: "UINT8", shape: [3], values: Uint8Array.from([1, 2, 3]) },
        { name: "b", datatype: "FP64", shape: [1], values: Float64Array.from([0.5]) },
      ],
    });
    expect(length! % 8).toBe(0);
    const header = JSON.parse(text(body.subarray(0, length!))) as { id: string; inputs: Array<{ parameters: { binary_data_size: number } }> };
    expect(header.id).toBe("r1");
    expect(header.inputs.map((i) => i.parameters.binary_data_size)).toEqual([3, 8]);
    expect(Array.from(body.subarray(length!, length! + 3))).toEqual([1, 2, 3]);
    // A plain JSON request when nothing goes as binary.
    const json = encodeRequest({ inputs: [{ name: "a", datatype: "INT64", shape: [1], values: BigInt64Array.from([2n ** 60n]) }] }, () => false);
    expect(json.headerLength).toBeNull();
    expect(JSON.parse(text(json.body))).toEqual({ inputs: [{ name: "a", datatype: "INT64", shape: [1], data: ["1152921504606846976"] }] });
  });

  it("views aligned data in place and copies unaligned data once", () => {
    const buffer = new ArrayBuffer(24);
    new Float32Array(buffer, 8, 2).set([1.5, -2]);
    const aligned = decodeBinaryTensor("input \"x\"", "FP32", [2], new Uint8Array(buffer, 8, 8));
    expect((aligned.values as Float32Array).buffer).toBe(buffer);
    const odd = new Uint8Array(new ArrayBuffer(16), 1, 8);
    odd.set(new Uint8Array(Float32Array.from([3, 4]).buffer));
    const copied = decodeBinaryTensor("input \"x\"", "FP32", [2], odd);
    expect(Array.from(copied.values as Float32Array)).toEqual([3, 4]);
    expect((copied.values as Float32Array).buffer).not.toBe(odd.buffer);
  });

  it("refuses bad inputs, and takes outputs as the model made them", () => {
    const nan = new Uint8Array(Float32Array.from([NaN]).buffer);
    expect(() => decodeBinaryTensor("input \"x\"", "FP32", [1], nan)).toThrow(/element 0 is NaN/);
    expect(Number.isNaN((decodeBinaryTensor("output \"y\"", "FP32", [1], nan, false).values as Float32Array)[0])).toBe(true);
    const nul = Uint8Array.from([3, 0, 0, 0, 97, 0, 98]);
    expect(() => decodeBinaryTensor("input \"s\"", "BYTES", [1], nul)).toThrow(/contains a NUL byte/);
    expect(decodeBinaryTensor("output \"s\"", "BYTES", [1], nul, false).values).toEqual(["a\u0000b"]);
    expect(() => decodeTensor("s", "BYTES", [1], ["a\u0000b"])).toThrow(TensorError);
    expect(() => decodeBinaryTensor("input \"h\"", "FP16", [1], new Uint8Array(Uint16Array.from([0x7c00]).buffer))).toThrow(/NaN or Infinity/);
  });

  it("round-trips a result with JSON and binary outputs mixed, NaN kept", () => {
    const result: InferenceResult = {
      model_name: "m",
      model_version: "2",
      id: "x",
      outputs: [
        { name: "p", datatype: "FP32", shape: [1, 2], values: Float32Array.from([NaN, 0.25]) },
        { name: "l", datatype: "INT64", shape: [1], values: BigInt64Array.from([-(2n ** 62n)]) },
        { name: "h", datatype: "FP16", shape: [1], values: Uint16Array.from([toHalf(0.5)]) },
        { name: "s", datatype: "BYTES", shape: [2], values: ["ü", ""] },
        { name: "b", datatype: "BOOL", shape: [2], values: Uint8Array.from([1, 0]) },
      ],
    };
    for (const binary of [() => true, () => false, (n: string) => n === "l" || n === "s"]) {
      const { body, headerLength: length } = encodeResult(result, binary);
      const back = decodeResponse(body, length);
      expect(back.id).toBe("x");
      const p = back.outputs.find((o) => o.name === "p")!.values as Float32Array;
      expect(Number.isNaN(p[0])).toBe(true);
      expect(p[1]).toBe(0.25);
      expect(Array.from(back.outputs.find((o) => o.name === "l")!.values as BigInt64Array)).toEqual([-(2n ** 62n)]);
      expect(Array.from(back.outputs.find((o) => o.name === "h")!.values as Uint16Array)).toEqual([toHalf(0.5)]);
      expect(back.outputs.find((o) => o.name === "s")!.values).toEqual(["ü", ""]);
      expect(Array.from(back.outputs.find((o) => o.name === "b")!.values as Uint8Array)).toEqual([1, 0]);
    }
  });

  it("names every framing mistake", () => {
    expect(headerLength(null)).toBeNull();
    expect(() => headerLength("-1")).toThrow(`${HEADER_LENGTH} must be a byte count`);
    expect(() => splitBody(new Uint8Array(4), 5)).toThrow(/is 5, past the end of the 4-byte body/);
    const inputs = [{ name: "a", parameters: { binary_data_size: 4 } }, { name: "b" }, { name: "c", parameters: { binary_data_size: 2 } }];
    const slices = sliceBinary(inputs, Uint8Array.from([1, 2, 3, 4, 5, 6]));
    expect(Array.from(slices.get(inputs[2]!)!)).toEqual([5, 6]);
    expect(slices.has(inputs[1]!)).toBe(false);
    expect(() => sliceBinary(inputs, new Uint8Array(5))).toThrow(/input "c": binary_data_size 2 at offset 4 runs past the 5 bytes/);
    expect(() => sliceBinary(inputs, new Uint8Array(7))).toThrow(/add up to 6 bytes, the body has 7/);
    expect(() => sliceBinary([{ name: "a", parameters: { binary_data_size: 1.5 } }], new Uint8Array(1))).toThrow(/must be a non-negative integer/);
    expect(() => binaryOutputs({ outputs: [{ name: "a", parameters: { binary_data: 1 } }] })).toThrow(/output "a": parameter "binary_data" must be true or false/);
    const pick = binaryOutputs({ parameters: { binary_data_output: true }, outputs: [{ name: "a", parameters: { binary_data: false } }, { name: "b" }] });
    expect([pick("a"), pick("b"), pick("c")]).toEqual([false, true, true]);
  });
});

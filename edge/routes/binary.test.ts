// The binary tensor data extension on the infer route, inside workerd: binary and JSON give the
// same answer bit for bit, every datatype round-trips, and bad framing is a 400 naming it.
import { SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { HEADER_LENGTH, decodeResponse, encodeRequest, frame, type TensorInput } from "../../shared/binary";
import type { Datatype } from "../../shared/datatypes";
import type { InferenceResult } from "../../shared/oip";
import { toHalf } from "../../shared/tensors";
import { BASE, IRIS_ROWS, post, type InferBody } from "../../test/edge/client";
import { seed } from "../../test/edge/seed";

beforeAll(() => seed());

async function send(path: string, body: Uint8Array, length: number | null, headers: Record<string, string> = {}): Promise<Response> {
  return SELF.fetch(`${BASE}${path}`, {
    method: "POST",
    headers: { "content-type": "application/octet-stream", ...(length === null ? {} : { [HEADER_LENGTH]: String(length) }), ...headers },
    body,
  });
}

async function infer(model: string, inputs: TensorInput[], opts: { binary?: (t: TensorInput) => boolean; outputs?: unknown; parameters?: Record<string, unknown> } = {}) {
  const { body, headerLength } = encodeRequest({ inputs, parameters: opts.parameters, outputs: opts.outputs as never }, opts.binary);
  const res = await send(`/v2/models/${model}/infer`, body, headerLength);
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (res.status !== 200) throw new Error(`${res.status} ${new TextDecoder().decode(bytes)}`);
  const length = res.headers.get(HEADER_LENGTH);
  return { res, result: decodeResponse(bytes, length === null ? null : Number(length)) };
}

async function expect400(res: Response, pattern: RegExp): Promise<void> {
  const body = await res.json<{ error: string }>();
  expect(res.status, JSON.stringify(body)).toBe(400);
  expect(body.error).toMatch(pattern);
}

const irisInput = (): TensorInput => ({ name: "measurements", datatype: "FP32", shape: [3, 4], values: Float32Array.from(IRIS_ROWS.flat()) });
const output = (r: InferenceResult, name: string) => r.outputs.find((o) => o.name === name)!;

describe("binary tensor data", () => {
  it("gives the same outputs as JSON, bit for bit, with binary inputs and outputs", async () => {
    const json = await post("/v2/models/iris/infer", { inputs: [{ name: "measurements", datatype: "FP32", shape: [3, 4], data: IRIS_ROWS.flat() }] });
    const jsonBody = await json.json<InferBody>();
    const { res, result } = await infer("iris", [irisInput()], { parameters: { binary_data_output: true } });
    expect(res.headers.get("content-type")).toBe("application/octet-stream");
    expect(Number(res.headers.get(HEADER_LENGTH))).toBeGreaterThan(0);
    const probs = output(result, "probabilities");
    expect(probs.values).toBeInstanceOf(Float32Array);
    expect([...(probs.values as Float32Array)]).toEqual(jsonBody.outputs.find((o) => o.name === "probabilities")!.data);
    expect([...(output(result, "label").values as BigInt64Array)]).toEqual([0n, 1n, 2n]);
  });

  it("answers binary inputs with JSON outputs unless asked, and one output in binary when only it asks", async () => {
    const plain = await infer("iris", [irisInput()]);
    expect(plain.res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(plain.res.headers.get(HEADER_LENGTH)).toBeNull();
    const mixed = await infer("iris", [irisInput()], { outputs: [{ name: "probabilities" }, { name: "label", parameters: { binary_data: true } }] });
    expect(mixed.res.headers.get("content-type")).toBe("application/octet-stream");
    expect([...(output(mixed.result, "label").values as BigInt64Array)]).toEqual([0n, 1n, 2n]);
    expect(output(mixed.result, "probabilities").values).toEqual(output(plain.result, "probabilities").values);
  });

  it("round-trips every datatype, JSON and binary inputs mixed in one request", async () => {
    const cases: Array<[Datatype, TensorInput["values"]]> = [
      ["BOOL", Uint8Array.from([1, 0, 1])],
      ["UINT8", Uint8Array.from([0, 7, 255])],
      ["UINT16", Uint16Array.from([0, 65535])],
      ["UINT32", Uint32Array.from([0, 4294967295])],
      ["UINT64", BigUint64Array.from([0n, 18446744073709551615n, 9007199254740993n])],
      ["INT8", Int8Array.from([-128, 0, 127])],
      ["INT16", Int16Array.from([-32768, 32767])],
      ["INT32", Int32Array.from([-2147483648, 2147483647])],
      ["INT64", BigInt64Array.from([-9223372036854775808n, 42n, 9223372036854775807n])],
      ["FP16", Uint16Array.from([0.5, -2, 65504].map(toHalf))],
      ["FP32", Float32Array.from([1.5, -0.25, 3e38])],
      ["FP64", Float64Array.from([Math.PI, -1e300])],
      ["BYTES", ["hello", "", "ünïcode ✓", "\ufeffbom kept"]],
    ];
    const inputs = cases.map(([dt, values]): TensorInput => ({ name: `x_${dt.toLowerCase()}`, datatype: dt, shape: [values.length], values }));
    // Every other input as JSON: both encodings in one body.
    const { result } = await infer("dtypes", inputs, { binary: (t) => inputs.indexOf(t) % 2 === 0, parameters: { binary_data_output: true } });
    for (const [dt, values] of cases) {
      const out = output(result, `y_${dt.toLowerCase()}`);
      expect(out.datatype, dt).toBe(dt);
      expect(out.shape).toEqual([values.length]);
      expect(Array.from(out.values as ArrayLike<unknown>), dt).toEqual(Array.from(values as ArrayLike<unknown>));
    }
  });

  it("reads binary data at any alignment (an odd-sized input first)", async () => {
    const inputs: TensorInput[] = [
      { name: "x_uint8", datatype: "UINT8", shape: [3], values: Uint8Array.from([1, 2, 3]) },
      { name: "x_fp64", datatype: "FP64", shape: [2], values: Float64Array.from([0.1, -7]) },
      { name: "x_int64", datatype: "INT64", shape: [1], values: BigInt64Array.from([-5n]) },
    ];
    const names = new Set(inputs.map((i) => i.name));
    const { result } = await infer("dtypes", [...inputs, ...dtypesFiller(names)], { parameters: { binary_data_output: true } });
    expect([...(output(result, "y_fp64").values as Float64Array)]).toEqual([0.1, -7]);
    expect([...(output(result, "y_int64").values as BigInt64Array)]).toEqual([-5n]);
  });

  it("refuses bad framing with a 400 naming it", async () => {
    const path = "/v2/models/iris/infer";
    const header = (size: number, extra: Record<string, unknown> = {}) => ({ inputs: [{ name: "measurements", datatype: "FP32", shape: [1, 4], parameters: { binary_data_size: size }, ...extra }] });
    const data = new Uint8Array(Float32Array.from(IRIS_ROWS[0]!).buffer);
    const ok = frame(header(16), [data]);
    expect((await send(path, ok.body, ok.headerLength)).status).toBe(200);

    await expect400(await send(path, ok.body, ok.body.byteLength + 1), /inference-header-content-length is \d+, past the end of the \d+-byte body/);
    await expect400(await send(path, ok.body, ok.headerLength, { [HEADER_LENGTH]: "12abc" }), /must be a byte count/);
    const short = frame(header(16), [data.subarray(0, 12)]);
    await expect400(await send(path, short.body, short.headerLength), /binary_data_size 16 at offset 0 runs past the 12 bytes/);
    const extra = frame(header(16), [data, new Uint8Array(4)]);
    await expect400(await send(path, extra.body, extra.headerLength), /add up to 16 bytes, the body has 20/);
    const wrong = frame(header(12), [data.subarray(0, 12)]);
    await expect400(await send(path, wrong.body, wrong.headerLength), /binary_data_size is 12 bytes, shape \[1, 4\] of FP32 needs 16/);
    const both = frame(header(16, { data: [1, 2, 3, 4] }), [data]);
    await expect400(await send(path, both.body, both.headerLength), /either data or parameters.binary_data_size/);
    const stray = frame({ inputs: [{ name: "measurements", datatype: "FP32", shape: [1, 4], data: IRIS_ROWS[0] }] }, [data]);
    await expect400(await send(path, stray.body, stray.headerLength), /16 bytes after the .* JSON header, but no input declares binary_data_size/);
    const negative = frame(header(-4), []);
    await expect400(await send(path, negative.body, negative.headerLength), /binary_data_size" must be a non-negative integer/);
    const nan = frame(header(16), [new Uint8Array(Float32Array.from([1, NaN, 1, 1]).buffer)]);
    await expect400(await send(path, nan.body, nan.headerLength), /element 1 is NaN, expected a finite FP32 number/);
    const flag = frame({ ...header(16), parameters: { binary_data_output: "yes" } }, [data]);
    await expect400(await send(path, flag.body, flag.headerLength), /binary_data_output" must be true or false/);
    await expect400(await send("/v1/predict/iris", ok.body, ok.headerLength), /\/v1\/predict takes JSON only/);
  });

  it("refuses bad BYTES and BOOL elements", async () => {
    const path = "/v2/models/dtypes/infer";
    const names = new Set(["x_bytes"]);
    const filler = encodeRequest({ inputs: dtypesFiller(names) }, () => false);
    const fillerInputs = (JSON.parse(new TextDecoder().decode(filler.body)) as { inputs: unknown[] }).inputs;
    const withBytes = (bytes: Uint8Array) =>
      frame({ inputs: [{ name: "x_bytes", datatype: "BYTES", shape: [1], parameters: { binary_data_size: bytes.byteLength } }, ...fillerInputs] }, [bytes]);
    const over = withBytes(Uint8Array.from([9, 0, 0, 0, 65, 66]));
    await expect400(await send(path, over.body, over.headerLength), /BYTES element 0 says 9 bytes, only 2 are left/);
    const invalid = withBytes(Uint8Array.from([2, 0, 0, 0, 0xc3, 0x28]));
    await expect400(await send(path, invalid.body, invalid.headerLength), /BYTES element 0 is not valid UTF-8/);
    const tail = withBytes(Uint8Array.from([1, 0, 0, 0, 65, 7]));
    await expect400(await send(path, tail.body, tail.headerLength), /has 1 bytes left after the 1 elements/);
    const bools = new Set(["x_bool"]);
    const boolFill = (JSON.parse(new TextDecoder().decode(encodeRequest({ inputs: dtypesFiller(bools) }, () => false).body)) as { inputs: unknown[] }).inputs;
    const bad = frame({ inputs: [{ name: "x_bool", datatype: "BOOL", shape: [2], parameters: { binary_data_size: 2 } }, ...boolFill] }, [Uint8Array.from([1, 2])]);
    await expect400(await send(path, bad.body, bad.headerLength), /element 1 is the byte 2, expected 0 \(false\) or 1 \(true\)/);
  });

  it("applies MAX_BODY_BYTES to the whole body, binary data included", async () => {
    const rows = (4 << 20) / 16; // 4 MiB of binary FP32 rows, plus the header: over the default limit
    const { body, headerLength } = encodeRequest({ inputs: [{ name: "measurements", datatype: "FP32", shape: [rows, 4], values: new Float32Array(rows * 4) }] });
    const res = await send("/v2/models/iris/infer", body, headerLength);
    expect(res.status).toBe(413);
    expect((await res.json<{ error: string }>()).error).toMatch(/MAX_BODY_BYTES/);
  });
});

/** One element of every dtypes input not in `skip`, so a request to the echo model is complete. */
function dtypesFiller(skip: ReadonlySet<string>): TensorInput[] {
  const all: TensorInput[] = [
    { name: "x_bool", datatype: "BOOL", shape: [1], values: Uint8Array.from([1]) },
    { name: "x_uint8", datatype: "UINT8", shape: [1], values: Uint8Array.from([1]) },
    { name: "x_uint16", datatype: "UINT16", shape: [1], values: Uint16Array.from([1]) },
    { name: "x_uint32", datatype: "UINT32", shape: [1], values: Uint32Array.from([1]) },
    { name: "x_uint64", datatype: "UINT64", shape: [1], values: BigUint64Array.from([1n]) },
    { name: "x_int8", datatype: "INT8", shape: [1], values: Int8Array.from([1]) },
    { name: "x_int16", datatype: "INT16", shape: [1], values: Int16Array.from([1]) },
    { name: "x_int32", datatype: "INT32", shape: [1], values: Int32Array.from([1]) },
    { name: "x_int64", datatype: "INT64", shape: [1], values: BigInt64Array.from([1n]) },
    { name: "x_fp16", datatype: "FP16", shape: [1], values: Uint16Array.from([toHalf(1)]) },
    { name: "x_fp32", datatype: "FP32", shape: [1], values: Float32Array.from([1]) },
    { name: "x_fp64", datatype: "FP64", shape: [1], values: Float64Array.from([1]) },
    { name: "x_bytes", datatype: "BYTES", shape: [1], values: ["a"] },
  ];
  return all.filter((t) => !skip.has(t.name));
}

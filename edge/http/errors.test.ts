// Every client mistake gets a 4xx with {"error": "..."} naming the problem, and the isolate
// keeps serving afterwards.
import { SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { BASE, IRIS_ROWS, get, irisRequest, post } from "../../test/edge/client";
import { seed } from "../../test/edge/seed";

beforeAll(() => seed());

async function expectError(res: Response, status: number, pattern: RegExp): Promise<void> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(res.headers.get("content-type")).toMatch(/application\/json/);
  const body = JSON.parse(text) as { error?: unknown };
  expect(typeof body.error).toBe("string");
  expect(body.error).toMatch(pattern);
}

const input = (over: Record<string, unknown>) => ({
  inputs: [{ name: "measurements", datatype: "FP32", shape: [1, 4], data: IRIS_ROWS[0], ...over }],
});

describe("bad input", () => {
  it("unknown model → 404", async () => {
    await expectError(await post("/v2/models/nope/infer", irisRequest()), 404, /unknown model "nope"/);
    await expectError(await get("/v2/models/nope"), 404, /unknown model/);
    await expectError(await get("/v2/models/nope/ready"), 404, /unknown model/);
  });

  it("unknown version → 404", async () => {
    await expectError(await post("/v2/models/iris/versions/9/infer", irisRequest()), 404, /no version 9/);
    await expectError(await post("/v2/models/iris/versions/latest/infer", irisRequest()), 404, /no version "latest"/);
    await expectError(await get("/v2/models/iris/versions/9"), 404, /no version 9/);
  });

  it("unknown route → 404 JSON", async () => {
    await expectError(await get("/v3/anything"), 404, /no route for GET \/v3\/anything/);
  });

  it("malformed JSON → 400", async () => {
    await expectError(await post("/v2/models/iris/infer", '{"inputs": [}'), 400, /malformed JSON/);
    await expectError(await post("/v2/models/iris/infer", ""), 400, /empty/);
    const binary = await SELF.fetch(`${BASE}/v2/models/iris/infer`, { method: "POST", body: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]) });
    await expectError(binary, 400, /UTF-8/);
  });

  it("a body that is not an inference request → 400", async () => {
    await expectError(await post("/v2/models/iris/infer", { input: [] }), 400, /inputs/);
    await expectError(await post("/v2/models/iris/infer", { inputs: [] }), 400, /inputs/);
    await expectError(await post("/v2/models/iris/infer", input({ shape: [1.5, 4] })), 400, /inputs\.0\.shape\.0/);
    await expectError(await post("/v2/models/iris/infer", input({ data: [{ x: 1 }, 2, 3, 4] })), 400, /element 0 is \{"x":1\}, expected a FP32 number/);
    await expectError(await post("/v2/models/iris/infer", input({ data: "1,2,3,4" })), 400, /inputs\.0\.data: .*array/);
  });

  it("wrong or missing input names → 400", async () => {
    await expectError(await post("/v2/models/iris/infer", input({ name: "pixels" })), 400, /unknown input "pixels".*"measurements"/);
    await expectError(
      await post("/v2/models/iris/infer", { inputs: [...input({}).inputs, ...input({}).inputs] }),
      400,
      /given twice/,
    );
    await expectError(
      await post("/v2/models/dtypes/infer", { inputs: [{ name: "x_bool", datatype: "BOOL", shape: [1], data: [true] }] }),
      400,
      /missing input "x_uint8"/,
    );
  });

  it("datatype mismatch or unknown datatype → 400", async () => {
    await expectError(await post("/v2/models/iris/infer", input({ datatype: "FP64" })), 400, /datatype FP64 does not match the model's FP32/);
    await expectError(await post("/v2/models/iris/infer", input({ datatype: "FLOAT" })), 400, /unknown datatype "FLOAT"/);
    await expectError(await post("/v2/models/iris/infer", input({ data: [1, 2, "3", 4] })), 400, /element 2 is "3", expected a FP32 number/);
  });

  it("data length that does not match the shape → 400", async () => {
    await expectError(await post("/v2/models/iris/infer", input({ data: [1, 2, 3] })), 400, /3 elements, shape \[1, 4\] needs 4/);
    await expectError(await post("/v2/models/iris/infer", input({ shape: [2, 4] })), 400, /4 elements, shape \[2, 4\] needs 8/);
  });

  it("a shape the model does not accept → 400", async () => {
    await expectError(await post("/v2/models/iris/infer", input({ shape: [4] })), 400, /rank 1, the model expects rank 2 \[-1, 4\]/);
    await expectError(await post("/v2/models/iris/infer", input({ shape: [2, 2] })), 400, /dimension 1 must be 4/);
    await expectError(await post("/v2/models/iris/infer", input({ shape: [0, 4], data: [] })), 400, /must be at least 1/);
  });

  it("non-finite or out-of-range numbers → 400", async () => {
    await expectError(await post("/v2/models/iris/infer", '{"inputs":[{"name":"measurements","datatype":"FP32","shape":[1,4],"data":[1e999,1,1,1]}]}'), 400, /element 0 is Infinity, expected a finite FP32 number/);
    await expectError(await post("/v2/models/iris/infer", input({ data: [1e39, 1, 1, 1] })), 400, /within the FP32 range/);
    const echo = (name: string, datatype: string, data: unknown[]) => ({ inputs: [{ name, datatype, shape: [data.length], data }] });
    await expectError(await post("/v2/models/dtypes/infer", echo("x_uint8", "UINT8", [256])), 400, /integer in \[0, 255\]/);
    await expectError(await post("/v2/models/dtypes/infer", echo("x_int32", "INT32", [1.5])), 400, /element 0 is 1.5/);
    await expectError(await post("/v2/models/dtypes/infer", echo("x_bool", "BOOL", [1])), 400, /expected a boolean/);
    await expectError(await post("/v2/models/dtypes/infer", echo("x_bytes", "BYTES", [7])), 400, /expected a string/);
    await expectError(await post("/v2/models/dtypes/infer", echo("x_fp16", "FP16", [70000])), 400, /FP16 range/);
    await expectError(await post("/v2/models/dtypes/infer", echo("x_int64", "INT64", ["9223372036854775808"])), 400, /integer in/);
  });

  it("unknown output or bad output parameters → 400", async () => {
    await expectError(await post("/v2/models/iris/infer", irisRequest(IRIS_ROWS, { outputs: [{ name: "logits" }] })), 400, /unknown output "logits"/);
    await expectError(
      await post("/v2/models/iris/infer", irisRequest(IRIS_ROWS, { outputs: [{ name: "label", parameters: { classification: 2 } }] })),
      400,
      /classification needs a \[batch, classes\] FP32 output/,
    );
  });

  it("a body over the limit → 413, declared or streamed", async () => {
    const big = JSON.stringify(irisRequest(Array.from({ length: 300_000 }, () => IRIS_ROWS[0]!)));
    expect(big.length).toBeGreaterThan(4 << 20);
    await expectError(await post("/v2/models/iris/infer", big), 413, /exceeds the 4194304-byte limit/);
    // No content-length: the limit is enforced while reading the stream.
    const bytes = new TextEncoder().encode(big);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 65536) controller.enqueue(bytes.subarray(i, i + 65536));
        controller.close();
      },
    });
    const res = await SELF.fetch(`${BASE}/v2/models/iris/infer`, { method: "POST", body: stream });
    await expectError(res, 413, /exceeds/);
  });

  it("data nested 200,000 levels deep → 400, not a stack overflow", async () => {
    const nested = (depth: number) => `{"inputs":[{"name":"measurements","datatype":"FP32","shape":[1,4],"data":${"[".repeat(depth)}1${"]".repeat(depth)}}]}`;
    await expectError(await post("/v2/models/iris/infer", nested(200_000)), 400, /malformed JSON: nested more than 128 levels deep/);
    await expectError(await post("/v2/models/iris/infer", nested(100)), 400, /input "measurements": data is nested more than 64 levels deep/);
    // Brackets inside strings are not nesting.
    const text = await post("/v1/predict/iris", `{"instances":[[1,2,3,4]],"note":"${"[".repeat(1000)}"}`);
    expect(text.status, await text.clone().text()).toBe(200);
    // Nested data within the limit is still taken (row-major).
    const rows = await post("/v2/models/iris/infer", input({ data: [[[5.1, 3.5], [1.4, 0.2]]] }));
    expect(rows.status, await rows.clone().text()).toBe(200);
  });

  it("a model name no model can have → 404, whatever its length (never a storage error)", async () => {
    const long = "m".repeat(505);
    await expectError(await post(`/v2/models/${long}/infer`, irisRequest()), 404, /^unknown model "m{64}…" \(model names match/);
    await expectError(await get(`/v2/models/${"%F0%9F%98%80".repeat(128)}`), 404, /unknown model/);
    await expectError(await post(`/v1/predict/${long}`, { instances: [[1, 2, 3, 4]] }), 404, /unknown model/);
  });

  it("an error quotes at most 2 KB of what the client sent", async () => {
    const res = await post("/v2/models/iris/infer", { inputs: [{ name: "x".repeat(100_000), datatype: "FP32", shape: [1, 4], data: [1, 2, 3, 4] }] });
    const text = await res.text();
    expect(res.status).toBe(400);
    expect(text.length).toBeLessThan(2_200);
    expect(text).toMatch(/… \(\d+ characters\)"}$/);
  });

  it("/v1/predict rejects rows of the wrong width and multi-input models", async () => {
    await expectError(await post("/v1/predict/iris", { instances: [[1, 2, 3]] }), 400, /instance 0 has 3 features, the model takes 4/);
    await expectError(await post("/v1/predict/iris", { instances: [] }), 400, /instances/);
    await expectError(await post("/v1/predict/dtypes", { instances: [[1]] }), 400, /single-input models/);
  });

  it("still serves after all of the above", async () => {
    const res = await post("/v2/models/iris/infer", irisRequest());
    expect(res.status).toBe(200);
  });
});

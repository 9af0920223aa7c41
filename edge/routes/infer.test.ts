import { beforeAll, describe, expect, it } from "vitest";
import { IRIS_ROWS, get, irisRequest, post, type InferBody } from "../../test/edge/client";
import { seed } from "../../test/edge/seed";

beforeAll(() => seed());

function probabilities(body: InferBody): number[][] {
  const out = body.outputs.find((o) => o.name === "probabilities")!;
  const [rows = 0, cols = 0] = out.shape;
  return Array.from({ length: rows }, (_, r) => out.data.slice(r * cols, (r + 1) * cols) as number[]);
}

describe("inference on the sample models", () => {
  for (const model of ["iris", "iris-int8"]) {
    it(`${model} classifies the three species`, async () => {
      const res = await post(`/v2/models/${model}/infer`, irisRequest(IRIS_ROWS, { id: "req-42" }), {
        cf: { colo: "AMS" },
      } as RequestInit);
      const body = await res.json<InferBody>();
      expect(res.status, JSON.stringify(body)).toBe(200);
      expect(body).toMatchObject({ model_name: model, model_version: "1", id: "req-42" });
      expect(res.headers.get("x-meridian-pop")).toBe("AMS");
      expect(res.headers.get("x-meridian-backend")).toBe("wasm");
      expect(res.headers.get("x-meridian-model-version")).toBe("1");
      const probs = probabilities(body);
      for (const row of probs) expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      expect(body.outputs.find((o) => o.name === "label")).toMatchObject({ datatype: "INT64", shape: [3], data: [0, 1, 2] });
    });
  }

  it("accepts nested data, a pinned version and an outputs selection", async () => {
    const res = await post("/v2/models/iris/versions/1/infer", {
      inputs: [{ name: "measurements", datatype: "FP32", shape: [3, 4], data: IRIS_ROWS }],
      outputs: [{ name: "label" }],
    });
    const body = await res.json<InferBody>();
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body.outputs).toEqual([{ name: "label", datatype: "INT64", shape: [3], data: [0, 1, 2] }]);
  });

  it("answers the classification extension with labels", async () => {
    const res = await post("/v2/models/iris/infer", irisRequest([IRIS_ROWS[0]!], { outputs: [{ name: "probabilities", parameters: { classification: 2 } }] }));
    const body = await res.json<InferBody>();
    expect(res.status, JSON.stringify(body)).toBe(200);
    const out = body.outputs[0]!;
    expect(out).toMatchObject({ datatype: "BYTES", shape: [1, 2] });
    expect(String(out.data[0])).toMatch(/^0\.\d+:0:setosa$/);
  });

  it("round-trips every datatype through the echo model", async () => {
    const cases: Array<[string, Array<number | string | boolean>]> = [
      ["BOOL", [true, false, true]],
      ["UINT8", [0, 7, 255]],
      ["UINT16", [0, 65535]],
      ["UINT32", [0, 4294967295]],
      ["UINT64", [0, "18446744073709551615", 9007199254740991]],
      ["INT8", [-128, 0, 127]],
      ["INT16", [-32768, 32767]],
      ["INT32", [-2147483648, 2147483647]],
      ["INT64", ["-9223372036854775808", 42, "9223372036854775807"]],
      ["FP16", [0.5, -2, 65504]],
      ["FP32", [1.5, -0.25, 3e38]],
      ["FP64", [Math.PI, -1e300]],
      ["BYTES", ["hello", "", "ünïcode ✓"]],
    ];
    const inputs = cases.map(([dt, data]) => ({ name: `x_${dt.toLowerCase()}`, datatype: dt, shape: [data.length], data }));
    const res = await post("/v2/models/dtypes/infer", { inputs });
    const body = await res.json<InferBody>();
    expect(res.status, JSON.stringify(body)).toBe(200);
    for (const [dt, data] of cases) {
      const out = body.outputs.find((o) => o.name === `y_${dt.toLowerCase()}`)!;
      expect(out.datatype).toBe(dt);
      const expected = data.map((v) => {
        if (dt === "FP32") return Math.fround(v as number);
        // 64-bit integers come back as numbers when they fit in 2^53, as strings otherwise.
        return typeof v === "string" && dt !== "BYTES" && Number.isSafeInteger(Number(v)) ? Number(v) : v;
      });
      expect(out.data, dt).toEqual(expected);
    }
  });

  it("serves plain JSON features on /v1/predict", async () => {
    const res = await post("/v1/predict/iris", { instances: IRIS_ROWS });
    const body = await res.json<{ model_version: string; predictions: Array<{ class: string; probabilities: number[] }> }>();
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body.predictions.map((p) => p.class)).toEqual(["setosa", "versicolor", "virginica"]);
    expect(body.predictions[0]!.probabilities).toHaveLength(3);
  });

  it("names no class when the scores overflow to NaN (inputs at the edge of FP32)", async () => {
    const res = await post("/v1/predict/iris", { instances: [[3.4e38, 3.5, 1.4, 0.2], IRIS_ROWS[0]] });
    const body = await res.json<{ predictions: Array<{ class: string | null; probabilities: Array<number | null> }> }>();
    expect(res.status).toBe(200);
    expect(body.predictions[0]!.probabilities).toEqual([null, null, null]); // JSON has no NaN
    expect(body.predictions.map((p) => p.class)).toEqual([null, "setosa"]);
  });
});

describe("session caching", () => {
  it("loads a model once per isolate, however many requests use it", async () => {
    const loads = async () => (await (await get("/v2/health/ready")).json<{ sessions: { loads: number; keys: string[] } }>()).sessions;
    await post("/v2/models/iris/infer", irisRequest());
    const before = await loads();
    expect(before.keys.some((k) => k.startsWith("iris@1#"))).toBe(true);
    const results = await Promise.all(Array.from({ length: 10 }, () => post("/v2/models/iris/infer", irisRequest())));
    expect(results.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect((await loads()).loads).toBe(before.loads);
  });
});

describe("metadata and readiness", () => {
  it("describes a model per the OIP metadata schema", async () => {
    const res = await get("/v2/models/iris");
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      name: "iris",
      versions: ["1"],
      platform: "onnxruntime_onnx",
      inputs: [{ name: "measurements", datatype: "FP32", shape: [-1, 4] }],
      outputs: [
        { name: "probabilities", datatype: "FP32", shape: [-1, 3] },
        { name: "label", datatype: "INT64", shape: [-1] },
      ],
    });
    expect((await get("/v2/models/iris/versions/1")).status).toBe(200);
  });

  it("reports a model ready after loading it", async () => {
    for (const path of ["/v2/models/iris-int8/ready", "/v2/models/iris-int8/versions/1/ready"]) {
      const res = await get(path);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ name: "iris-int8", version: "1", ready: true });
    }
  });
});

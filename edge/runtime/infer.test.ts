// Whose fault a failed model run is: inputs that pass every manifest check but break a constraint
// of the graph are the client's (400); a model that fails on any input is the server's (500,
// counted in /v2/health/ready).
import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { encodeModel, graph, int64Tensor, node, valueInfo } from "../../shared/onnx/build";
import { manifestFor, type ManifestOptions } from "../../shared/onnx/manifest";
import { get, post } from "../../test/edge/client";
import { admin, seed } from "../../test/edge/seed";

/** y = a + b with a, b both [-1, 4]: the batch sizes must agree, which no manifest can say. */
const pairModel = () =>
  encodeModel(graph({ name: "pair", nodes: [node("Add", ["a", "b"], ["y"])], inputs: [valueInfo("a", "FP32", [-1, 4]), valueInfo("b", "FP32", [-1, 4])], outputs: [valueInfo("y", "FP32", [-1, 4])] }));

/** Reshapes [-1, 4] to [7]: loads fine, fails on every input (4·n is never 7). */
const brokenModel = () =>
  encodeModel(
    graph({
      name: "broken",
      nodes: [node("Reshape", ["x", "target"], ["y"])],
      inputs: [valueInfo("x", "FP32", [-1, 4])],
      outputs: [valueInfo("y", "FP32", [7])],
      initializers: [int64Tensor("target", [1], [7])],
    }),
  );

async function publish(name: string, bytes: Uint8Array, serving?: ManifestOptions["serving"]): Promise<void> {
  const manifest = await manifestFor(bytes, { name, version: 1, quantization: "none", serving });
  await admin().publish(manifest, bytes, env.TEST_SIGNING_KEY, { promote: true });
}

const tensor = (name: string, rows: number) => ({ name, datatype: "FP32", shape: [rows, 4], data: new Array(rows * 4).fill(1) });

beforeAll(async () => {
  await seed(["iris"]);
  await publish("pair", pairModel());
  // The generated warm-up would refuse it at publish (warmup.test.ts); with none it is served.
  await publish("broken", brokenModel(), { warmup: [] });
});

describe("a failed run", () => {
  it("inputs the graph refuses (batch sizes that disagree) → 400 naming the runtime's reason", async () => {
    const ok = await post("/v2/models/pair/infer", { inputs: [tensor("a", 2), tensor("b", 2)] });
    expect(ok.status, await ok.clone().text()).toBe(200);
    const res = await post("/v2/models/pair/infer", { inputs: [tensor("a", 2), tensor("b", 3)] });
    expect(res.status).toBe(400);
    expect((await res.json<{ error: string }>()).error).toMatch(/^the model rejected the inputs: .*broadcast/);
  });

  it("a model that fails on any input → 500, counted as a server fault", async () => {
    const before = (await (await get("/v2/health/ready")).json<{ faults: { total: number; byKind: Record<string, number> } }>()).faults;
    const res = await post("/v2/models/broken/infer", { inputs: [tensor("x", 1)] });
    expect(res.status).toBe(500);
    expect((await res.json<{ error: string }>()).error).toMatch(/^running model "broken" version 1 failed: /);
    const after = (await (await get("/v2/health/ready")).json<{ faults: { total: number; byKind: Record<string, number> } }>()).faults;
    expect(after.total).toBe(before.total + 1);
    expect(after.byKind.InferenceFailed).toBe((before.byKind.InferenceFailed ?? 0) + 1);
  });

  it("the isolate still serves afterwards", async () => {
    const res = await post("/v2/models/iris/infer", { inputs: [{ name: "measurements", datatype: "FP32", shape: [1, 4], data: [5.1, 3.5, 1.4, 0.2] }] });
    expect(res.status).toBe(200);
  });
});

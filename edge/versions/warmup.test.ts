// Warm-up and readiness: a version serves only after its warm-up requests ran (the manifest's, or
// one generated from its inputs); a version whose warm-up fails is refused at publish time with the
// reason, and the version serving before stays.
import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { Manifest } from "../../shared/manifest";
import { encodeModel, graph, int64Tensor, node, valueInfo } from "../../shared/onnx/build";
import { manifestFor } from "../../shared/onnx/manifest";
import { get } from "../../test/edge/client";
import { admin, expectAdminError, seed } from "../../test/edge/seed";
import { lookupModel } from "../../test/edge/models";

beforeAll(() => seed([]));

async function publish(name: string, bytes: Uint8Array, extra: Partial<Manifest> = {}, promote = true): Promise<Manifest> {
  const m = await manifestFor(bytes, { name, version: 1, quantization: "none" });
  return admin().publish({ ...m, ...extra }, bytes, env.TEST_SIGNING_KEY, { promote });
}

const warmup = (idx: number[]) => ({ inputs: [{ name: "idx", datatype: "INT64" as const, shape: [idx.length], data: idx }] });

describe("warm-up and readiness", () => {
  it("is ready only once its warm-up requests ran, and says how many", async () => {
    await publish("warm-manifest", lookupModel(), { serving: { warmup: [warmup([0, 1]), warmup([2])] } });
    const res = await get("/v2/models/warm-manifest/ready");
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ ready: true, warmup: { requests: 2 } });
    await publish("warm-generated", lookupModel());
    expect(await (await get("/v2/models/warm-generated/ready")).json()).toMatchObject({ ready: true, warmup: { requests: 1 } });
  });

  it("refuses a version whose manifest warm-up fails, naming the request and the reason; the serving version stays", async () => {
    const v1 = await publish("warm-fails", lookupModel());
    await expectAdminError(publish("warm-fails", lookupModel(), { serving: { warmup: [warmup([1]), warmup([9])] } }), 400, /warm-up request 2 of the manifest failed: .*out of .*bounds/i);
    await expectAdminError(publish("warm-fails", lookupModel(), { serving: { warmup: [{ inputs: [{ name: "index", datatype: "INT64", shape: [1], data: [0] }] }] } }), 400, /warm-up request 1 of the manifest failed: it has no input "idx"/);
    await expectAdminError(publish("warm-fails", lookupModel(), { serving: { warmup: [warmup([1.5])] } }), 400, /warm-up request 1 of the manifest failed: .*element 0 is 1.5/);
    expect(await admin().model("warm-fails")).toMatchObject({ serving: v1.version });
    expect((await get("/v2/models/warm-fails/ready")).status).toBe(200);
  });

  it("refuses a model that fails its generated warm-up (zeros, every dynamic dimension 1)", async () => {
    // Reshape of [n, 4] to [7] fails for every n.
    const bytes = encodeModel(
      graph({
        name: "never",
        nodes: [node("Reshape", ["x", "target"], ["y"])],
        inputs: [valueInfo("x", "FP32", ["batch", 4])],
        outputs: [valueInfo("y", "FP32", [7])],
        initializers: [int64Tensor("target", [1], [7])],
      }),
    );
    await expectAdminError(publish("warm-never", bytes), 400, /the generated warm-up request \(zeros, every dynamic dimension 1\) failed: .*reshape/i);
    expect(await admin().model("warm-never")).toBeNull();
  });
});

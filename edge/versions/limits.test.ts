// The model-size ceiling at publish time: a model over MAX_MODEL_BYTES (1.5 MiB here, from
// vitest.config.mts; MAX_ARTIFACT_BYTES is 2 MiB) is refused at upload and at registration with
// both sizes named, before anything is stored or loaded, and the serving version stays.
import { SELF, env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { sha256Hex } from "../../shared/hash";
import { grouped } from "../../shared/limits";
import { manifestFor } from "../../shared/onnx/manifest";
import { buildMlpFp32, mlpWeights } from "../../shared/onnx/mlp";
import { BASE, irisRequest, post } from "../../test/edge/client";
import { admin, expectAdminError, fixture, seed } from "../../test/edge/seed";
import { artifactKey } from "./artifacts";

const LIMIT = 3 << 19;

beforeAll(() => seed(["iris"]));

describe("GET /admin/limits", () => {
  it("reports the edge's limits behind the admin token", async () => {
    expect(await admin().limits()).toEqual({ maxModelBytes: LIMIT, maxArtifactBytes: 2 << 20, maxBodyBytes: 4 << 20 });
    expect((await SELF.fetch(`${BASE}/admin/limits`)).status).toBe(401);
  });
});

describe("a model over MAX_MODEL_BYTES", () => {
  it("is refused at upload and at registration, naming both sizes, and the served version stays", async () => {
    const client = admin();
    const base = fixture("iris");
    await client.publish({ ...base.manifest, name: "bulky" }, base.bytes, env.TEST_SIGNING_KEY, { promote: true });
    const before = await client.model("bulky");

    // 784-512-10 in fp32: about 1.6 MB, over the 1.5 MiB ceiling and under the 2 MiB upload cap.
    const bytes = buildMlpFp32({ layers: mlpWeights([784, 512, 10], 3), input: "pixels", output: "probabilities" });
    expect(bytes.byteLength).toBeGreaterThan(LIMIT);
    expect(bytes.byteLength).toBeLessThan(2 << 20);
    const refusal = new RegExp(`^model is ${grouped(bytes.byteLength)} bytes; a PoP serves models up to ${grouped(LIMIT)} bytes \\(MAX_MODEL_BYTES: `);
    const manifest = await manifestFor(bytes, { name: "bulky", version: 1, quantization: "none" });

    await expectAdminError(client.uploadArtifact(manifest.sha256, bytes, bytes.byteLength), 413, refusal);
    expect(await env.ARTIFACTS.head(artifactKey(manifest.sha256))).toBeNull();

    // Bytes that reached storage anyway (uploaded under a higher limit) are refused before loading.
    await env.ARTIFACTS.put(artifactKey(manifest.sha256), bytes, { sha256: await sha256Hex(bytes) });
    await expectAdminError(client.register(manifest, env.TEST_SIGNING_KEY), 413, refusal);

    expect(await client.model("bulky")).toEqual(before);
    const res = await post("/v2/models/bulky/infer", irisRequest());
    expect(res.status, await res.clone().text()).toBe(200);
    expect(res.headers.get("x-meridian-model-version")).toBe("1");
    const { events } = await client.history("bulky");
    expect(events.map((e) => e.action)).toEqual(["push", "promote"]);
  });
});

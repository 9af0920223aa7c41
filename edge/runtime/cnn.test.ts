// A CNN served by the edge: the int8 graph the trainer exports for `--arch cnn` (QLinearConv,
// MaxPool on uint8, QLinearMatMul; built by shared/onnx/cnn.ts with seeded weights in the test
// setup) is published through the admin API and answers an OIP v2 infer on MNIST digits with what
// onnxruntime-node computed for the same bytes in Node.
import { env } from "cloudflare:test";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { manifestFor } from "../../shared/onnx/manifest";
import { get, post, type InferBody } from "../../test/edge/client";
import { admin, seed } from "../../test/edge/seed";

const cnn = inject("cnn");
const bytes = Uint8Array.from(atob(cnn.onnx), (ch) => ch.charCodeAt(0));
const DIGITS = Array.from({ length: 10 }, (_, i) => String(i));

beforeAll(async () => {
  await seed([]);
  const manifest = await manifestFor(bytes, { name: "mnist-cnn-int8", version: 1, quantization: "int8-qlinear", labels: { probabilities: DIGITS } });
  await admin().publish(manifest, bytes, env.TEST_SIGNING_KEY, { promote: true });
});

describe("an int8 CNN on the edge", () => {
  it("the manifest declares the MLP's MNIST input: features FP32 [-1, 784]", async () => {
    const meta = await (await get("/v2/models/mnist-cnn-int8")).json<{ inputs: unknown[] }>();
    expect(meta.inputs).toEqual([{ name: "features", datatype: "FP32", shape: [-1, 784] }]);
  });

  it("answers OIP v2 infer like onnxruntime-node (1e-5), with the same classes", async () => {
    const res = await post("/v2/models/mnist-cnn-int8/infer", { inputs: [{ name: "features", datatype: "FP32", shape: [cnn.rows, 784], data: cnn.x }] });
    expect(res.status, await res.clone().text()).toBe(200);
    const body = await res.json<InferBody>();
    const probs = body.outputs.find((o) => o.name === "probabilities")!;
    const label = body.outputs.find((o) => o.name === "label")!;
    expect(probs.shape).toEqual([cnn.rows, 10]);
    let worst = 0;
    (probs.data as number[]).forEach((p, i) => (worst = Math.max(worst, Math.abs(p - cnn.probabilities[i]!))));
    expect(worst).toBeLessThan(1e-5);
    expect(label.data).toEqual(cnn.labels);
    // and the int8 graph stays near the fp32 reference forward pass
    let fromFp32 = 0;
    (probs.data as number[]).forEach((p, i) => (fromFp32 = Math.max(fromFp32, Math.abs(p - cnn.fp32[i]!))));
    expect(fromFp32).toBeLessThan(0.1);
  });
});

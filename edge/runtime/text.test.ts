// Text models at the edge: raw text (OIP BYTES or /v1/predict strings) is featurized inside workerd
// by the same shared code the trainer ran in Node, and the two produce identical features.
import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { featurizerFor } from "../../shared/featurize";
import { signManifest } from "../../shared/signing";
import { get, post, type InferBody } from "../../test/edge/client";
import { admin, expectAdminError, fixture, seed } from "../../test/edge/seed";

beforeAll(() => seed(["iris", "spam", "spam-int8"]));

const { preprocessing, cases } = inject("textFeatures");
const nodeFeatures = (b64: string) => new Float32Array(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)).buffer);
const SPAM = "Congratulations!!! You have WON $1,000,000 cash. Click here to claim your FREE prize now $$$";
const HAM = "Hi Tom, the meeting about the kernel patch review moved to Thursday at 10am. See you there, Anna";

async function ok<T>(res: Response): Promise<T> {
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as T;
}

const textInput = (texts: unknown[], shape: number[] = [texts.length]) => ({
  inputs: [{ name: "features", datatype: "BYTES", shape, data: texts }],
});

describe("featurizer parity: workerd vs the trainer in Node", () => {
  it(`gives byte-identical features for ${cases.length} texts (Unicode, surrogates, past maxChars, emails)`, () => {
    const edge = featurizerFor(preprocessing);
    for (const { text, features } of cases) {
      const want = nodeFeatures(features);
      const got = edge(text);
      expect(got.length).toBe(want.length);
      const differs = got.findIndex((v, i) => !Object.is(v, want[i]));
      expect(differs, `first differing feature for ${JSON.stringify(text.slice(0, 40))}`).toBe(-1);
    }
  });

  it("raw text through the route gives exactly the outputs of the Node-computed features", async () => {
    const texts = cases.slice(0, 12).map((c) => c.text);
    const features = texts.flatMap((t) => Array.from(nodeFeatures(cases.find((c) => c.text === t)!.features)));
    for (const model of ["spam", "spam-int8"]) {
      const raw = await ok<InferBody>(await post(`/v2/models/${model}/infer`, textInput(texts)));
      const dense = await ok<InferBody>(
        await post(`/v2/models/${model}/infer`, { inputs: [{ name: "features", datatype: "FP32", shape: [texts.length, 4096], data: features }] }),
      );
      expect(raw.outputs, model).toEqual(dense.outputs);
    }
  });
});

describe("raw text predictions", () => {
  it("OIP: BYTES [n] and [n, 1] both work and classify spam and ham", async () => {
    for (const shape of [[2], [2, 1]]) {
      const body = await ok<InferBody>(await post("/v2/models/spam/infer", textInput([SPAM, HAM], shape)));
      expect(body.outputs.find((o) => o.name === "label")!.data).toEqual([1, 0]);
      const probs = body.outputs.find((o) => o.name === "probabilities")!;
      expect(probs.shape).toEqual([2, 2]);
    }
  });

  it("/v1/predict takes strings and names the class", async () => {
    const res = await post("/v1/predict/spam-int8", { instances: [SPAM, HAM] });
    const body = await ok<{ predictions: Array<{ class: string; probabilities: number[] }> }>(res);
    expect(body.predictions.map((p) => p.class)).toEqual(["spam", "ham"]);
    expect(res.headers.get("x-meridian-model-version")).toBe("1");
  });

  it("metadata names the featurizer", async () => {
    const body = await ok<{ inputs: unknown[]; properties: Record<string, unknown> }>(await get("/v2/models/spam"));
    expect(body.inputs).toEqual([{ name: "features", datatype: "FP32", shape: [-1, 4096] }]);
    expect(body.properties.preprocessing).toEqual(preprocessing);
  });
});

describe("bad text input: 4xx naming the problem", () => {
  const cases: Array<[string, string, unknown, number, RegExp]> = [
    ["BYTES rank 2 with width 2", "spam", textInput(["a", "b", "c", "d"], [2, 2]), 400, /raw text goes as BYTES \[n\] or \[n, 1\].*not \[2, 2\]/],
    ["BYTES with a number", "spam", textInput(["fine", 42]), 400, /input "features": element 1 is 42, expected a string/],
    ["BYTES length vs shape", "spam", textInput(["a", "b"], [3]), 400, /data has 2 elements, shape \[3\] needs 3/],
    ["BYTES to a model without text preprocessing", "iris", { inputs: [{ name: "measurements", datatype: "BYTES", shape: [1], data: ["x"] }] }, 400, /datatype BYTES does not match the model's FP32$/],
    ["INT32 to a text model", "spam", { inputs: [{ name: "features", datatype: "INT32", shape: [1, 4096], data: new Array(4096).fill(0) }] }, 400, /datatype INT32 does not match the model's FP32 \(features\) or BYTES \(raw text\)/],
    ["more texts than the feature budget", "spam", textInput(new Array(2049).fill("")), 413, /2049 texts are more than this model takes in one request \(2048: 4096 features each, 32 MiB in all\)/],
  ];
  for (const [what, model, body, status, pattern] of cases) {
    it(what, async () => {
      const res = await post(`/v2/models/${model}/infer`, body);
      expect(res.status).toBe(status);
      expect(((await res.json()) as { error: string }).error).toMatch(pattern);
    });
  }

  it("/v1/predict: mixed text and features, and text to a feature model", async () => {
    const mixed = await post("/v1/predict/spam", { instances: [SPAM, [0.1, 0.2]] });
    expect(mixed.status).toBe(400);
    expect(((await mixed.json()) as { error: string }).error).toMatch(/instance 0 is text but others are features/);
    const iris = await post("/v1/predict/iris", { instances: ["some text"] });
    expect(iris.status).toBe(400);
    expect(((await iris.json()) as { error: string }).error).toMatch(/instance 0 is a string, but "iris" takes FP32 features \(it has no text preprocessing\)/);
  });
});

describe("publishing a text model checks its featurizer", () => {
  async function register(preprocessing: { id: string; params: Record<string, unknown> }) {
    const { manifest, bytes } = fixture("spam");
    const client = admin();
    await client.uploadArtifact(manifest.sha256, bytes, bytes.byteLength);
    return client.register({ ...manifest, name: "spam-refused", preprocessing }, env.TEST_SIGNING_KEY);
  }

  it("refuses an unknown featurizer and a width that does not fit the input; nothing is registered", async () => {
    await expectAdminError(register({ id: "hashed-bow-v9", params: {} }), 400, /manifest preprocessing: unknown featurizer "hashed-bow-v9" \(known: hashed-bow-v1\)/);
    await expectAdminError(
      register({ id: "hashed-bow-v1", params: { ...preprocessing.params, dimensions: 1024 } }),
      400,
      /preprocessing hashed-bow-v1 writes FP32 \[-1, 1024\], but input "features" is FP32 \[-1, 4096\]/,
    );
    await expectAdminError(register({ id: "hashed-bow-v1", params: { bogus: 1 } }), 400, /hashed-bow-v1 params: .*bogus/);
    expect(await admin().model("spam-refused")).toBeNull();
  });

  it("a signed manifest is what the edge verifies: the featurizer cannot be swapped after signing", async () => {
    const { manifest } = fixture("spam");
    const signature = await signManifest({ ...manifest, name: "spam-refused" }, env.TEST_SIGNING_KEY);
    const tampered = { ...manifest, name: "spam-refused", preprocessing: { id: "hashed-bow-v1", params: { ...preprocessing.params, ngram: 2 } } };
    await expectAdminError(admin().call("POST", "/admin/models/spam-refused/versions", { manifest: tampered, signature }), 400, /signature .* does not verify/);
  });
});

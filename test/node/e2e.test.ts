// A real `wrangler dev` on a free port: smoke test over HTTP, and parity of the Worker's
// onnxruntime-web outputs with onnxruntime-node on the same model bytes.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ortNode from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { irisData } from "../../dev/samples/iris";
import { normalRows } from "../../shared/random";
import { buildFixtureModels, type FixtureModel } from "../../dev/samples/index";
import { startSeeded, type DevServer } from "../../dev/local";
import { featurizeBatch, featurizerFor } from "../../shared/featurize";
import { generateKeyPair } from "../../shared/signing";
import { TRICKY_TEXTS, heldOutEmails } from "../setup/texts";
import { MeridianClient } from "../../client";

let server: DevServer;
let client: MeridianClient;
let models: FixtureModel[];
const state = mkdtempSync(join(tmpdir(), "meridian-e2e-"));

beforeAll(async () => {
  models = await buildFixtureModels();
  const keys = await generateKeyPair();
  server = await startSeeded({ stateDir: state, credentials: { adminToken: "e2e-token", ...keys } });
  // No retries: a failure here should show as it happened.
  client = new MeridianClient({ baseUrl: server.url, retry: { maxAttempts: 1 } });
}, 120_000);

afterAll(async () => {
  await server?.stop();
  rmSync(state, { recursive: true, force: true });
});

/** The Worker's outputs over HTTP (OIP JSON by default, binary tensors when asked). */
async function inferHttp(model: string, input: string, rows: Float32Array, width: number, encoding: "json" | "binary" = "json") {
  const { result } = await client.infer(model, {
    inputs: [{ name: input, datatype: "FP32", shape: [rows.length / width, width], values: rows }],
    encoding,
    binaryOutputs: encoding === "binary",
  });
  return { probabilities: result.output("probabilities").values as Float32Array, label: result.output("label").values as BigInt64Array };
}

async function inferNode(model: string, input: string, rows: Float32Array, width: number) {
  const m = models.find((f) => f.manifest.name === model)!;
  // x64quantprecision: on x64 without VNNI, MLAS's fast u8s8 kernel sums pairs of products in
  // saturating 16-bit lanes (vpmaddubsw), which moves mlp784-int8's outputs by up to 0.018; the
  // precise kernel, like WebAssembly's, accumulates in 32 bits.
  const session = await ortNode.InferenceSession.create(Buffer.from(m.onnx, "base64"), { intraOpNumThreads: 1, extra: { session: { x64quantprecision: "1" } } });
  try {
    return await session.run({ [input]: new ortNode.Tensor("float32", rows, [rows.length / width, width]) });
  } finally {
    await session.release();
  }
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

const argmaxRows = (p: ArrayLike<number>, cols: number) =>
  Array.from({ length: p.length / cols }, (_, r) => {
    let best = 0;
    for (let c = 1; c < cols; c++) if (p[r * cols + c]! > p[r * cols + best]!) best = c;
    return best;
  });

describe("wrangler dev smoke test", () => {
  it("answers health, metadata and a prediction over real HTTP", async () => {
    expect(await client.live()).toBe(true);
    expect(await client.server()).toMatchObject({ name: "meridian" });
    const answer = await client.predict("iris", [[5.1, 3.5, 1.4, 0.2]]);
    expect(answer.backend).toBe("wasm");
    expect(answer.pop).toBeTruthy();
    expect(answer).toMatchObject({ model_name: "iris", predictions: [{ class: "setosa" }] });
  });
});

describe("dynamic batching over real HTTP", () => {
  it("2,400 binary requests arriving at 800/s all answer 200 with the rows they would get alone, mostly from shared runs", async () => {
    // workerd cancels as hung a request that waits on another request's promise (a batch's opener
    // running it): before every waiter kept its own timer, some runs of this answered up to 6% 500s.
    const rows = Array.from({ length: 8 }, (_, i) => normalRows(1, 784, 700 + i));
    // Retries cover connections a loaded machine drops (UND_ERR_SOCKET); a 500 is never retried.
    const retrying = new MeridianClient({ baseUrl: server.url, retry: { maxAttempts: 3 } });
    const send = (i: number) =>
      retrying.infer("mlp784", { inputs: [{ name: "pixels", datatype: "FP32", shape: [1, 784], values: rows[i % rows.length]! }], outputs: [{ name: "probabilities" }], encoding: "binary", binaryOutputs: true });
    const alone = [];
    for (let i = 0; i < rows.length; i++) alone.push((await send(i)).result.output("probabilities").values);
    const sent: Array<Promise<{ batchRows: number | null; probabilities?: unknown; error?: string }>> = [];
    const t0 = performance.now();
    for (let i = 0; i < 2400; i++) {
      const wait = t0 + i * 1.25 - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      sent.push(send(i).then((a) => ({ batchRows: a.batchRows, probabilities: a.result.output("probabilities").values }), (err: Error) => ({ batchRows: null, error: err.message })));
    }
    const answers = await Promise.all(sent);
    expect(answers.filter((a) => a.error).slice(0, 3)).toEqual([]);
    for (const [i, a] of answers.entries()) expect(a.probabilities, `request ${i}`).toEqual(alone[i % rows.length]);
    const shared = answers.filter((a) => a.batchRows! > 1).length;
    expect(shared / answers.length, "share of requests answered from a run they shared").toBeGreaterThan(0.5);
  });
});

describe("parity with onnxruntime-node", () => {
  const iris = irisData();
  const mnistLike = normalRows(64, 784, 99);

  it("fp32 outputs agree within 1e-5 (iris, 150 rows; mlp784, 64 rows), as JSON and as binary tensors", async () => {
    for (const [model, input, rows, width] of [
      ["iris", "measurements", iris.x, 4],
      ["mlp784", "pixels", mnistLike, 784],
    ] as const) {
      const native = await inferNode(model, input, rows, width);
      for (const encoding of ["json", "binary"] as const) {
        const web = await inferHttp(model, input, rows, width, encoding);
        expect(maxAbsDiff(web.probabilities, native.probabilities!.data as Float32Array), `${model} ${encoding}`).toBeLessThan(1e-5);
        expect(web.label).toEqual(native.label!.data as BigInt64Array);
      }
    }
  });

  it("int8 in the Worker matches int8 in onnxruntime-node and keeps the fp32 class", async () => {
    for (const [model, input, rows, width, classes, minAgreement] of [
      ["iris", "measurements", iris.x, 4, 3, 0.98],
      ["mlp784", "pixels", mnistLike, 784, 10, 0.95],
    ] as const) {
      const web8 = (await inferHttp(`${model}-int8`, input, rows, width)).probabilities;
      const native8 = (await inferNode(`${model}-int8`, input, rows, width)).probabilities!.data as Float32Array;
      expect(maxAbsDiff(web8, native8), `${model}-int8 web vs native`).toBeLessThan(1e-5);
      const native32 = (await inferNode(model, input, rows, width)).probabilities!.data as Float32Array;
      const a = argmaxRows(web8, classes);
      const b = argmaxRows(native32, classes);
      const agreement = a.filter((k, i) => k === b[i]).length / a.length;
      expect(agreement, `${model}: int8 vs fp32 top-1 agreement`).toBeGreaterThanOrEqual(minAgreement);
    }
  });

  it("raw text: the Worker's featurizer + model equal the trainer's featurizer + onnxruntime-node", async () => {
    const emails = heldOutEmails(60);
    const texts = [...TRICKY_TEXTS, ...emails.map((e) => e.text)];
    for (const model of ["spam", "spam-int8"]) {
      const web = (await client.predict(model, texts)).predictions as Array<{ probabilities: number[]; class: string }>;
      const { manifest } = models.find((f) => f.manifest.name === model)!;
      const features = featurizeBatch(featurizerFor(manifest.preprocessing!), texts);
      const native = (await inferNode(model, "features", features, 4096)).probabilities!.data as Float32Array;
      expect(maxAbsDiff(web.flatMap((p) => p.probabilities), native), model).toBeLessThan(1e-5);
      const held = web.slice(TRICKY_TEXTS.length);
      const correct = held.filter((p, i) => (p.class === "spam") === emails[i]!.spam).length;
      expect(correct / held.length, `${model} held-out accuracy`).toBeGreaterThanOrEqual(0.93);
    }
  });

  it("GET /metrics after real traffic is an exposition promtool accepts, with the counts sent", async () => {
    const scrape = async () => {
      const res = await fetch(`${server.url}/metrics`, { headers: { authorization: "Bearer e2e-token" } });
      expect(res.status).toBe(200);
      return res.text();
    };
    const ok = (text: string) => Number(/meridian_inference_requests_total\{pop="[^"]*",model="iris",version="1",variant="stable",route="local",outcome="success"\} (\d+)/.exec(text)?.[1] ?? 0);
    const before = ok(await scrape());
    for (let i = 0; i < 5; i++) await inferHttp("iris", "measurements", Float32Array.of(5.1, 3.5, 1.4, 0.2), 4);
    const text = await scrape();
    // The scrape reached the isolate that served (wrangler dev runs one), which sends its counts first.
    expect(ok(text) - before).toBe(5);
    const check = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
    if (check.error) throw new Error(`promtool is needed (apt-get install prometheus): ${check.error.message}`);
    expect(check.status, `${check.stdout}${check.stderr}`).toBe(0);
  });
});

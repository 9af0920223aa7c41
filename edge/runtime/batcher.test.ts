// Dynamic batching inside workerd: concurrent requests merge into one run, each request gets its
// own rows bit for bit as if it had run alone, and its own error when its inputs fail the run.
import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { Serving } from "../../shared/manifest";
import { encodeModel, graph, node, valueInfo } from "../../shared/onnx/build";
import { manifestFor } from "../../shared/onnx/manifest";
import { normalRows } from "../../shared/random";
import { inferBinary, outputBytes, post } from "../../test/edge/client";
import { admin, fixture, seed } from "../../test/edge/seed";
import { lookupModel } from "../../test/edge/models";
import { Batcher, type Feeds } from "./batcher";
import { ort } from "./ort";

beforeAll(() => seed([]));

async function publishAs(name: string, base: string, serving: Serving): Promise<void> {
  const { manifest, bytes } = fixture(base);
  await admin().publish({ ...manifest, name, serving }, bytes, env.TEST_SIGNING_KEY, { promote: true });
}

const pixels = (rows: number, seed: number) => ({ name: "pixels", datatype: "FP32" as const, shape: [rows, 784], values: normalRows(rows, 784, seed) });
const rowsOf = (res: Response) => Number(res.headers.get("x-meridian-batch-rows"));

describe("dynamic batching", () => {
  it("merges concurrent requests into one run; each gets exactly the rows it would get alone", async () => {
    await publishAs("mlp-batched", "mlp784", { batching: { maxBatchSize: 64, maxQueueDelayMs: 25 } });
    await publishAs("mlp-plain", "mlp784", {});
    const inputs = Array.from({ length: 12 }, (_, i) => pixels(1 + (i % 3), 500 + i));
    const alone = [];
    for (const x of inputs) alone.push(await inferBinary("/v2/models/mlp-batched/infer", [x]));
    for (const [i, a] of alone.entries()) expect(rowsOf(a.res), "one at a time, each runs alone").toBe(inputs[i]!.shape[0]);
    const unbatched = await Promise.all(inputs.map((x) => inferBinary("/v2/models/mlp-plain/infer", [x])));
    expect(unbatched[0]!.res.headers.get("x-meridian-batch-rows")).toBeNull();

    const together = await Promise.all(inputs.map((x) => inferBinary("/v2/models/mlp-batched/infer", [x])));
    const merged = together.filter((t, i) => rowsOf(t.res) > inputs[i]!.shape[0]!);
    expect(merged.length, "concurrent requests shared runs").toBeGreaterThan(0);
    for (const [i, t] of together.entries()) {
      for (const out of ["probabilities", "label"]) {
        expect(outputBytes(t.result, out), `request ${i} ${out}`).toEqual(outputBytes(alone[i]!.result, out));
        expect(outputBytes(t.result, out), `request ${i} ${out} vs the model without batching`).toEqual(outputBytes(unbatched[i]!.result, out));
      }
      expect(t.result.outputs.find((o) => o.name === "probabilities")!.shape).toEqual([inputs[i]!.shape[0], 10]);
    }
  });

  it("runs a batch as soon as it reaches a preferred size or the largest, without waiting out the delay", async () => {
    await publishAs("mlp-preferred", "mlp784", { batching: { maxBatchSize: 6, maxQueueDelayMs: 100, preferredBatchSizes: [4] } });
    const four = await Promise.all(Array.from({ length: 8 }, (_, i) => inferBinary("/v2/models/mlp-preferred/infer", [pixels(1, 900 + i)])));
    expect(four.map((t) => rowsOf(t.res))).toEqual(Array(8).fill(4));
    // 3 + 3 reach the largest batch (6); the next 3 would pass it, so they start the next batch.
    const six = await Promise.all(Array.from({ length: 3 }, (_, i) => inferBinary("/v2/models/mlp-preferred/infer", [pixels(3, 950 + i)])));
    expect(six.map((t) => rowsOf(t.res)).sort()).toEqual([3, 6, 6]);
  });

  it("gives each request its own error: one bad request does not fail the others it was merged with", async () => {
    const bytes = lookupModel();
    const m = await manifestFor(bytes, { name: "lookup", version: 1, quantization: "none" });
    await admin().publish({ ...m, serving: { batching: { maxBatchSize: 16, maxQueueDelayMs: 25 } } }, bytes, env.TEST_SIGNING_KEY, { promote: true });
    const send = (idx: number[]) => post("/v2/models/lookup/infer", { inputs: [{ name: "idx", datatype: "INT64", shape: [idx.length], data: idx }] });
    const answers = await Promise.all([send([0]), send([2, 1]), send([7]), send([1])]);
    expect(answers.map((r) => r.status)).toEqual([200, 200, 400, 200]);
    const values = await Promise.all(answers.map((r) => r.json<{ outputs?: Array<{ data: number[] }>; error?: string }>()));
    expect(values.map((v) => v.outputs?.[0]?.data ?? v.error)).toEqual([[10], [30, 20], expect.stringMatching(/the model rejected the inputs: .*out of .*bounds/i), [20]]);
  });

  it("refuses batching settings for a model whose first dimension is not the batch", async () => {
    const bytes = encodeModel(graph({ name: "pair", nodes: [node("Identity", ["x"], ["y"])], inputs: [valueInfo("x", "FP32", [2, 3])], outputs: [valueInfo("y", "FP32", [2, 3])] }));
    const m = await manifestFor(bytes, { name: "pair", version: 1, quantization: "none" });
    await expect(admin().publish({ ...m, serving: { batching: { maxBatchSize: 8, maxQueueDelayMs: 1 } } }, bytes, env.TEST_SIGNING_KEY, { promote: true })).rejects.toThrow(
      /serving.batching needs every input and output to have the batch as its first, dynamic dimension; "x" has shape \[2, 3\]/,
    );
  });

  describe("waiting for company", () => {
    const one = (v: number): Feeds => ({ x: new ort.Tensor("float32", Float32Array.of(v), [1, 1]) });
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    /** A batcher on a fake clock whose runs echo their input and record their rows. */
    function batcher(delayMs: number) {
      const clock = { t: 0 };
      const runs: number[] = [];
      const b = new Batcher(async (feeds) => (runs.push(feeds.x!.dims[0]!), { y: feeds.x! }), { maxBatchSize: 8, maxQueueDelayMs: delayMs, preferredBatchSizes: [] }, () => clock.t);
      return { b, clock, runs };
    }

    it("runs at once when the arrival rate says no other request will come within the delay", async () => {
      const { b, clock, runs } = batcher(200);
      for (let i = 0; i < 4; i++) {
        clock.t += 1_000; // one a second: 0.2 expected within 200 ms
        await b.run(one(i), ["y"]);
      }
      clock.t += 1_000;
      let done = false;
      const first = b.run(one(10), ["y"]).then((r) => ((done = true), r));
      await sleep(30);
      expect(done, "answered well before the 200 ms delay").toBe(true);
      const second = await b.run(one(11), ["y"]); // lonely too: a run of its own
      expect(Array.from((await first).outputs.y!.data as Float32Array)).toEqual([10]);
      expect(Array.from(second.outputs.y!.data as Float32Array)).toEqual([11]);
      expect(runs.slice(4)).toEqual([1, 1]);
    });

    it("waits out the delay when requests come often enough to share a run", async () => {
      const { b, clock, runs } = batcher(200);
      for (let i = 0; i < 4; i++) {
        clock.t += 10; // 100 a second: 20 expected within 200 ms
        await b.run(one(i), ["y"]);
      }
      runs.length = 0;
      clock.t += 10;
      let done = false;
      const first = b.run(one(10), ["y"]).then((r) => ((done = true), r));
      await sleep(30);
      expect(done, "still waiting for company").toBe(false);
      const second = b.run(one(11), ["y"]);
      const [a, c] = await Promise.all([first, second]);
      expect(runs, "one run for both").toEqual([2]);
      expect([a.batchRows, c.batchRows]).toEqual([2, 2]);
      expect(Array.from(c.outputs.y!.data as Float32Array)).toEqual([11]);
    });
  });
});

// The client against a real seeded `wrangler dev`: JSON and binary tensors, every datatype, typed
// errors, and (through real misbehaving HTTP proxies in this process, test/node/proxy.ts) retries
// under a budget and hedged requests.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { irisData } from "../dev/samples/iris";
import { startSeeded, type DevServer } from "../dev/local";
import { DATATYPES, type Datatype } from "../shared/datatypes";
import { normalRows } from "../shared/random";
import { generateKeyPair } from "../shared/signing";
import { startProxy, type TestProxy } from "../test/node/proxy";
import {
  InvalidInputError,
  MeridianClient,
  NetworkError,
  NotFoundError,
  PayloadTooLargeError,
  RateLimitedError,
  RetryBudget,
  UnavailableError,
  type InputTensor,
  type TensorValues,
} from "./index";

const RATE_LIMIT = 5;
const MAX_BODY = 2 << 20;
let server: DevServer;
const state = mkdtempSync(join(tmpdir(), "meridian-client-"));
const proxies: TestProxy[] = [];

beforeAll(async () => {
  const keys = await generateKeyPair();
  server = await startSeeded({
    stateDir: state,
    credentials: { adminToken: "client-token", ...keys },
    vars: { RATE_LIMIT_PER_MINUTE: String(RATE_LIMIT), MAX_BODY_BYTES: String(MAX_BODY) },
  });
}, 120_000);

afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.close()));
});

afterAll(async () => {
  await server?.stop();
  rmSync(state, { recursive: true, force: true });
});

async function proxy(plan?: TestProxy["plan"]): Promise<TestProxy> {
  const p = await startProxy(server.url, plan);
  proxies.push(p);
  return p;
}

/** A client with quick backoff, so retries cost the test little time. */
const client = (opts: Partial<ConstructorParameters<typeof MeridianClient>[0]> = {}) =>
  new MeridianClient({ baseUrl: server.url, retry: { baseMs: 5, maxMs: 20 }, ...opts });

const iris = (rows: Float32Array = Float32Array.of(5.1, 3.5, 1.4, 0.2)): InputTensor => ({ name: "measurements", datatype: "FP32", shape: [rows.length / 4, 4], values: rows });

describe("JSON and binary tensors", () => {
  it("give identical outputs for iris (150 rows) and mlp784 (64 rows), in every combination", async () => {
    const c = client();
    for (const [model, input, rows, width] of [
      ["iris", "measurements", irisData().x, 4],
      ["mlp784", "pixels", normalRows(64, 784, 99), 784],
    ] as const) {
      const inputs = [{ name: input, datatype: "FP32" as const, shape: [rows.length / width, width], values: rows }];
      const json = await c.infer(model, { inputs });
      const binary = await c.infer(model, { inputs, encoding: "binary", binaryOutputs: true });
      const jsonIn = await c.infer(model, { inputs, binaryOutputs: true });
      const binaryIn = await c.infer(model, { inputs, encoding: "binary" });
      expect(json.result.outputs.map((o) => o.name)).toEqual(["probabilities", "label"]);
      expect(json.result.output("probabilities").values).toBeInstanceOf(Float32Array);
      expect(json.result.output("label").values).toBeInstanceOf(BigInt64Array);
      for (const other of [binary, jsonIn, binaryIn]) expect(other.result.outputs, model).toEqual(json.result.outputs);
      expect(json).toMatchObject({ pop: expect.any(String), version: "1", variant: "stable", route: "local", backend: "wasm", attempts: 1, hedged: false });
      // Raw FP32 is 4 bytes a value; its JSON is several times that.
      expect(binary.bytesSent).toBeLessThan(json.bytesSent / 2);
      expect(binary.bytesReceived).toBeLessThan(json.bytesReceived);
      if (model === "mlp784") expect(binary.bytesSent).toBeGreaterThanOrEqual(rows.byteLength);
    }
  });

  it("round-trip every datatype through the dtypes echo model, extremes included", async () => {
    const values: Record<Datatype, TensorValues> = {
      BOOL: Uint8Array.of(1, 0, 1),
      UINT8: Uint8Array.of(0, 7, 255),
      UINT16: Uint16Array.of(0, 65535),
      UINT32: Uint32Array.of(0, 4294967295),
      UINT64: BigUint64Array.of(0n, 2n ** 53n + 1n, 2n ** 64n - 1n),
      INT8: Int8Array.of(-128, 0, 127),
      INT16: Int16Array.of(-32768, 32767),
      INT32: Int32Array.of(-2147483648, 2147483647),
      INT64: BigInt64Array.of(-(2n ** 63n), -(2n ** 53n) - 1n, 2n ** 53n + 1n, 2n ** 63n - 1n),
      // Raw half-float bits: the largest finite, the smallest subnormal, 1/3, -2.
      FP16: Uint16Array.of(0x7bff, 0x0001, 0x3555, 0xc000),
      FP32: Float32Array.of(0.1, -3.4028234663852886e38, 1e-45, 1),
      FP64: Float64Array.of(Math.PI, -1e300, 5e-324),
      // No NUL inside an element: the edge's runtime cuts a string there (reported, not asserted).
      BYTES: ["", "ünïcode ✓", "tab\there", "x".repeat(1000)],
    };
    const inputs = DATATYPES.map((dt): InputTensor => ({ name: `x_${dt.toLowerCase()}`, datatype: dt, shape: [values[dt].length], values: values[dt] }));
    const c = client();
    for (const [encoding, binaryOutputs] of [["binary", true], ["json", true], ["binary", false], ["json", false]] as const) {
      const { result } = await c.infer("dtypes", { inputs, encoding, binaryOutputs });
      for (const dt of DATATYPES) {
        const out = result.output(`y_${dt.toLowerCase()}`);
        expect(out.datatype).toBe(dt);
        expect(out.values, `${dt} (${encoding} in, ${binaryOutputs ? "binary" : "json"} out)`).toEqual(values[dt]);
      }
    }
    // JSON has no negative zero (JSON.stringify(-0) is "0"): binary keeps the sign bit.
    const zeros: InputTensor[] = [
      { name: "x_fp16", datatype: "FP16", shape: [1], values: Uint16Array.of(0x8000) },
      { name: "x_fp32", datatype: "FP32", shape: [1], values: Float32Array.of(-0) },
      { name: "x_fp64", datatype: "FP64", shape: [1], values: Float64Array.of(-0) },
    ];
    const filled = inputs.map((i) => zeros.find((z) => z.name === i.name) ?? i);
    const { result } = await c.infer("dtypes", { inputs: filled, encoding: "binary", binaryOutputs: true, outputs: ["y_fp16", "y_fp32", "y_fp64"].map((name) => ({ name })) });
    expect(result.outputs.map((o) => o.values)).toEqual([Uint16Array.of(0x8000), Float32Array.of(-0), Float64Array.of(-0)]);
    expect(Object.is((result.output("y_fp64").values as Float64Array)[0], -0)).toBe(true);
  });

  it("takes plain arrays converted by datatype, and an outputs selection with per-output binary", async () => {
    const c = client();
    const { result } = await c.infer("iris", {
      inputs: [{ name: "measurements", datatype: "FP32", shape: [2, 4], values: [[5.1, 3.5, 1.4, 0.2], [6.3, 3.3, 6.0, 2.5]] }],
      outputs: [{ name: "label", parameters: { binary_data: true } }],
      encoding: "binary",
    });
    expect(result.outputs).toHaveLength(1);
    expect(result.output("label").values).toEqual(BigInt64Array.of(0n, 2n));
    expect(result.data("label")).toEqual([0, 2]);
  });

  it("keeps non-finite outputs: a model overflowing to NaN is an answer, in JSON and binary", async () => {
    const c = client();
    const inputs = [iris(Float32Array.of(3.4e38, 3.5, 1.4, 0.2, 5.1, 3.5, 1.4, 0.2))];
    for (const binaryOutputs of [false, true]) {
      const { result } = await c.infer("iris", { inputs, binaryOutputs });
      const p = Array.from(result.output("probabilities").values as Float32Array);
      expect(p.slice(0, 3).every(Number.isNaN), `binary outputs: ${binaryOutputs}`).toBe(true);
      expect(p[3]).toBeGreaterThan(0.99);
    }
  });

  it("echoes the request id", async () => {
    const c = client();
    for (const encoding of ["json", "binary"] as const) {
      const answer = await c.infer("iris", { inputs: [iris()], id: `req-${encoding}-42`, encoding, binaryOutputs: encoding === "binary" });
      expect(answer.id).toBe(`req-${encoding}-42`);
      expect(answer.result.id).toBe(`req-${encoding}-42`);
    }
    expect((await c.infer("iris", { inputs: [iris()] })).id).toBeUndefined();
  });

  it("pins a version, and answers predict, metadata, ready, live and server", async () => {
    const c = client();
    const pinned = await c.infer("iris", { inputs: [iris()], version: 1 });
    expect(pinned).toMatchObject({ version: "1", variant: "pinned" });
    const text = await c.predict("spam-int8", ["WIN a FREE cruise!!! Claim your $500 prize now, click here"]);
    expect(text).toMatchObject({ model_name: "spam-int8", model_version: "1", predictions: [{ class: "spam", label: 1 }], attempts: 1 });
    expect((await c.predict("iris", [[5.1, 3.5, 1.4, 0.2]])).predictions[0]).toMatchObject({ class: "setosa" });
    expect(await c.metadata("iris")).toMatchObject({ name: "iris", versions: ["1"], inputs: [{ name: "measurements", datatype: "FP32", shape: [-1, 4] }] });
    expect(await c.metadata("spam", 1)).toMatchObject({ properties: { version: "1", preprocessing: { id: "hashed-bow-v1" } } });
    expect(await c.ready("iris-int8")).toBe(true);
    expect(await c.ready("iris", "1")).toBe(true);
    expect(await c.live()).toBe(true);
    expect(await c.server()).toMatchObject({ name: "meridian", extensions: expect.arrayContaining(["classification"]) });
  });
});

describe("typed errors", () => {
  it("400 for a bad input, 404 for an unknown model or version, not retried", async () => {
    const front = await proxy();
    const c = client({ baseUrl: front.url });
    const bad = await c.infer("iris", { inputs: [{ name: "measurements", datatype: "FP64", shape: [1, 4], values: [1, 2, 3, 4] }] }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(InvalidInputError);
    const e = bad as InvalidInputError;
    expect(e.status).toBe(400);
    expect(e.body.error).toBe(`input "measurements": datatype FP64 does not match the model's FP32`);
    expect(e.message).toBe(`400 input "measurements": datatype FP64 does not match the model's FP32`);
    expect(e.headers.get("x-meridian-model-version")).toBe("1");
    expect(e).toMatchObject({ attempts: 1, gaveUp: "not-retryable", url: front.url });
    expect(front.requests).toBe(1);

    const binaryBad = await c.infer("iris", { inputs: [{ name: "measurements", datatype: "FP32", shape: [1, 3], values: [1, 2, 3] }], encoding: "binary" }).catch((e: unknown) => e);
    expect(binaryBad).toBeInstanceOf(InvalidInputError);
    expect((binaryBad as InvalidInputError).body.error).toMatch(/shape \[1, 3\] is not accepted/);

    for (const call of [
      () => c.infer("no-such-model", { inputs: [iris()] }),
      () => c.infer("iris", { inputs: [iris()], version: 99 }),
      () => c.metadata("no-such-model"),
      () => c.ready("no-such-model"),
      () => c.predict("no-such-model", [[1]]),
    ]) {
      const err = await call().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NotFoundError);
      expect((err as NotFoundError).status).toBe(404);
      expect((err as NotFoundError).body.error).toMatch(/no-such-model|version 99/);
    }
    expect(front.requests).toBe(7);
  });

  it("413 for a body over MAX_BODY_BYTES", async () => {
    const rows = Math.ceil(MAX_BODY / (784 * 4)) + 1;
    const err = await client().infer("mlp784", { inputs: [{ name: "pixels", datatype: "FP32", shape: [rows, 784], values: new Float32Array(rows * 784) }], encoding: "binary" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PayloadTooLargeError);
    expect((err as PayloadTooLargeError).body.error).toMatch(/exceeds the \d+-byte limit/);
  });

  it("429 past the caller's rate limit: Retry-After longer than the cap is not waited for", async () => {
    const c = client({ headers: { "x-user-id": "client-test-rate" } });
    for (let i = 0; i < RATE_LIMIT; i++) await c.infer("iris", { inputs: [iris()] });
    const t0 = Date.now();
    const err = await c.infer("iris", { inputs: [iris()] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitedError);
    const e = err as RateLimitedError;
    expect(e.status).toBe(429);
    expect(e.retryAfterMs).toBeGreaterThan(5_000); // the window is a minute
    expect(e.headers.get("ratelimit-limit")).toBe(String(RATE_LIMIT));
    expect(e).toMatchObject({ attempts: 1, gaveUp: "retry-after" });
    expect(Date.now() - t0).toBeLessThan(2_000);
  });
});

describe("retries", () => {
  const unavailable = { kind: "answer", status: 503, body: JSON.stringify({ error: "model cannot be loaded here" }) } as const;

  it("retries 503, 502, 504 and resets, then answers", async () => {
    const script = [unavailable, { kind: "answer", status: 502 } as const, { kind: "reset" } as const, { kind: "answer", status: 504 } as const];
    const front = await proxy((i) => script[i] ?? { kind: "forward" });
    const c = client({ baseUrl: front.url, retry: { maxAttempts: 5, baseMs: 5, maxMs: 20 } });
    const answer = await c.infer("iris", { inputs: [iris()] });
    expect(answer.attempts).toBe(5);
    expect(answer.result.data("label")).toEqual([0]);
    expect(front.requests).toBe(5);
    expect(front.forwarded).toBe(1);
  });

  it("gives up after maxAttempts with the last error, typed", async () => {
    const front = await proxy(() => ({ ...unavailable, headers: { "retry-after": "0" } }));
    const err = await client({ baseUrl: front.url }).infer("iris", { inputs: [iris()] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect(err).toMatchObject({ status: 503, body: { error: "model cannot be loaded here" }, attempts: 3, gaveUp: "max-attempts", retryAfterMs: 0 });
    expect(front.requests).toBe(3);
  });

  it("waits as long as Retry-After says (up to the cap)", async () => {
    const front = await proxy((i) => (i === 0 ? { ...unavailable, headers: { "retry-after": "1" } } : { kind: "forward" }));
    const t0 = Date.now();
    const answer = await client({ baseUrl: front.url }).infer("iris", { inputs: [iris()] });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1_000);
    expect(answer.attempts).toBe(2);
  });

  it("spends no more than the budget: the floor, then one retry per ten first attempts", async () => {
    const front = await proxy(() => unavailable);
    const budget = new RetryBudget({ ratio: 0.1, minRetries: 2, windowMs: 60_000 });
    const c = client({ baseUrl: front.url, budget, retry: { maxAttempts: 5, baseMs: 1, maxMs: 2 } });
    const attempts: number[] = [];
    for (let call = 0; call < 12; call++) {
      const err = (await c.infer("iris", { inputs: [iris()] }).catch((e: unknown) => e)) as UnavailableError;
      expect(err).toBeInstanceOf(UnavailableError);
      attempts.push(err.attempts);
    }
    // Call 1 spends the floor (2 retries); the 10th first attempt earns one more (10 × 0.1).
    expect(attempts).toEqual([3, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1]);
    expect(front.requests).toBe(15);
  });

  it("a silent server: NetworkError after timeoutMs, and the caller's signal aborts", async () => {
    const front = await proxy(() => ({ kind: "forward", delayMs: 10_000 }));
    const c = client({ baseUrl: front.url, timeoutMs: 300, retry: { maxAttempts: 2, baseMs: 1, maxMs: 2 } });
    const t0 = Date.now();
    const err = await c.infer("iris", { inputs: [iris()] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect(err).toMatchObject({ status: 0, timedOut: true, attempts: 2, gaveUp: "max-attempts" });
    expect((err as Error).message).toMatch(/^no answer from http:\/\/127\.0\.0\.1:\d+ within 300 ms \(POST \/v2\/models\/iris\/infer\)$/);
    expect(Date.now() - t0).toBeLessThan(3_000);
    await front.waitForAborted(2);

    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("caller gave up")), 200);
    await expect(client({ baseUrl: front.url }).infer("iris", { inputs: [iris()], signal: controller.signal })).rejects.toThrow("caller gave up");
    await front.waitForAborted(3);
    expect(front.forwarded).toBe(0);
  });

  it("cannot reach: a NetworkError naming the cause", async () => {
    const gone = await proxy();
    const url = gone.url;
    await gone.close();
    const err = await client({ baseUrl: url, retry: { maxAttempts: 2, baseMs: 1, maxMs: 2 } }).live().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as NetworkError).message).toMatch(/^cannot reach http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED \(GET \/v2\/health\/live\)$/);
    expect(err).toMatchObject({ attempts: 1, timedOut: false }); // a probe is never retried
  });
});

describe("hedged requests", () => {
  it("a slow first base URL: the hedge answers and the slow request is aborted", async () => {
    const slow = await proxy(() => ({ kind: "forward", delayMs: 5_000 }));
    const c = client({ baseUrl: slow.url, hedgeUrl: server.url, hedgeAfterMs: 100 });
    const t0 = Date.now();
    const answer = await c.infer("mlp784", { inputs: [{ name: "pixels", datatype: "FP32", shape: [1, 784], values: normalRows(1, 784, 5) }], encoding: "binary" });
    const elapsed = Date.now() - t0;
    expect(answer).toMatchObject({ hedged: true, url: server.url, attempts: 2, version: "1" });
    expect(elapsed).toBeGreaterThanOrEqual(100);
    expect(elapsed).toBeLessThan(5_000);
    await slow.waitForAborted(1);
    expect(slow.forwarded).toBe(0);
  });

  it("a fast first base URL answers alone: no hedge is sent", async () => {
    const hedge = await proxy();
    const c = client({ hedgeUrl: hedge.url, hedgeAfterMs: 2_000 });
    const answer = await c.infer("iris", { inputs: [iris()] });
    expect(answer).toMatchObject({ hedged: false, url: server.url, attempts: 1 });
    expect(hedge.requests).toBe(0);
  });

  it("a first base URL that fails at once is hedged at once, not after hedgeAfterMs", async () => {
    const failing = await proxy(() => ({ kind: "answer", status: 503 }));
    const c = client({ baseUrl: failing.url, hedgeUrl: server.url, hedgeAfterMs: 5_000 });
    const t0 = Date.now();
    const answer = await c.infer("iris", { inputs: [iris()] });
    expect(answer).toMatchObject({ hedged: true, attempts: 2 });
    expect(Date.now() - t0).toBeLessThan(2_000);
  });

  it("a 400 from the first answer ends the call: the same request is refused everywhere", async () => {
    const hedge = await proxy(() => ({ kind: "forward", delayMs: 5_000 }));
    const c = client({ hedgeUrl: hedge.url, hedgeAfterMs: 0 });
    const err = await c.infer("iris", { inputs: [{ name: "measurements", datatype: "FP32", shape: [1, 3], values: [1, 2, 3] }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect(err).toMatchObject({ attempts: 2, url: server.url });
    await hedge.waitForAborted(1);
  });
});

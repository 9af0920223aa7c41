// `meridian features put` against a real `wrangler dev`: a JSONL file streamed in batches, refused
// rows reported by line, and a run cut off by a dropped connection (a real proxy in front of the
// edge that closes one request's socket) resumed after the last acknowledged line.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MeridianClient } from "../../client";
import { AdminClient } from "../../shared/admin-client";
import { encodeModel, floatTensor, graph, node, valueInfo } from "../../shared/onnx/build";
import { manifestFor } from "../../shared/onnx/manifest";
import { generateKeyPair } from "../../shared/signing";
import { credentialVars, migrate, startDev, type DevServer } from "../../dev/local";
import { runMeridian } from "../../test/node/meridian";
import type { Checkpoint, PutSummary } from "./features";

const tmp = mkdtempSync(join(tmpdir(), "meridian-features-"));
const TOKEN = "features-test-token";
let server: DevServer;
let proxy: Server;
let proxyUrl: string;
let privateKey: string;
/** The proxy closes the socket of request number `dropAt` (counted from the last reset) without forwarding it. */
const proxied = { count: 0, dropAt: 0 };

/** y = x · W, x [n, 3] all from the view "profile" (vec: 3 values). */
const model = () =>
  encodeModel(
    graph({
      name: "profile",
      nodes: [node("MatMul", ["x", "w"], ["y"])],
      inputs: [valueInfo("x", "FP32", [-1, 3])],
      outputs: [valueInfo("y", "FP32", [-1, 1])],
      initializers: [floatTensor("w", [3, 1], [1, 10, 100])],
    }),
  );

beforeAll(async () => {
  const keys = await generateKeyPair();
  privateKey = keys.privateKey;
  const state = join(tmp, "state");
  await migrate(state);
  server = await startDev({ stateDir: state, vars: { ...credentialVars({ adminToken: TOKEN, publicKey: keys.publicKey, privateKey: keys.privateKey }), POP_COLO: "FRA" } });
  const bytes = model();
  const manifest = await manifestFor(bytes, {
    name: "profile-model",
    version: 1,
    quantization: "none",
    features: [{ name: "profile", entity: "user", consistency: "strong", features: [{ name: "vec", datatype: "FP32", shape: [3] }], input: "x" }],
  });
  await new AdminClient(server.url, TOKEN).publish(manifest, bytes, keys.privateKey, { promote: true });
  const target = new URL(server.url);
  proxy = createServer((req, res) => {
    proxied.count++;
    if (proxied.count === proxied.dropAt) {
      req.socket.destroy();
      return;
    }
    const upstream = httpRequest({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on("error", () => req.socket.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
}, 180_000);

afterAll(async () => {
  await new Promise((resolve) => proxy?.close(resolve));
  await server?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const row = (i: number, t: number) => JSON.stringify({ entity_id: `user-${i}`, values: { vec: [i, i + 1, i + 2] }, event_time: t });
const env = () => ({ MERIDIAN_URL: proxyUrl, MERIDIAN_TOKEN: TOKEN });

async function predicted(entity: string): Promise<number> {
  const res = await fetch(`${server.url}/v2/models/profile-model/infer`, { method: "POST", headers: { "content-type": "application/json", "x-user-id": entity }, body: JSON.stringify({}) });
  const body = (await res.json()) as { outputs?: Array<{ data: number[] }>; error?: string };
  if (res.status !== 200) throw new Error(`${res.status} ${body.error}`);
  return body.outputs![0]!.data[0]!;
}

describe("meridian features put", () => {
  it("streams a file in batches, reports refused rows by line, and resumes after a dropped connection", async () => {
    const t = Date.now();
    const lines = Array.from({ length: 50 }, (_, i) => row(i, t));
    lines[6] = "{not json";
    lines[12] = JSON.stringify({ entity_id: "user-12", values: { vec: [1, 2] }, event_time: t });
    const file = join(tmp, "rows.jsonl");
    writeFileSync(file, `${lines.join("\n")}\n`);

    // Request 1 is the limits lookup, then one request per batch of 10: the third batch's is dropped.
    proxied.count = 0;
    proxied.dropAt = 4;
    const cut = await runMeridian(["features", "put", "profile", "--file", file, "--batch-rows", "10", "--json"], env());
    expect(cut.code, cut.stderr).toBe(1);
    expect(cut.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(cut.stderr).toMatch(/^meridian: features put failed: .*lines 1\.\.21 are acknowledged .*run again with --resume to continue after line 21/);
    const saved = JSON.parse(readFileSync(`${file}.progress.json`, "utf8")) as Checkpoint;
    // Batch 1: lines 1..11 but 7 (not JSON, refused here); batch 2: lines 12..21 (13 refused by the edge).
    expect(saved).toMatchObject({ view: "profile", line: 21, accepted: 19, rejected: 2 });
    expect(await predicted("user-20")).toBe(20 + 210 + 2200);

    proxied.dropAt = 0;
    const resumed = await runMeridian(["features", "put", "profile", "--file", file, "--batch-rows", "10", "--resume", "--json"], env());
    expect(resumed.code, resumed.stderr).toBe(0);
    const summary = JSON.parse(resumed.stdout) as PutSummary;
    // Only what came after line 21 was sent: 29 lines in 3 batches (totals count the earlier run too).
    expect(summary).toMatchObject({ resumedAfter: 21, lines: 29, batches: 3, accepted: 48, rejected: 2, superseded: 0, rejects: [] });
    for (const i of [21, 35, 49]) expect(await predicted(`user-${i}`)).toBe(i + 10 * (i + 1) + 100 * (i + 2));
    // The client library hands back the answer's parameters.
    const answer = await new MeridianClient({ baseUrl: server.url }).infer("profile-model", { inputs: [], parameters: { entity_id: "user-35" } });
    expect(answer.result.data("y")).toEqual([35 + 360 + 3700]);
    expect(answer.result.parameters).toMatchObject({ feature_entity: "user-35", feature_consistency: "strong", feature_defaulted: "" });

    // A whole replay changes nothing: every value is superseded by (equal to) what is stored.
    const replay = await runMeridian(["features", "put", "profile", "--file", file, "--json"], env());
    expect(replay.code, replay.stderr).toBe(0);
    const all = JSON.parse(replay.stdout) as PutSummary;
    expect(all).toMatchObject({ resumedAfter: 0, lines: 50, accepted: 48, rejected: 2, superseded: 48 });
    expect(all.rejects).toEqual([
      { line: 7, entity_id: null, error: "not a JSON object" },
      { line: 13, entity_id: "user-12", error: 'feature "vec": has 2 values, shape [3] needs 3' },
    ]);
  });

  it("push --features: the views go into the signed manifest, checked against the inputs before any upload", async () => {
    const onnx = join(tmp, "profile.onnx");
    writeFileSync(onnx, model());
    const keyFile = join(tmp, "signing.key");
    writeFileSync(keyFile, `${privateKey}\n`, { mode: 0o600 });
    const views = (shape: number[]) => JSON.stringify([{ name: "profile", entity: "user", consistency: "strong", features: [{ name: "vec", datatype: "FP32", shape }], input: "x" }]);
    const bad = await runMeridian(["push", onnx, "--name", "profile-pushed", "--features", views([2]), "--key", keyFile], env());
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^meridian: push failed: --features do not match the model's inputs: input "x": positions 2\.\.2 are filled by no feature view/);
    const pushed = await runMeridian(["push", onnx, "--name", "profile-pushed", "--features", views([3]), "--key", keyFile, "--json"], env());
    expect(pushed.code, pushed.stderr).toBe(0);
    await new AdminClient(server.url, TOKEN).promote("profile-pushed", 1, null);
    const res = await fetch(`${server.url}/v2/models/profile-pushed/infer`, { method: "POST", headers: { "x-user-id": "user-3" }, body: "{}" });
    expect(await res.json()).toMatchObject({ outputs: [{ data: [3 + 40 + 500] }], parameters: { feature_entity: "user-3" } });
  });

  it("names an unknown view in one line", async () => {
    const file = join(tmp, "one.jsonl");
    writeFileSync(file, `${row(1, Date.now())}\n`);
    const run = await runMeridian(["features", "put", "nope", "--file", file], env());
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^meridian: features put failed: 404 unknown feature view "nope"/);
  });
});

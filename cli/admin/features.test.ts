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
import { FeatureJoin } from "../../trainer/data/feature-join";
import { FULL_BINDING, writeExample } from "../../dev/samples/features-example";
import type { Checkpoint, PutSummary } from "./features";

const tmp = mkdtempSync(join(tmpdir(), "meridian-features-"));
const TOKEN = "features-test-token";
let server: DevServer;
let proxy: Server;
let proxyUrl: string;
let privateKey: string;
/** The proxy closes the socket of the requests numbered in `drops` (counted from the last reset) without forwarding them. */
const proxied = { count: 0, drops: new Set<number>() };

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
    if (proxied.drops.has(proxied.count)) {
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

    // Request 1 is the limits lookup, then one request per batch of 10: the third batch's is
    // dropped, and so is the client's one repeat of it.
    proxied.count = 0;
    proxied.drops = new Set([4, 5]);
    const cut = await runMeridian(["features", "put", "profile", "--file", file, "--batch-rows", "10", "--json"], env());
    expect(cut.code, cut.stderr).toBe(1);
    expect(cut.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(cut.stderr).toMatch(/^meridian: features put failed: .*lines 1\.\.21 are acknowledged .*run again with --resume to continue after line 21/);
    const saved = JSON.parse(readFileSync(`${file}.progress.json`, "utf8")) as Checkpoint;
    // Batch 1: lines 1..11 but 7 (not JSON, refused here); batch 2: lines 12..21 (13 refused by the edge).
    expect(saved).toMatchObject({ view: "profile", line: 21, accepted: 19, rejected: 2 });
    expect(await predicted("user-20")).toBe(20 + 210 + 2200);

    // One dropped connection is repeated without a word (the second batch's).
    proxied.count = 0;
    proxied.drops = new Set([3]);
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

describe("the online-features loop: define a view, ingest, export as of a time, train, push, predict", () => {
  const dir = join(tmp, "example");
  const ex = writeExample(dir);
  const exportFile = (name: string) => join(dir, `${name}.export.jsonl`);
  const keyEnv = () => {
    const keyFile = join(tmp, "loop-signing.key");
    writeFileSync(keyFile, `${privateKey}\n`, { mode: 0o600 });
    return { ...env(), MERIDIAN_SIGNING_KEY_FILE: keyFile };
  };

  it("defines the view on its own (once), ingests its rows and exports them as they stood at a time", async () => {
    const defined = await runMeridian(["features", "define", ex.views], env());
    expect(defined.code, defined.stderr).toBe(0);
    expect(defined.stdout).toBe("user_stats: defined\n");
    expect((await runMeridian(["features", "define", ex.views], env())).stdout).toBe("user_stats: already defined, the same\n");
    const changed = join(dir, "changed.json");
    writeFileSync(changed, JSON.stringify({ ...FULL_BINDING[0], input: undefined, consistency: "bounded", maxStalenessMs: 5000 }));
    const refused = await runMeridian(["features", "define", changed], env());
    expect(refused.stderr).toMatch(/^meridian: features define failed: 400 feature view "user_stats" was defined on its own with another definition \(consistency was "strong", now "bounded"\)/);

    const put = await runMeridian(["features", "put", "user_stats", "--file", ex.rows, "--json"], env());
    expect(put.code, put.stderr).toBe(0);
    // Two batches (500 rows each at most): two objects in the view's offline log.
    expect(JSON.parse(put.stdout)).toMatchObject({ lines: 900, accepted: 900, rejected: 0, batches: 2 });

    const past = await runMeridian(["features", "export", "user_stats", "--as-of", new Date(ex.asOf).toISOString(), "--out", exportFile("past"), "--json"], env());
    expect(past.code, past.stderr).toBe(0);
    // 300 users, each with two rows before as_of and one after it.
    expect(JSON.parse(past.stdout)).toMatchObject({ entities: 300, rows: { read: 900, later: 300 } });
    const lines = readFileSync(exportFile("past"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(lines[0]).toMatchObject({ meridian: "feature-export", view: { name: "user_stats" }, as_of_ms: ex.asOf });
    // Each user's values are those of two days ago (the rows the labels were made with), not the newer ones.
    const rows = readFileSync(ex.rows, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    const u7 = lines.find((l) => l.entity_id === "u7");
    expect(u7.features.recent.value).toEqual(rows.filter((r) => r.entity_id === "u7")[1].values.recent);

    const now = await runMeridian(["features", "export", "user_stats", "--as-of", "now", "--out", exportFile("now")], env());
    expect(now.code, now.stderr).toBe(0);
    expect(now.stdout).toMatch(/^user_stats as of .*: 300 entities from 900 rows \(0 later rows left out; 2 log objects read, 0 skipped\)/);
    const bad = await runMeridian(["features", "export", "user_stats", "--as-of", "yesterday", "--out", exportFile("bad")], env());
    expect(bad.stderr).toMatch(/^meridian: features export failed: --as-of "yesterday" is not a time/);
  });

  it("the edge and the trainer build the same inputs for an entity, bit for bit", async () => {
    // A model that answers with the input the edge filled from the view.
    const echo = encodeModel(
      graph({ name: "echo", nodes: [node("Identity", ["user"], ["user_echo"])], inputs: [valueInfo("user", "FP32", [-1, 3])], outputs: [valueInfo("user_echo", "FP32", [-1, 3])] }),
    );
    const manifest = await manifestFor(echo, { name: "user-echo", version: 1, quantization: "none", features: FULL_BINDING });
    await new AdminClient(server.url, TOKEN).publish(manifest, echo, privateKey, { promote: true });
    // One entity with no loyalty at all: its default on both sides.
    const extra = join(dir, "extra.jsonl");
    writeFileSync(extra, JSON.stringify({ entity_id: "u-new", values: { recent: [1.1, 2.2] }, event_time: Date.now() - 1000 }) + "\n");
    expect((await runMeridian(["features", "put", "user_stats", "--file", extra], env())).code).toBe(0);
    expect((await runMeridian(["features", "export", "user_stats", "--out", exportFile("echo")], env())).code).toBe(0);

    const trainer = await FeatureJoin.open(ex.binding, [exportFile("echo")]);
    for (const entity of ["u0", "u7", "u123", "u299", "u-new"]) {
      const answer = await new MeridianClient({ baseUrl: server.url }).infer("user-echo", { inputs: [], headers: { "x-user-id": entity } });
      const edge = Array.from(answer.result.data("user_echo") as ArrayLike<number>);
      const mine = new Float32Array(3);
      expect(trainer.fill(entity, mine, 0)).toBeNull();
      expect(edge, entity).toEqual(Array.from(mine));
    }
  });

  it("trains on the export joined to labelled examples, pushes, and serves it with the caller's values filled in", async () => {
    const out = join(dir, "model");
    const trained = await runMeridian(
      ["train", "--dataset", `jsonl:${ex.examples}`, "--features", ex.binding, "--feature-values", exportFile("past"), "--name", "shop", "--epochs", "40", "--hidden", "16", "--lr", "0.01", "--out", out, "--promote", "--json"],
      keyEnv(),
    );
    expect(trained.code, trained.stderr).toBe(0);
    const events = trained.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(events.at(-1)).toMatchObject({ event: "published", name: "shop", promoted: true });
    const manifest = JSON.parse(readFileSync(join(out, "model-int8.manifest.json"), "utf8"));
    expect(manifest.metrics.accuracy).toBeGreaterThan(0.9);

    // push --features may name a defined view: the signed manifest carries its definition whole.
    const pushed = await runMeridian(["push", join(out, "model-int8.onnx"), "--name", "shop-named", "--features", ex.binding, "--json"], keyEnv());
    expect(pushed.code, pushed.stderr).toBe(0);
    expect((await new AdminClient(server.url, TOKEN).model("shop-named"))?.versions).toHaveLength(1);
    const unknown = await runMeridian(["push", join(out, "model-int8.onnx"), "--name", "shop-named", "--features", '[{"name":"no_view","input":"user"}]'], keyEnv());
    expect(unknown.stderr).toMatch(/^meridian: push failed: --features names view "no_view", which is not defined: define it with `meridian features define`/);

    // The caller sends the item; the edge adds the user's values of now.
    const client = new MeridianClient({ baseUrl: server.url });
    const answer = await client.infer("shop", { inputs: [{ name: "features", datatype: "FP32", shape: [1, 2], values: [0.5, 0.25] }], headers: { "x-user-id": "u7" } });
    expect(answer.result.parameters).toMatchObject({ feature_entity: "u7", feature_consistency: "strong", feature_defaulted: "" });
    const probs = Array.from(answer.result.data("probabilities") as ArrayLike<number>);
    expect(probs).toHaveLength(2);
    expect(probs[0]! + probs[1]!).toBeCloseTo(1, 5);
    // An entity with no "recent" (no default) is refused, as the trainer left such examples out.
    const refused = await fetch(`${server.url}/v2/models/shop/infer`, { method: "POST", headers: { "x-user-id": "nobody" }, body: JSON.stringify({ inputs: [{ name: "features", datatype: "FP32", shape: [1, 2], data: [0.5, 0.25] }] }) });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: expect.stringMatching(/feature "recent" of view "user_stats" has no value for this entity and no default/) });
  });
});

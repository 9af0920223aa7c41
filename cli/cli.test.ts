// The `meridian` version commands, run as a real child process: offline checks (key files,
// argument validation, the one-line failure contract), then the publish flow against `wrangler dev`.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as ortNode from "onnxruntime-node";
import { featurizeBatch, featurizerFor } from "../shared/featurize";
import { parseManifest, type Manifest } from "../shared/manifest";
import { buildMlpFp32 } from "../shared/onnx/mlp";
import { irisSpec, irisWeights } from "../dev/samples/iris";
import { manifestFor } from "../shared/onnx/manifest";
import { mlpWeights } from "../shared/onnx/mlp";
import { generateKeyPair, signManifest, verifyManifest } from "../shared/signing";
import { startSeeded, type DevServer } from "../dev/local";
import { registerAdminCommands } from "./admin";
import { runMeridian, type Run } from "../test/node/meridian";
import { connect } from "./admin/client";
import { KeyError, loadPrivateKey, writeKeyPair } from "./admin/keys";

/** Runs the CLI with a clean MERIDIAN_* environment plus `env`. */
const meridian = runMeridian;

/** A failure: exit 1 and exactly one line on stderr. */
function expectFailure(run: Run, pattern: RegExp): void {
  expect(run.code, run.stderr).toBe(1);
  expect(run.stderr.trimEnd().split("\n")).toHaveLength(1);
  expect(run.stderr).toMatch(pattern);
}

/** A commander usage error: exit 1, the reason on the first line (cli.ts adds a --help hint). */
function expectUsageError(run: Run, pattern: RegExp): void {
  expect(run.code, run.stderr).toBe(1);
  expect(run.stderr.split("\n")[0]).toMatch(pattern);
}

/** A port that was free a moment ago (fetch refuses "bad ports" such as 9, so no fixed choice). */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const tmp = mkdtempSync(join(tmpdir(), "meridian-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** An iris classifier whose bytes differ from the seeded v1 (another init seed). */
function writeIrisModel(file: string, seedValue: number): Uint8Array {
  const bytes = buildMlpFp32(irisSpec(irisWeights({ seed: seedValue }).layers));
  writeFileSync(file, bytes);
  return bytes;
}

describe("signing key files", () => {
  it("keygen writes a 0600 private key that signs what the .pub verifies, and refuses to overwrite it", async () => {
    const dir = join(tmp, "keys");
    const run = await meridian(["keygen", "--out", dir, "--json"]);
    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout) as { publicKey: string; privateKeyFile: string; publicKeyFile: string };
    expect(statSync(out.privateKeyFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(out.publicKeyFile, "utf8").trim()).toBe(out.publicKey);

    const privateKey = await loadPrivateKey({ file: out.privateKeyFile, env: {} });
    const manifest = await manifestFor(writeIrisModel(join(tmp, "k.onnx"), 3), { name: "iris", version: 1, quantization: "none" });
    expect(await verifyManifest(manifest, await signManifest(manifest, privateKey), [out.publicKey])).toBe(true);

    const again = await meridian(["keygen", "--out", dir]);
    expectFailure(again, /^meridian: keygen failed: .*meridian-signing\.key already exists \(pass --force/);
    expect(readFileSync(out.privateKeyFile, "utf8").trim()).toBe(privateKey);

    const forced = await meridian(["keygen", "--out", dir, "--force"]);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toContain("wrangler secret put SIGNING_PUBLIC_KEYS");
    expect(forced.stdout).toContain(`SIGNING_PUBLIC_KEYS=${readFileSync(out.publicKeyFile, "utf8").trim()}`);
    expect(readFileSync(out.privateKeyFile, "utf8").trim()).not.toBe(privateKey);
  });

  it("resolves --key, then MERIDIAN_SIGNING_KEY, then MERIDIAN_SIGNING_KEY_FILE; accepts PEM; rejects the .pub", async () => {
    const a = await writeKeyPair(join(tmp, "a"));
    const b = await writeKeyPair(join(tmp, "b"));
    const c = await generateKeyPair();
    const env = { MERIDIAN_SIGNING_KEY: c.privateKey, MERIDIAN_SIGNING_KEY_FILE: b.privateKeyFile };
    expect(await loadPrivateKey({ file: a.privateKeyFile, env })).toBe(a.privateKey);
    expect(await loadPrivateKey({ env })).toBe(c.privateKey);
    expect(await loadPrivateKey({ env: { MERIDIAN_SIGNING_KEY_FILE: b.privateKeyFile } })).toBe(b.privateKey);

    const pem = join(tmp, "key.pem");
    writeFileSync(pem, `-----BEGIN PRIVATE KEY-----\n${a.privateKey}\n-----END PRIVATE KEY-----\n`);
    expect(await loadPrivateKey({ file: pem, env: {} })).toBe(a.privateKey);

    await expect(loadPrivateKey({ file: a.publicKeyFile, env: {} })).rejects.toThrow(/not an Ed25519 PKCS#8 private key/);
    await expect(loadPrivateKey({ file: join(tmp, "nope.key"), env: {} })).rejects.toThrow(/does not exist/);
    await expect(loadPrivateKey({ env: {} })).rejects.toBeInstanceOf(KeyError);
  });
});

describe("argument validation (no edge needed)", () => {
  it("has --help and --json on every command", async () => {
    // Help text checked in-process (a child process per command costs seconds); one real run below.
    const program = new Command("meridian");
    registerAdminCommands(program);
    for (const name of ["keygen", "push", "promote", "rollback", "canary", "list", "history", "status"]) {
      const cmd = program.commands.find((c) => c.name() === name);
      expect(cmd, name).toBeDefined();
      expect(cmd!.helpInformation()).toContain(`Usage: meridian ${name}`);
      expect(cmd!.helpInformation()).toContain("--json");
    }
    const run = await meridian(["push", "--help"]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/Usage: meridian push \[options\] <model\.onnx>[\s\S]*--manifest[\s\S]*--key <file>/);
  });

  it("rejects bad arguments and missing credentials with one line and exit 1, before any request", async () => {
    const model = join(tmp, "args.onnx");
    writeIrisModel(model, 5);
    const key = (await writeKeyPair(join(tmp, "args"))).privateKeyFile;
    // Nothing listens there: a request that was sent fails differently ("cannot reach").
    const env = { MERIDIAN_URL: `http://127.0.0.1:${await closedPort()}`, MERIDIAN_TOKEN: "t" };
    const [version, percent, name, token, noKey, noFile, labels, unreachable] = await Promise.all([
      meridian(["promote", "iris", "two"], env),
      meridian(["canary", "iris", "2", "--percent", "150"], env),
      meridian(["history", "Not A Name"], env),
      meridian(["list"], { MERIDIAN_URL: env.MERIDIAN_URL }),
      meridian(["push", model, "--name", "iris"], env),
      meridian(["push", join(tmp, "missing.onnx"), "--name", "iris", "--key", key], env),
      meridian(["push", model, "--name", "iris", "--key", key, "--labels", '{"nope":["a"]}'], env),
      meridian(["list"], env),
    ]);
    expectUsageError(version, /invalid for argument 'version'.*positive integers/);
    expectUsageError(percent, /'--percent <p>' argument '150' is invalid/);
    expectUsageError(name, /invalid for argument 'name'/);
    expectFailure(token, /^meridian: list failed: no admin token: pass --token or set MERIDIAN_TOKEN$/m);
    expectFailure(noKey, /^meridian: push failed: no signing key: pass --key/);
    expectFailure(noFile, /^meridian: push failed: .*missing\.onnx does not exist/);
    expectFailure(labels, /^meridian: push failed: --labels names output "nope", but the model's outputs are probabilities, label/);
    expectFailure(unreachable, /^meridian: list failed: cannot reach http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED$/m);
  });

  it("an edge that accepts the connection but never answers: one line after --timeout, not a hang", async () => {
    const silent = createServer(() => {}); // takes the connection, reads nothing, answers nothing
    const port = await new Promise<number>((r) => silent.listen(0, "127.0.0.1", () => r((silent.address() as AddressInfo).port)));
    try {
      const t0 = Date.now();
      const run = await meridian(["list", "--timeout", "1"], { MERIDIAN_URL: `http://127.0.0.1:${port}`, MERIDIAN_TOKEN: "t" });
      expectFailure(run, /^meridian: list failed: no answer from http:\/\/127\.0\.0\.1:\d+ within 1 s \(GET \/admin\/models\)$/m);
      expect(Date.now() - t0).toBeLessThan(15_000);
      const env = await meridian(["list"], { MERIDIAN_URL: `http://127.0.0.1:${port}`, MERIDIAN_TOKEN: "t", MERIDIAN_TIMEOUT: "0.5" });
      expectFailure(env, /within 0\.5 s/);
    } finally {
      silent.close();
    }
  });

  it("push --manifest refuses a manifest that does not describe the file", async () => {
    const model = join(tmp, "m.onnx");
    const bytes = writeIrisModel(model, 6);
    const manifest = await manifestFor(bytes, { name: "iris", version: 1, quantization: "none" });
    const file = join(tmp, "m.json");
    writeFileSync(file, JSON.stringify({ ...manifest, sha256: "0".repeat(64) }));
    const key = (await writeKeyPair(join(tmp, "m"))).privateKeyFile;
    const run = await meridian(["push", model, "--manifest", file, "--key", key], { MERIDIAN_URL: `http://127.0.0.1:${await closedPort()}`, MERIDIAN_TOKEN: "t" });
    expectFailure(run, /^meridian: push failed: manifest .*m\.json sha256 0{64} does not match/);
  });
});

describe("publish flow against wrangler dev", () => {
  const TOKEN = "test-admin-token";
  const state = join(tmp, "state");
  const keys = join(tmp, "edge-keys");
  let server: DevServer;
  let env: Record<string, string>;

  beforeAll(async () => {
    const keygen = await meridian(["keygen", "--out", keys, "--json"]);
    expect(keygen.code, keygen.stderr).toBe(0);
    const made = JSON.parse(keygen.stdout) as { publicKey: string; privateKeyFile: string };
    const credentials = { adminToken: TOKEN, publicKey: made.publicKey, privateKey: readFileSync(made.privateKeyFile, "utf8").trim() };
    // A short pointer TTL so a promote shows up in predictions within the polling window.
    server = await startSeeded({ stateDir: state, credentials, vars: { POINTER_TTL_MS: "200" } });
    env = { MERIDIAN_URL: server.url, MERIDIAN_TOKEN: TOKEN, MERIDIAN_SIGNING_KEY_FILE: join(keys, "meridian-signing.key") };
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
  });

  async function servedVersion(): Promise<string | null> {
    const res = await fetch(`${server.url}/v2/models/iris/infer`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ inputs: [{ name: "measurements", datatype: "FP32", shape: [1, 4], data: [5.1, 3.5, 1.4, 0.2] }] }),
    });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    return res.headers.get("x-meridian-model-version");
  }

  /** Polls predictions until they report `version` (the edge re-reads its pointer every TTL). */
  async function waitForServed(version: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let seen: string | null = null;
    while (Date.now() < deadline) {
      seen = await servedVersion();
      if (seen === String(version)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`still serving v${seen} after ${timeoutMs} ms, expected v${version}`);
  }

  async function ok(args: string[], extra: Record<string, string> = {}): Promise<any> {
    const run = await meridian([...args, "--json"], { ...env, ...extra });
    expect(run.code, run.stderr).toBe(0);
    return JSON.parse(run.stdout);
  }

  it("push → promote → served → rollback → served again", async () => {
    expect(await servedVersion()).toBe("1");
    const model = join(tmp, "iris-v2.onnx");
    const bytes = writeIrisModel(model, 7);

    const pushed = await ok(["push", model, "--name", "iris", "--labels", '["setosa","versicolor","virginica"]']);
    expect(pushed).toMatchObject({ name: "iris", version: 2, state: "validated", size: bytes.byteLength, artifactCreated: true });
    const detail = (await ok(["list"])).models.find((m: { name: string }) => m.name === "iris");
    expect(detail).toMatchObject({ serving: 1, latest: 2 });

    expect(await ok(["promote", "iris", "2"])).toMatchObject({ name: "iris", serving: 2 });
    await waitForServed(2);

    expect(await ok(["rollback", "iris"])).toMatchObject({ name: "iris", serving: 1 });
    await waitForServed(1);

    const { events } = await ok(["history", "iris"]);
    expect(events.map((e: { action: string }) => e.action)).toEqual(expect.arrayContaining(["promote", "rollback"]));
    const status = await ok(["status", "iris"]);
    expect(status).toMatchObject({ serving: 1 });
    expect(Array.isArray(status.pops)).toBe(true);

    // Human output of the same commands stays readable and exits 0.
    const human = await meridian(["status", "iris"], env);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/^iris: serving v1/);
  });

  it("a stale --expected gets a one-line 409 and changes nothing", async () => {
    const run = await meridian(["promote", "iris", "2", "--expected", "2"], env);
    expectFailure(run, /^meridian: promote failed: 409 /);
    expect(await servedVersion()).toBe("1");
  });

  it("missing or wrong token: exit 1 with a clear reason", async () => {
    const { MERIDIAN_TOKEN: _, ...noToken } = env;
    expectFailure(await meridian(["list"], noToken), /^meridian: list failed: no admin token/);
    expectFailure(await meridian(["list"], { ...env, MERIDIAN_TOKEN: "wrong" }), /^meridian: list failed: 403 invalid admin token$/m);
  });

  it("a push signed with a key the edge does not trust fails 4xx and registers nothing", async () => {
    const model = join(tmp, "iris-forged.onnx");
    writeIrisModel(model, 8);
    const before = (await ok(["list"])).models.find((m: { name: string }) => m.name === "iris");
    const other = await writeKeyPair(join(tmp, "untrusted"));
    const run = await meridian(["push", model, "--name", "iris", "--key", other.privateKeyFile], env);
    expectFailure(run, /^meridian: push failed: 4\d\d .*signature/i);
    const after = (await ok(["list"])).models.find((m: { name: string }) => m.name === "iris");
    expect(after).toEqual(before);
    expect(await servedVersion()).toBe("1");
  });

  it("re-pushing stored bytes of tens of MB (after a refused push, or under a second name) answers at once", async () => {
    // ~23 MB of fp32 weights: big enough that a client still sending it when the edge answers
    // would hang or break its connection (the defect this guards against).
    const model = join(tmp, "big.onnx");
    const bytes = buildMlpFp32({ layers: mlpWeights([784, 2048, 2048, 10], 3), input: "pixels", output: "probabilities" });
    writeFileSync(model, bytes);
    expect(bytes.byteLength).toBeGreaterThan(20 << 20);
    const untrusted = await writeKeyPair(join(tmp, "untrusted-big"));
    expectFailure(await meridian(["push", model, "--name", "big", "--key", untrusted.privateKeyFile, "--timeout", "20"], env), /^meridian: push failed: 400 .*signature/);
    const again = await ok(["push", model, "--name", "big", "--timeout", "20"]);
    expect(again).toMatchObject({ name: "big", version: 1, artifactCreated: false, size: bytes.byteLength });
    const renamed = await ok(["push", model, "--name", "big-copy", "--timeout", "20"]);
    expect(renamed).toMatchObject({ name: "big-copy", version: 1, artifactCreated: false });
    // A client that sends the stored bytes anyway (no check first) gets its answer too, and the
    // connection it used keeps working.
    const client = connect({ url: server.url, token: TOKEN, timeoutMs: 20_000 });
    for (let i = 0; i < 3; i++) {
      expect(await client.uploadArtifact(again.sha256, bytes, bytes.byteLength)).toMatchObject({ created: false, size: bytes.byteLength });
      expect((await client.list()).models.length).toBeGreaterThan(0);
    }
  });

  it("canary starts a split beside the serving version and --percent 0 ends it", async () => {
    expect(await ok(["canary", "iris", "2", "--percent", "50"])).toMatchObject({ serving: 1, canary: { version: 2, percent: 50 } });
    const listed = (await ok(["list"])).models.find((m: { name: string }) => m.name === "iris");
    expect(listed.canary).toEqual({ version: 2, percent: 50 });
    expect(await ok(["canary", "iris", "2", "--percent", "0"])).toMatchObject({ serving: 1, canary: null });
  });

  it("push --manifest: a hand-written manifest for the same bytes gets the next version", async () => {
    const model = join(tmp, "iris-manifest.onnx");
    const bytes = writeIrisModel(model, 9);
    const manifest = await manifestFor(bytes, { name: "iris", version: 99, quantization: "none", metrics: { accuracy: 0.97 } });
    const file = join(tmp, "iris-manifest.json");
    writeFileSync(file, JSON.stringify(parseManifest(manifest)));
    const pushed = await ok(["push", model, "--manifest", file]);
    expect(pushed).toMatchObject({ name: "iris", version: 3, state: "validated" });
  });

  it("train --push --promote: what the trainer just learned is what the edge serves", async () => {
    // A small real CSV (iris rows, labels as class names) keeps the training run short.
    const rows = [[5.1, 3.5, 1.4, 0.2, "setosa"], [4.9, 3.0, 1.4, 0.2, "setosa"], [6.4, 3.2, 4.5, 1.5, "versicolor"], [5.5, 2.3, 4.0, 1.3, "versicolor"], [6.3, 3.3, 6.0, 2.5, "virginica"], [7.1, 3.0, 5.9, 2.1, "virginica"]];
    const csv = join(tmp, "flowers.csv");
    writeFileSync(csv, ["a,b,c,d,label", ...Array.from({ length: 10 }, () => rows.map((r) => r.join(","))).flat()].join("\n") + "\n");
    const out = join(tmp, "trained");
    const run = await meridian(["train", "--dataset", `csv:${csv}`, "--out", out, "--name", "flowers", "--epochs", "3", "--push", "--promote", "--json"], env);
    expect(run.code, run.stderr).toBe(0);
    const published = run.stdout.trim().split("\n").map((l) => JSON.parse(l) as { event?: string; name?: string; version?: number; promoted?: boolean }).find((e) => e.event === "published");
    expect(published).toMatchObject({ name: "flowers", version: 1, promoted: true });
    const res = await fetch(`${server.url}/v2/models/flowers`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ name: "flowers", properties: { version: "1", quantization: expect.stringMatching(/^int8/) } });
  });

  it("train --dataset spam --push: the edge featurizes raw text exactly as the trainer did", async () => {
    const out = join(tmp, "trained-spam");
    const args = ["train", "--dataset", "spam", "--limit", "400", "--dimensions", "512", "--epochs", "2", "--out", out, "--name", "mail", "--push", "--promote", "--json"];
    const run = await meridian(args, env);
    expect(run.code, run.stderr).toBe(0);
    const manifest = JSON.parse(readFileSync(join(out, "published.manifest.json"), "utf8")) as Manifest;
    expect(manifest.preprocessing).toMatchObject({ id: "hashed-bow-v1", params: { dimensions: 512 } });
    const texts = ["FREE $$$ offer!!! click now to WIN", "Lunch tomorrow? I'll bring the slides for the review.", "Ünïcödé 🎉 text"];
    const res = await fetch(`${server.url}/v1/predict/mail`, { method: "POST", body: JSON.stringify({ instances: texts }) });
    expect(res.status, await res.clone().text()).toBe(200);
    const web = ((await res.json()) as { predictions: Array<{ probabilities: number[] }> }).predictions.flatMap((p) => p.probabilities);
    // The trainer's side: its featurizer (from the manifest it wrote) and its int8 file in onnxruntime-node.
    const features = featurizeBatch(featurizerFor(manifest.preprocessing!), texts);
    const session = await ortNode.InferenceSession.create(readFileSync(join(out, "model-int8.onnx")), { intraOpNumThreads: 1 });
    const native = (await session.run({ features: new ortNode.Tensor("float32", features, [texts.length, 512]) })).probabilities!.data as Float32Array;
    await session.release();
    expect(web).toHaveLength(native.length);
    web.forEach((p, i) => expect(Math.abs(p - native[i]!)).toBeLessThan(1e-5));
  });
});

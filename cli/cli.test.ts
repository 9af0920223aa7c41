// The `meridian` version commands, run as a real child process: offline checks (key files,
// argument validation, the one-line failure contract), then the publish flow against `wrangler dev`.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
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
import { sha256Hex } from "../shared/hash";
import { grouped } from "../shared/limits";
import { startSeeded, type DevServer } from "../dev/local";
import { registerAdminCommands } from "./admin";
import { runMeridian, type Run } from "../test/node/meridian";
import { MeridianClient } from "../client";
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
    for (const name of ["keygen", "push", "promote", "rollback", "canary", "list", "history", "status", "predict"]) {
      const cmd = program.commands.find((c) => c.name() === name);
      expect(cmd, name).toBeDefined();
      expect(cmd!.helpInformation()).toContain(`Usage: meridian ${name}`);
      expect(cmd!.helpInformation()).toContain("--json");
    }
    const run = await meridian(["push", "--help"]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/Usage: meridian push \[options\] <model\.onnx>[\s\S]*--manifest[\s\S]*--key <file>/);
  });

  it("loads no TensorFlow.js, BullMQ or S3 client until a command needs them", async () => {
    // A resolve hook in the child names every heavy package it is asked for.
    const hooks = join(tmp, "heavy-hooks.mjs");
    writeFileSync(hooks, `export async function resolve(spec, ctx, next) {
  if (/^(@tensorflow\\/tfjs|bullmq|@aws-sdk\\/client-s3)/.test(spec)) process.stderr.write("heavy: " + spec + "\\n");
  return next(spec, ctx);
}\n`);
    const register = join(tmp, "heavy-register.mjs");
    writeFileSync(register, `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
    const env = { NODE_OPTIONS: `--import ${pathToFileURL(register).href}` };
    const help = await meridian(["shard", "--help"], env);
    expect(help.code, help.stderr).toBe(0);
    expect(help.stderr).not.toMatch(/heavy:/);
    // The hook does see them once a command loads them (train's backend).
    const train = await meridian(["train", "--dataset", "weather", "--epochs", "1", "--out", join(tmp, "heavy-train"), "--json"], env);
    expect(train.code, train.stderr).toBe(0);
    expect(train.stderr).toMatch(/heavy: @tensorflow\/tfjs/);
  });

  it("rejects bad arguments and missing credentials with one line and exit 1, before any request", async () => {
    const model = join(tmp, "args.onnx");
    writeIrisModel(model, 5);
    const key = (await writeKeyPair(join(tmp, "args"))).privateKeyFile;
    // Nothing listens there: a request that was sent fails differently ("cannot reach").
    const env = { MERIDIAN_URL: `http://127.0.0.1:${await closedPort()}`, MERIDIAN_TOKEN: "t" };
    const [version, percent, name, token, noKey, noFile, labels, serving, servingJson, unreachable] = await Promise.all([
      meridian(["promote", "iris", "two"], env),
      meridian(["canary", "iris", "2", "--percent", "150"], env),
      meridian(["history", "Not A Name"], env),
      meridian(["list"], { MERIDIAN_URL: env.MERIDIAN_URL }),
      meridian(["push", model, "--name", "iris"], env),
      meridian(["push", join(tmp, "missing.onnx"), "--name", "iris", "--key", key], env),
      meridian(["push", model, "--name", "iris", "--key", key, "--labels", '{"nope":["a"]}'], env),
      meridian(["push", model, "--name", "iris", "--key", key, "--serving", '{"batching":{"maxBatchSize":0,"maxQueueDelayMs":2}}'], env),
      meridian(["push", model, "--name", "iris", "--key", key, "--serving", '{"cache":'], env),
      meridian(["list"], env),
    ]);
    expectUsageError(version, /invalid for argument 'version'.*positive integers/);
    expectUsageError(percent, /'--percent <p>' argument '150' is invalid/);
    expectUsageError(name, /invalid for argument 'name'/);
    expectFailure(token, /^meridian: list failed: no admin token: pass --token or set MERIDIAN_TOKEN$/m);
    expectFailure(noKey, /^meridian: push failed: no signing key: pass --key/);
    expectFailure(noFile, /^meridian: push failed: .*missing\.onnx does not exist/);
    expectFailure(labels, /^meridian: push failed: --labels names output "nope", but the model's outputs are probabilities, label/);
    expectFailure(serving, /^meridian: push failed: --serving: batching\.maxBatchSize: /m);
    expectFailure(servingJson, /^meridian: push failed: --serving is not JSON: \{"cache":$/m);
    expectFailure(unreachable, /^meridian: list failed: cannot reach http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED$/m);
  });

  it("train --rollout: refuses --promote beside it, bad rollout flags and missing credentials before loading any data", async () => {
    const key = (await writeKeyPair(join(tmp, "rollout-args"))).privateKeyFile;
    const env = { MERIDIAN_URL: `http://127.0.0.1:${await closedPort()}`, MERIDIAN_TOKEN: "t" };
    const out = join(tmp, "never-written");
    const train = (...extra: string[]) => meridian(["train", "--dataset", "weather", "--out", out, "--rollout", "--key", key, ...extra], env);
    const [stray, both, steps, agreement, noToken] = await Promise.all([
      meridian(["train", "--dataset", "weather", "--out", out, "--push", "--steps", "50,100", "--by-region"], env),
      train("--promote"),
      train("--steps", "5,1,100"),
      train("--min-agreement", "99%"),
      meridian(["train", "--dataset", "weather", "--out", out, "--rollout", "--key", key], { MERIDIAN_URL: env.MERIDIAN_URL }),
    ]);
    expectUsageError(stray, /^error: --steps, --by-region only apply with --rollout$/);
    expectFailure(both, /^meridian: train failed: --rollout and --promote both decide what serves: pass one/);
    expectFailure(steps, /^meridian: train failed: rollout flags: steps must increase: 5,1,100$/m);
    expectFailure(agreement, /^meridian: train failed: rollout flags: the agreement gate cannot be evaluated without shadow traffic/);
    expectFailure(noToken, /^meridian: train failed: no admin token: pass --token or set MERIDIAN_TOKEN$/m);
    expect(() => statSync(out)).toThrow(); // nothing trained, nothing written
  });

  it("predict: refuses missing or malformed rows before any request, and names an unreachable edge", async () => {
    const env = { MERIDIAN_URL: `http://127.0.0.1:${await closedPort()}` };
    const [none, both, notJson, notRows, unreachable] = await Promise.all([
      meridian(["predict", "iris"], env),
      meridian(["predict", "iris", "--data", "[]", "--file", "x.json"], env),
      meridian(["predict", "iris", "--data", "[[1,2"], env),
      meridian(["predict", "iris", "--data", '{"rows": 1}'], env),
      meridian(["predict", "iris", "--data", "[[5.1,3.5,1.4,0.2]]", "--timeout", "2"], env),
    ]);
    expectFailure(none, /^meridian: predict failed: give the rows with --data '<json>' or --file <file> \(one of them\)$/m);
    expectFailure(both, /^meridian: predict failed: give the rows with --data/m);
    expectFailure(notJson, /^meridian: predict failed: --data is not JSON: /m);
    expectFailure(notRows, /^meridian: predict failed: expected rows/m);
    // The client retried the refused connection before giving up (3 attempts by default).
    expectFailure(unreachable, /^meridian: predict failed: cannot reach http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED \(GET \/v2\/models\/iris\)$/m);
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
  const MODEL_CEILING = 24 << 20;
  const state = join(tmp, "state");
  const keys = join(tmp, "edge-keys");
  let server: DevServer;
  let env: Record<string, string>;

  beforeAll(async () => {
    const keygen = await meridian(["keygen", "--out", keys, "--json"]);
    expect(keygen.code, keygen.stderr).toBe(0);
    const made = JSON.parse(keygen.stdout) as { publicKey: string; privateKeyFile: string };
    const credentials = { adminToken: TOKEN, publicKey: made.publicKey, privateKey: readFileSync(made.privateKeyFile, "utf8").trim() };
    // A short pointer TTL so a promote shows up in predictions within the polling window. A model
    // ceiling above the default, for the tens of MB the transport test pushes; the size test goes over it.
    // Metrics flushed every 500 ms, so a rollout's gates see its traffic within a short step.
    server = await startSeeded({ stateDir: state, credentials, vars: { POINTER_TTL_MS: "200", METRICS_FLUSH_MS: "500", MAX_MODEL_BYTES: String(MODEL_CEILING) } });
    env = { MERIDIAN_URL: server.url, MERIDIAN_TOKEN: TOKEN, MERIDIAN_SIGNING_KEY_FILE: join(keys, "meridian-signing.key") };
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
  });

  async function servedVersion(): Promise<string | null> {
    const client = new MeridianClient({ baseUrl: server.url });
    const answer = await client.infer("iris", { inputs: [{ name: "measurements", datatype: "FP32", shape: [1, 4], values: [5.1, 3.5, 1.4, 0.2] }] });
    return answer.version;
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

  it("push --serving: the version caches and batches as its manifest says; settings the edge cannot honour are refused at push", async () => {
    const model = join(tmp, "iris-serving.onnx");
    writeIrisModel(model, 9);
    const settings = join(tmp, "serving.json");
    writeFileSync(settings, JSON.stringify({ cache: { enabled: true }, batching: { maxBatchSize: 16, maxQueueDelayMs: 5 } }));
    const pushed = await ok(["push", model, "--name", "iris-serving", "--serving", settings]);
    expect(pushed).toMatchObject({ name: "iris-serving", version: 1 });
    await ok(["promote", "iris-serving", "1"]);
    const client = new MeridianClient({ baseUrl: server.url, retry: { maxAttempts: 1 } });
    const request = { inputs: [{ name: "measurements", datatype: "FP32" as const, shape: [1, 4], values: [5.9, 3.0, 5.1, 1.8] }] };
    const first = await client.infer("iris-serving", request);
    const again = await client.infer("iris-serving", request);
    expect([first.cache, again.cache]).toEqual(["miss", "hit-isolate"]);
    expect(first.batchRows).toBe(1); // batching on: alone in its run
    const together = await Promise.all(Array.from({ length: 6 }, (_, i) => client.infer("iris-serving", { inputs: [{ ...request.inputs[0]!, values: [5, 3, 1 + i / 10, 0.2] }] })));
    expect(Math.max(...together.map((a) => a.batchRows!))).toBeGreaterThan(1);

    const warmupFails = JSON.stringify({ warmup: [{ inputs: [{ name: "nope", datatype: "FP32", shape: [1, 4], data: [0, 0, 0, 0] }] }] });
    expectFailure(await meridian(["push", model, "--name", "iris-serving", "--serving", warmupFails], env), /^meridian: push failed: 400 .*warm-up request 1 of the manifest failed: it has no input "measurements"/m);
    expect((await ok(["list"])).models.find((m: { name: string }) => m.name === "iris-serving")).toMatchObject({ serving: 1, latest: 1 });
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

  it("predict: rows in, typed outputs out, as JSON or binary tensors, through the client library", async () => {
    const rows = "[[5.1,3.5,1.4,0.2],[6.3,3.3,6.0,2.5]]";
    const oneRow = join(tmp, "one-row.json");
    writeFileSync(oneRow, "[5.1,3.5,1.4,0.2]");
    // Every datatype, 64-bit integers beyond 2^53 as decimal strings (how JSON carries them).
    const dtypes = join(tmp, "dtypes-request.json");
    const sample: Record<string, unknown[]> = {
      BOOL: [true, false], UINT8: [255], UINT16: [65535], UINT32: [4294967295], UINT64: ["18446744073709551615"], INT8: [-128], INT16: [-32768],
      INT32: [-2147483648], INT64: ["-9223372036854775808", 9007199254740993n.toString()], FP16: [0.5, 65504], FP32: [1.5], FP64: [Math.PI], BYTES: ["ünï ✓", ""],
    };
    writeFileSync(dtypes, JSON.stringify({ id: "all-types", inputs: Object.entries(sample).map(([dt, data]) => ({ name: `x_${dt.toLowerCase()}`, datatype: dt, shape: [data.length], data })) }));
    const [json, binary, pinned, text, echo, human, bad, unknown] = await Promise.all([
      ok(["predict", "iris", "--data", rows, "--id", "cli-1"]),
      ok(["predict", "iris", "--data", rows, "--binary", "--id", "cli-1"]),
      ok(["predict", "iris", "--file", oneRow, "--version", "1"]),
      ok(["predict", "spam", "--data", '["WIN a FREE cruise!!! Claim your $500 prize now, click here"]']),
      ok(["predict", "dtypes", "--file", dtypes, "--binary"]),
      meridian(["predict", "iris", "--data", rows], env),
      meridian(["predict", "iris", "--data", "[[1,2,3]]"], env),
      meridian(["predict", "no-such-model", "--data", "[[1]]"], env),
    ]);
    expect(json).toMatchObject({ model_name: "iris", model_version: "1", id: "cli-1", encoding: "json", variant: "stable", backend: "wasm", attempts: 1, hedged: false });
    expect(json.outputs.map((o: { name: string; datatype: string; shape: number[] }) => [o.name, o.datatype, o.shape])).toEqual([["probabilities", "FP32", [2, 3]], ["label", "INT64", [2]]]);
    expect(json.outputs[1].data).toEqual([0, 2]);
    expect(binary).toMatchObject({ id: "cli-1", encoding: "binary", outputs: json.outputs });
    // Eight floats: the framing costs about what the digits save (bench:dataplane measures the saving on large inputs).
    expect(binary.bytesSent).toBeGreaterThan(0);
    expect(pinned).toMatchObject({ variant: "pinned", version: "1", outputs: [{ name: "probabilities", shape: [1, 3] }, { name: "label", data: [0] }] });
    expect(text.outputs.find((o: { name: string }) => o.name === "label").data).toEqual([1]);
    expect(echo.id).toBe("all-types");
    for (const [dt, data] of Object.entries(sample)) {
      const out = echo.outputs.find((o: { name: string }) => o.name === `y_${dt.toLowerCase()}`);
      const expected = dt === "FP32" ? data.map((v) => Math.fround(v as number)) : dt.endsWith("INT64") ? data.map((v) => (Number.isSafeInteger(Number(v)) ? Number(v) : v)) : data;
      expect(out.data, dt).toEqual(expected);
    }
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/^iris v1 \(stable\) at \w+, backend wasm, route local; json: \d+ B sent, \d+ B received\nprobabilities FP32 \[2, 3\]\n  \[0\.99\d*,[^\n]+\]\n  \[[^\n]+\]\nlabel INT64 \[2\]\n  0\n  2\n$/);
    expectFailure(bad, /^meridian: predict failed: 400 input "measurements": shape \[1, 3\] is not accepted/);
    expectFailure(unknown, /^meridian: predict failed: 404 .*no-such-model/);
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

  it("a model over MAX_MODEL_BYTES: push refuses it before uploading anything, naming both sizes; the edge refuses it too", async () => {
    const model = join(tmp, "huge.onnx");
    const bytes = buildMlpFp32({ layers: mlpWeights([784, 2600, 2048, 10], 4), input: "pixels", output: "probabilities" });
    writeFileSync(model, bytes);
    expect(bytes.byteLength).toBeGreaterThan(MODEL_CEILING);
    const sha256 = await sha256Hex(bytes);
    const refusal = `model is ${grouped(bytes.byteLength)} bytes; a PoP serves models up to ${grouped(MODEL_CEILING)} bytes (MAX_MODEL_BYTES: `;
    const before = (await ok(["list"])).models.find((m: { name: string }) => m.name === "iris");

    const run = await meridian(["push", model, "--name", "iris"], env);
    expectFailure(run, new RegExp(`^meridian: push failed: ${refusal.replace(/[()]/g, "\\$&")}`, "m"));
    const client = connect({ url: server.url, token: TOKEN, timeoutMs: 20_000 });
    expect(await client.artifact(sha256)).toBeNull();
    expect((await ok(["list"])).models.find((m: { name: string }) => m.name === "iris")).toEqual(before);
    expect(await servedVersion()).toBe("1");

    // A client that skips the check: the edge answers 413 with the same sentence and stores nothing.
    const err = await client.uploadArtifact(sha256, bytes, bytes.byteLength).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 413, body: { error: expect.stringContaining(refusal) } });
    expect(await client.artifact(sha256)).toBeNull();
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
    // The held-out accuracy's Wilson interval rides in the manifest's metrics, and the edge took it.
    const manifest = JSON.parse(readFileSync(join(out, "published.manifest.json"), "utf8")) as Manifest;
    const { accuracy, accuracy_ci95_low: low, accuracy_ci95_high: high, heldout_correct: correct, heldout_rows: heldOut } = manifest.metrics;
    expect(correct! / heldOut!).toBeCloseTo(accuracy!, 12);
    expect(low).toBeLessThanOrEqual(accuracy!);
    expect(high).toBeGreaterThanOrEqual(accuracy!);
    const stored = await connect({ url: server.url, token: TOKEN }).model("flowers");
    expect(stored?.versions.map((v) => v.version)).toEqual([1]);
    const metadata = await new MeridianClient({ baseUrl: server.url }).metadata("flowers");
    expect(metadata).toMatchObject({ name: "flowers", properties: { version: "1", quantization: expect.stringMatching(/^int8/) } });
  });

  it("train --rollout: the trained version goes out step by step under load and serves everyone; one that disagrees with stable rolls back, exit 1, stable untouched", async () => {
    // Iris rows; "blooms-swapped" has every label moved to the next class, so a model trained on
    // it disagrees with one trained on the real labels wherever both learned anything.
    const rows = [[5.1, 3.5, 1.4, 0.2, 0], [4.9, 3.0, 1.4, 0.2, 0], [6.4, 3.2, 4.5, 1.5, 1], [5.5, 2.3, 4.0, 1.3, 1], [6.3, 3.3, 6.0, 2.5, 2], [7.1, 3.0, 5.9, 2.1, 2]] as const;
    const names = ["setosa", "versicolor", "virginica"];
    const write = (file: string, shift: number) =>
      writeFileSync(file, ["a,b,c,d,label", ...Array.from({ length: 10 }, () => rows.map((r) => [...r.slice(0, 4), names[(r[4] + shift) % 3]].join(","))).flat()].join("\n") + "\n");
    const good = join(tmp, "blooms.csv");
    const swapped = join(tmp, "blooms-swapped.csv");
    write(good, 0);
    write(swapped, 1);
    const train = (csv: string, out: string, ...extra: string[]) =>
      meridian(["train", "--dataset", `csv:${csv}`, "--out", join(tmp, out), "--name", "blooms", "--epochs", "20", "--batch-size", "8", "--lr", "0.05", "--checkpoint-every", "0", ...extra], env);
    const events = (stdout: string) => stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown> & { event?: string; action?: string });

    // Nothing serves "blooms" yet: refused once the name is known, before a training step.
    const early = await train(good, "blooms-0", "--rollout");
    expectFailure(early, /^meridian: train failed: --rollout replaces the serving version of "blooms", and nothing serves it yet: publish a first version with --push --promote$/m);
    expect(() => statSync(join(tmp, "blooms-0"))).toThrow();

    const first = await train(good, "blooms-1", "--push", "--promote", "--json");
    expect(first.code, first.stderr).toBe(0);

    // Load: distinct callers, so the sticky canary split sends some of them to the candidate.
    let running = true;
    const statuses: Record<number, number> = {};
    let n = 0;
    const loop = async () => {
      while (running) {
        const res = await fetch(`${server.url}/v1/predict/blooms`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-user-id": `caller-${n++}` },
          body: JSON.stringify({ instances: [rows[n % rows.length]!.slice(0, 4)] }),
        });
        await res.arrayBuffer();
        statuses[res.status] = (statuses[res.status] ?? 0) + 1;
      }
    };
    const loops = [loop(), loop()];
    try {
      const rollout = ["--steps", "50,100", "--interval", "2s", "--min-requests", "10", "--max-p99-ratio", "100"];
      const second = await train(good, "blooms-2", "--seed", "2", "--rollout", ...rollout, "--json");
      expect(second.code, second.stderr).toBe(0);
      const seen = events(second.stdout);
      expect(seen.find((e) => e.event === "pushed")).toMatchObject({ name: "blooms", version: 2 });
      // Each step as it happened ("wait": a step that lacked --min-requests at its end, on a loaded machine).
      expect(seen.filter((e) => e.event === "rollout" && e.action !== "wait").map((e) => [e.action, e.percent])).toEqual([["start", 50], ["step", 100], ["complete", 100]]);
      expect(seen.at(-1)).toMatchObject({ event: "published", name: "blooms", version: 2, promoted: true, rollout: "succeeded" });
      const status = await ok(["rollout", "status", "blooms"]);
      expect(status.rollout).toMatchObject({ version: 2, stable: 1, state: "succeeded" });
      expect(status.rollout.history.map((h: { action: string }) => h.action)).toEqual(seen.filter((e) => e.event === "rollout").map((e) => e.action));

      // v3 learned the swapped labels: the shadow phase's agreement gate fails and rolls it back.
      const third = await train(swapped, "blooms-3", "--rollout", "--shadow", "100", "--min-agreement", "90%", ...rollout);
      expectFailure(third, /^meridian: train failed: rollout of blooms v3 rolled back in its shadow phase \(agreement: \d+ of \d+ shadow rows agreed .*; limit 90\.00%\); v2 still serves$/m);
      expect(third.stdout).toMatch(/^pushed blooms v3 \(validated\); rolling it out$/m);
      expect(third.stdout).toMatch(/^rollout: \S+\s+shadow\s+\d+%\s+\S+: started by /m);
      expect(third.stdout).toMatch(/^rollout: \S+\s+rollback\s+.*agreement/m);
      const history = await meridian(["rollout", "status", "blooms"], env);
      expect(history.stdout).toMatch(/^blooms: rollout of v3 over v2: rolled_back/);
      expect(history.stdout).toMatch(/rollback\s+.*agreement/);
    } finally {
      running = false;
      await Promise.all(loops);
    }
    expect(Object.keys(statuses).filter((s) => Number(s) >= 500)).toEqual([]);
    const list = await ok(["list"]);
    expect(list.models.find((m: { name: string }) => m.name === "blooms")).toMatchObject({ serving: 2 });
  }, 300_000);

  it("train --dataset spam --push: the edge featurizes raw text exactly as the trainer did", async () => {
    const out = join(tmp, "trained-spam");
    const args = ["train", "--dataset", "spam", "--limit", "400", "--dimensions", "512", "--epochs", "2", "--out", out, "--name", "mail", "--push", "--promote", "--json"];
    const run = await meridian(args, env);
    expect(run.code, run.stderr).toBe(0);
    const manifest = JSON.parse(readFileSync(join(out, "published.manifest.json"), "utf8")) as Manifest;
    expect(manifest.preprocessing).toMatchObject({ id: "hashed-bow-v1", params: { dimensions: 512 } });
    const texts = ["FREE $$$ offer!!! click now to WIN", "Lunch tomorrow? I'll bring the slides for the review.", "Ünïcödé 🎉 text"];
    const { predictions } = await new MeridianClient({ baseUrl: server.url }).predict("mail", texts);
    const web = predictions.flatMap((p) => p.probabilities as number[]);
    // The trainer's side: its featurizer (from the manifest it wrote) and its int8 file in onnxruntime-node.
    const features = featurizeBatch(featurizerFor(manifest.preprocessing!), texts);
    const session = await ortNode.InferenceSession.create(readFileSync(join(out, "model-int8.onnx")), { intraOpNumThreads: 1 });
    const native = (await session.run({ features: new ortNode.Tensor("float32", features, [texts.length, 512]) })).probabilities!.data as Float32Array;
    await session.release();
    expect(web).toHaveLength(native.length);
    web.forEach((p, i) => expect(Math.abs(p - native[i]!)).toBeLessThan(1e-5));
  });
});

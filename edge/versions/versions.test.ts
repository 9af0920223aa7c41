// The publish flow through the admin API: push → validate → promote → served, CAS, rollback,
// canary, and every refused push leaving the serving version untouched.
import { SELF, env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { AdminError } from "../../shared/admin-client";
import { sha256Hex } from "../../shared/hash";
import type { Manifest } from "../../shared/manifest";
import { manifestFor } from "../../shared/onnx/manifest";
import { signManifest } from "../../shared/signing";
import { artifactKey } from "./artifacts";
import { pointerKey } from "./pointer";
import { BASE, irisRequest, post } from "../../test/edge/client";
import { json, popAt } from "../../test/edge/pop";
import { admin, expectAdminError, fixture, seed } from "../../test/edge/seed";

const v2Bytes = () => Uint8Array.from(atob(inject("irisV2")), (c) => c.charCodeAt(0));

async function servedVersion(model = "iris", headers: Record<string, string> = {}): Promise<string | null> {
  const res = await post(`/v2/models/${model}/infer`, irisRequest(), { headers });
  expect(res.status, await res.clone().text()).toBe(200);
  return res.headers.get("x-meridian-model-version");
}

/** Waits for the PoP to swap in the background after a pointer change (bounded). */
async function eventuallyServed(model: string, version: string): Promise<void> {
  const deadline = Date.now() + 5000;
  let seen = await servedVersion(model);
  while (seen !== version && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 25));
    seen = await servedVersion(model);
  }
  expect(seen).toBe(version);
}

/** A model of its own per test, so tests do not depend on each other's pointer moves. */
async function freshModel(name: string, bytes: Uint8Array = v2Bytes()): Promise<{ v1: Manifest; v2: Manifest }> {
  const client = admin();
  const base = fixture("iris");
  const v1 = await client.publish({ ...base.manifest, name }, base.bytes, env.TEST_SIGNING_KEY, { promote: true });
  const m2 = await manifestFor(bytes, { name, version: 1, quantization: "none", labels: base.manifest.labels });
  await client.uploadArtifact(m2.sha256, bytes, bytes.byteLength);
  const { manifest: v2 } = await client.register(m2, env.TEST_SIGNING_KEY);
  return { v1, v2 };
}

beforeAll(() => seed(["iris"]));

describe("publish flow", () => {
  it("push → validate → promote → served, with history and status", async () => {
    const { v1, v2 } = await freshModel("flow");
    expect([v1.version, v2.version]).toEqual([1, 2]);
    expect(await servedVersion("flow")).toBe("1");
    const client = admin();
    const detail = await client.model("flow");
    expect(detail).toMatchObject({ serving: 1, nextVersion: 3 });
    expect(detail!.versions.map((v) => v.state)).toEqual(["serving", "validated"]);

    await client.promote("flow", 2, 1);
    await eventuallyServed("flow", "2");
    expect((await client.model("flow"))!.versions.map((v) => v.state)).toEqual(["retired", "serving"]);
    // Pinned versions keep answering.
    const pinned = await post("/v2/models/flow/versions/1/infer", irisRequest());
    expect(pinned.headers.get("x-meridian-model-version")).toBe("1");

    const history = await client.history("flow");
    expect(history.events.map((e) => [e.action, e.from, e.to])).toEqual([
      ["push", null, 1],
      ["promote", null, 1],
      ["push", null, 2],
      ["promote", 1, 2],
    ]);
    const status = await client.status("flow");
    expect(status.serving).toBe(2);
    expect(status.pops.length).toBeGreaterThan(0);
    expect(status.pops[0]).toMatchObject({ version: 2, seq: status.seq, failed: null });
  });

  it("the first request after a promote is answered by the new version when it loads within the wait", async () => {
    await freshModel("prompt");
    expect(await servedVersion("prompt")).toBe("1");
    await admin().promote("prompt", 2, 1);
    // No polling: the request that discovers the pointer waits (up to NEW_VERSION_WAIT_MS) for v2.
    expect(await servedVersion("prompt")).toBe("2");
  });

  it("a load slower than the wait: the discovering request gets the old version, the swap follows", async () => {
    await freshModel("slow-load");
    const pop = popAt("YYZ", { NEW_VERSION_WAIT_MS: "0" });
    const version = async () => (await pop("/v2/models/slow-load/infer", json(irisRequest()))).headers.get("x-meridian-model-version");
    expect(await version()).toBe("1");
    await admin().promote("slow-load", 2, 1);
    expect(await version()).toBe("1"); // answered at once; v2 loads in the background
    let seen = await version();
    for (let i = 0; i < 100 && seen !== "2"; i++) seen = await version();
    expect(seen).toBe("2");
  });

  it("status reports what a PoP serves apart from the pointer it failed to load", async () => {
    const { v2 } = await freshModel("status-fail");
    const pop = popAt("YUL");
    expect((await pop("/v2/models/status-fail/infer", json(irisRequest()))).status).toBe(200);
    const key = artifactKey(v2.sha256);
    const bytes = await (await env.ARTIFACTS.get(key))!.arrayBuffer();
    await env.ARTIFACTS.delete(key);
    try {
      const promoted = await admin().promote("status-fail", 2, 1);
      const res = await pop("/v2/models/status-fail/infer", json(irisRequest()));
      expect(res.headers.get("x-meridian-model-version")).toBe("1");
      const status = await admin().status("status-fail");
      const yul = status.pops.find((p) => p.colo === "YUL");
      // It serves v1 at the old seq, and says separately that the new pointer failed.
      expect(yul).toMatchObject({
        version: 1,
        failed: { seq: promoted.seq, version: 2, error: expect.stringMatching(/artifact missing from storage/) },
      });
      expect(yul!.seq).toBeLessThan(status.seq);
    } finally {
      await env.ARTIFACTS.put(key, bytes);
    }
  });

  it("two concurrent promotes: exactly one wins, the other gets 409", async () => {
    const { v2 } = await freshModel("race");
    const client = admin();
    const results = await Promise.allSettled([client.promote("race", v2.version, 1), client.promote("race", v2.version, 1)]);
    const won = results.filter((r) => r.status === "fulfilled");
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]!.reason).toBeInstanceOf(AdminError);
    expect((lost[0]!.reason as AdminError).status).toBe(409);
    await expectAdminError(client.promote("race", 1, 1), 409, /expected version 1 to be serving, but 2 is/);
  });

  it("rollback returns to the previous version, and refuses when there is none", async () => {
    await freshModel("roll");
    const client = admin();
    await expectAdminError(client.rollback("roll", 1), 400, /nothing to roll back to/);
    await client.promote("roll", 2, 1);
    await eventuallyServed("roll", "2");
    await expectAdminError(client.rollback("roll", 1), 409, /expected version 1/);
    const after = await client.rollback("roll", 2);
    expect(after.serving).toBe(1);
    await eventuallyServed("roll", "1");
  });

  it("canary: the split is near the percentage and sticky per caller", async () => {
    await freshModel("canary");
    const client = admin();
    await client.canary("canary", 2, 20, 1);
    await new Promise((r) => setTimeout(r, 200)); // let this PoP load the canary beside version 1
    await servedVersion("canary");
    await new Promise((r) => setTimeout(r, 200));
    const n = 200;
    const seen = new Map<string, string>();
    for (let i = 0; i < n; i++) {
      const res = await post("/v2/models/canary/infer", irisRequest(), { headers: { "x-user-id": `user-${i}` } });
      seen.set(`user-${i}`, `${res.headers.get("x-meridian-variant")}:${res.headers.get("x-meridian-model-version")}`);
    }
    const canaries = [...seen.values()].filter((v) => v === "canary:2").length;
    // Binomial(200, 0.2): mean 40, sd 5.7; ±4 sd.
    expect(canaries).toBeGreaterThan(17);
    expect(canaries).toBeLessThan(63);
    expect([...seen.values()].every((v) => v === "canary:2" || v === "stable:1")).toBe(true);
    for (const user of ["user-1", "user-2", "user-3"]) {
      for (let k = 0; k < 3; k++) {
        const res = await post("/v2/models/canary/infer", irisRequest(), { headers: { "x-user-id": user } });
        expect(`${res.headers.get("x-meridian-variant")}:${res.headers.get("x-meridian-model-version")}`).toBe(seen.get(user));
      }
    }
    const ended = await client.canary("canary", 2, 0, 1);
    expect(ended.canary).toBeNull();
  });
});

describe("refused pushes change nothing", () => {
  const client = () => admin();

  async function unchanged(model: string, version: number) {
    expect((await client().model(model))!.serving).toBe(version);
    expect(await servedVersion(model)).toBe(String(version));
  }

  it("artifact bytes that do not hash to their key", async () => {
    const bytes = v2Bytes();
    const wrong = await sha256Hex(new Uint8Array([1, 2, 3]));
    await expectAdminError(client().uploadArtifact(wrong, bytes, bytes.byteLength), 400, /do not hash to/);
    await unchanged("iris", 1);
  });

  it("an artifact that is not ONNX", async () => {
    const junk = new TextEncoder().encode("this is not a model at all, just some text");
    const sha = await sha256Hex(junk);
    await client().uploadArtifact(sha, junk, junk.byteLength);
    const manifest = { ...fixture("iris").manifest, sha256: sha, size: junk.byteLength };
    await expectAdminError(client().register(manifest, env.TEST_SIGNING_KEY), 400, /not a valid ONNX model/);
    await unchanged("iris", 1);
  });

  it("a manifest that does not match the graph", async () => {
    const { manifest, bytes } = fixture("iris");
    await client().uploadArtifact(manifest.sha256, bytes, bytes.byteLength);
    const lying = { ...manifest, inputs: [{ name: "measurements", datatype: "FP32" as const, shape: [-1, 5] }] };
    await expectAdminError(client().register(lying, env.TEST_SIGNING_KEY), 400, /measurements FP32 \[-1, 5\] does not match the graph's measurements FP32 \[-1, 4\]/);
    await unchanged("iris", 1);
  });

  it("a bad signature or an unsigned manifest", async () => {
    const { manifest } = fixture("iris");
    const next = (await client().model("iris"))!.nextVersion;
    const signed = { ...manifest, version: next };
    const forged = await signManifest({ ...signed, version: next + 1 }, env.TEST_SIGNING_KEY);
    await expectAdminError(client().call("POST", "/admin/models/iris/versions", { manifest: signed, signature: forged }), 400, /signature .* does not verify/);
    await expectAdminError(client().call("POST", "/admin/models/iris/versions", { manifest: signed, signature: "" }), 400, /signature/);
    await unchanged("iris", 1);
  });

  it("a missing or wrong token", async () => {
    const res = await SELF.fetch(`${BASE}/admin/models/iris/promote`, { method: "POST", body: JSON.stringify({ version: 1, expected: 1 }) });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: expect.stringMatching(/missing bearer token/) });
    await expectAdminError(admin("wrong-token").promote("iris", 1, 1), 403, /invalid admin token/);
    await unchanged("iris", 1);
  });

  it("an oversize upload", async () => {
    const big = new Uint8Array((2 << 20) + 1);
    await expectAdminError(client().uploadArtifact(await sha256Hex(big), big, big.byteLength), 413, /^model is 2,097,153 bytes; a PoP serves models up to 1,572,864 bytes/);
    await unchanged("iris", 1);
  });

  it("an artifact tampered with after validation is never served", async () => {
    // Its own bytes (content addressing would otherwise share the artifact with other tests).
    await freshModel("tamper", fixture("iris-int8").bytes);
    expect(await servedVersion("tamper")).toBe("1");
    const v2 = (await admin().model("tamper"))!.versions[1]!;
    await env.ARTIFACTS.put(`artifacts/${v2.sha256}`, new Uint8Array([9, 9, 9]));
    await admin().promote("tamper", 2, 1);
    // The PoP keeps serving version 1 and reports why it could not move.
    for (let i = 0; i < 10; i++) {
      expect(await servedVersion("tamper")).toBe("1");
      await new Promise((r) => setTimeout(r, 20));
    }
    const pinned = await post("/v2/models/tamper/versions/2/infer", irisRequest());
    expect(pinned.status).toBe(503);
    expect(await pinned.json()).toMatchObject({ error: expect.stringMatching(/artifact hashes to/) });
    const health = await (await SELF.fetch(`${BASE}/v2/health/ready`)).json<{ models: Record<string, { serving: number; failure: { error: string } | null }> }>();
    expect(health.models.tamper).toMatchObject({ serving: 1, failure: { error: expect.stringMatching(/artifact hashes to/) } });
  });

  it("a late, older pointer never moves a PoP backwards", async () => {
    await freshModel("late");
    await admin().promote("late", 2, 1);
    await eventuallyServed("late", "2");
    await env.POINTERS.put(pointerKey("late"), JSON.stringify({ version: 1, seq: 1, canary: null }));
    expect(await servedVersion("late")).toBe("2");
  });
});

describe("fallback in a fresh isolate", () => {
  it("cannot load the promoted version: serves the one before it, then swaps once it can", async () => {
    const { v2 } = await freshModel("fallback-demo");
    await admin().promote("fallback-demo", 2, 1);
    // v2's artifact is lost from storage after validation, before any PoP loaded it.
    const key = artifactKey(v2.sha256);
    const bytes = await (await env.ARTIFACTS.get(key))!.arrayBuffer();
    await env.ARTIFACTS.delete(key);
    try {
      const pop = popAt("NRT"); // a PoP (isolate state) that serves nothing yet
      const ask = () => pop("/v2/models/fallback-demo/infer", json(irisRequest()));
      const res = await ask();
      expect(res.status, await res.clone().text()).toBe(200);
      expect([res.headers.get("x-meridian-model-version"), res.headers.get("x-meridian-variant")]).toEqual(["1", "fallback"]);
      const ready = await (await pop("/v2/health/ready")).json<{ models: Record<string, unknown> }>();
      expect(ready.models["fallback-demo"]).toMatchObject({
        serving: 1,
        fallbackFor: 2,
        failure: { version: 2, error: expect.stringMatching(/version 2 cannot be served: artifact missing from storage/) },
      });
      // A PoP with peers forwards instead (a peer may serve v2); here no peer answers: 503.
      const withPeers = popAt("HND", { PEERS: JSON.stringify([{ colo: "KIX", url: "http://127.0.0.1:9" }]), PEER_TIMEOUT_MS: "300" });
      const forwarded = await withPeers("/v2/models/fallback-demo/infer", json(irisRequest()));
      expect(forwarded.status).toBe(503);
      expect((await forwarded.json<{ error: string }>()).error).toMatch(/artifact missing from storage.*; no other PoP could answer/);
      // The artifact is back: after the retry interval (5 s) the PoP loads v2 and swaps.
      await env.ARTIFACTS.put(key, bytes);
      await new Promise((r) => setTimeout(r, 5_100));
      let seen: (string | null)[] = [];
      for (let i = 0; i < 40 && seen[0] !== "2"; i++) {
        const r = await ask();
        seen = [r.headers.get("x-meridian-model-version"), r.headers.get("x-meridian-variant")];
        await new Promise((r) => setTimeout(r, 25));
      }
      expect(seen).toEqual(["2", "stable"]);
    } finally {
      if (!(await env.ARTIFACTS.head(key))) await env.ARTIFACTS.put(key, bytes);
    }
  }, 20_000);

  it("a broken canary: a fresh isolate serves the stable version alone, not the one before it", async () => {
    const { v2 } = await freshModel("canary-broken");
    await admin().canary("canary-broken", 2, 10, 1);
    const key = artifactKey(v2.sha256);
    const bytes = await (await env.ARTIFACTS.get(key))!.arrayBuffer();
    await env.ARTIFACTS.delete(key);
    try {
      const pop = popAt("ICN");
      const variants = new Set<string>();
      for (let i = 0; i < 20; i++) {
        const res = await pop("/v2/models/canary-broken/infer", json(irisRequest(), { "x-user-id": `canary-user-${i}` }));
        expect(res.status, await res.clone().text()).toBe(200);
        expect(res.headers.get("x-meridian-model-version")).toBe("1");
        variants.add(res.headers.get("x-meridian-variant")!);
      }
      expect([...variants]).toEqual(["stable"]);
    } finally {
      if (!(await env.ARTIFACTS.head(key))) await env.ARTIFACTS.put(key, bytes);
    }
  });

  it("with nothing to fall back to, a version that cannot load answers 503 with Retry-After", async () => {
    const { manifest, bytes } = fixture("iris");
    const name = "no-fallback";
    const m = await manifestFor(bytes, { name, version: 1, quantization: "none", labels: manifest.labels });
    const published = await admin().publish(m, bytes, env.TEST_SIGNING_KEY, { promote: true });
    expect(published.version).toBe(1);
    const res = await popAt("KIX", { SIGNING_PUBLIC_KEYS: "" })(`/v2/models/${name}/infer`, json(irisRequest()));
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("5");
    expect((await res.json<{ error: string }>()).error).toMatch(/version 1 cannot be served: the signature of no-fallback version 1 does not verify/);
  });
});

describe("swap under load", () => {
  it("serves every request while the version changes", async () => {
    await freshModel("load");
    let stop = false;
    const seen: string[] = [];
    const failures: number[] = [];
    const worker = async () => {
      while (!stop) {
        const res = await post("/v2/models/load/infer", irisRequest());
        if (res.status !== 200) failures.push(res.status);
        seen.push(res.headers.get("x-meridian-model-version") ?? "?");
        await res.arrayBuffer();
      }
    };
    const workers = Array.from({ length: 4 }, worker);
    await new Promise((r) => setTimeout(r, 100));
    await admin().promote("load", 2, 1);
    const deadline = Date.now() + 5000;
    while (!seen.slice(-8).every((v) => v === "2") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    stop = true;
    await Promise.all(workers);
    expect(failures).toEqual([]);
    expect(seen).toContain("1");
    expect(seen.at(-1)).toBe("2");
    // Once a worker saw 2 it never saw 1 again (the swap is one-way).
    expect(seen.slice(seen.indexOf("2")).every((v) => v === "2")).toBe(true);
  });
});

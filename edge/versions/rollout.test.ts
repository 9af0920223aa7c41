// Progressive delivery: the plan and gates as pure functions, then whole rollouts through the
// admin API, driven by RegistryDO's alarms over real requests and real metrics windows: a good
// candidate reaches 100%, an erroring one, a wrong one (shadow) and one a PoP cannot load roll
// back by themselves, and bad requests get a 4xx and change nothing.
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, inject, it } from "vitest";
import type { Figures, Rollout } from "../../shared/fleet";
import type { Manifest } from "../../shared/manifest";
import { encodeModel, graph, int64Tensor, node, valueInfo } from "../../shared/onnx/build";
import { manifestFor } from "../../shared/onnx/manifest";
import { generateKeyPair } from "../../shared/signing";
import { irisRequest } from "../../test/edge/client";
import { json, popAt, type PopFetch } from "../../test/edge/pop";
import { admin, expectAdminError, fixture, seed } from "../../test/edge/seed";
import { LATENCY_BUCKETS } from "../../shared/metrics";
import { emptyFigures } from "../metrics/summary";
import { RolloutSpecSchema, announcement, binomialTail, evaluate, failureText, nextStep, phasesOf, verdict } from "./rollout";

const b64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

/** iris as v1 (serving) and `bytes` as v2 of a model of its own. */
async function candidate(name: string, bytes: Uint8Array, opts: { key?: string } = {}): Promise<Manifest> {
  const client = admin();
  const base = fixture("iris");
  await client.publish({ ...base.manifest, name }, base.bytes, env.TEST_SIGNING_KEY, { promote: true });
  const m = await manifestFor(bytes, { name, version: 1, quantization: "none", labels: base.manifest.labels });
  await client.uploadArtifact(m.sha256, bytes, bytes.byteLength);
  return (await client.register(m, opts.key ?? env.TEST_SIGNING_KEY)).manifest;
}

/**
 * Fails every run of more than one row: Reshape of [n,4] to [4] (iris's input and output names).
 * It passes warm-up (one row), as a version must to be published, then refuses callers' batches.
 */
const failing = () =>
  encodeModel(
    graph({
      name: "failing",
      nodes: [node("Reshape", ["measurements", "target"], ["probabilities"])],
      inputs: [valueInfo("measurements", "FP32", ["batch", 4])],
      outputs: [valueInfo("probabilities", "FP32", [4])],
      initializers: [int64Tensor("target", [1], [4])],
    }),
  );

const registry = (name: string) => env.REGISTRY.get(env.REGISTRY.idFromName(name));

/** Requests from `callers` distinct callers; returns the variants that answered ("canary 500" for a failure). */
async function load(pop: PopFetch, model: string, callers: number, from = 0): Promise<Record<string, number>> {
  const seen: Record<string, number> = {};
  for (let i = from; i < from + callers; i++) {
    const res = await pop(`/v2/models/${model}/infer`, json(irisRequest(), { "x-user-id": `caller-${i}` }));
    const name = res.headers.get("x-meridian-variant") ?? "none";
    const variant = res.status === 200 ? name : `${name} ${res.status}`;
    seen[variant] = (seen[variant] ?? 0) + 1;
  }
  return seen;
}

/** Runs the rollout's alarm until `done` holds (the alarm may also fire by itself). */
async function tickUntil(name: string, done: (r: Rollout) => boolean, between: () => Promise<unknown> = async () => {}, ms = 20_000): Promise<Rollout> {
  const deadline = Date.now() + ms;
  for (;;) {
    await runDurableObjectAlarm(registry(name));
    const { rollout } = await admin().rolloutStatus(name);
    if (rollout && done(rollout)) return rollout;
    if (Date.now() > deadline) throw new Error(`rollout of ${name} did not get there: ${JSON.stringify(rollout?.history)}`);
    await between();
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(() => seed(["iris"]));

describe("rollout plan and gates (pure)", () => {
  const spec = (extra: object = {}) => RolloutSpecSchema.parse({ version: 2, ...extra });
  const figures = (over: Partial<Figures>): Figures => ({ ...emptyFigures("2", "canary"), ...over });

  it("has defaults that suit a small service", () => {
    expect(spec()).toMatchObject({ steps: [1, 5, 25, 50, 100], intervalMs: 60_000, maxErrorRate: 0.005, maxP99Ratio: 1.5, minRequests: 200, byRegion: false });
  });

  it("lays out phases: the named part of the world first, region by region with byRegion, then everywhere", () => {
    expect(phasesOf(spec())).toEqual([null]);
    expect(phasesOf(spec({ regions: ["weur", "enam"] }))).toEqual([{ regions: ["weur", "enam"] }, null]);
    expect(phasesOf(spec({ regions: ["weur", "enam"], byRegion: true }))).toEqual([{ regions: ["weur"] }, { regions: ["enam"] }, null]);
    expect(phasesOf(spec({ pops: ["fra", "IAD"] }))).toEqual([{ pops: ["FRA", "IAD"] }, null]);
  });

  it("announces shares by place: done phases at 100, the current one at the step, the rest at 0", () => {
    const s = spec({ regions: ["weur", "enam"], byRegion: true, steps: [10, 100] });
    const r = { version: 2, spec: s, phases: phasesOf(s), phase: 1, step: 0 };
    expect(announcement(r).canary).toEqual({ version: 2, percent: 0, where: { weur: 100, enam: 10 } });
    expect(announcement({ ...r, phase: 2 }).canary).toEqual({ version: 2, percent: 10, where: { weur: 100, enam: 100 } });
    expect(nextStep({ ...r, step: 1 })).toEqual({ phase: 2, step: 0 });
    expect(nextStep({ ...r, phase: 2, step: 1 })).toBeNull();
    const shadowed = spec({ shadowPercent: 20, minAgreement: 0.98 });
    expect(announcement({ version: 2, spec: shadowed, phases: [null], phase: 0, step: -1 })).toEqual({ canary: null, shadow: { version: 2, percent: 20 }, percent: 0 });
  });

  it("fails the error gate early, before min_requests, once the errors alone exceed what it allows", () => {
    const s = spec({ minRequests: 200, maxErrorRate: 0.01 });
    const some = (server_error: number, requests: number) => figures({ requests, outcomes: { success: requests - server_error, client_error: 0, server_error, rate_limited: 0, unavailable: 0 } });
    const inputs = (c: Figures) => ({ candidate: c, stable: undefined, loadFailures: [] });
    expect(verdict(evaluate(s, false, inputs(some(2, 20))), false)).toBe("continue"); // 2 ≤ 1% of 200
    expect(verdict(evaluate(s, false, inputs(some(3, 20))), false)).toBe("rollback");
    expect(verdict(evaluate(s, false, inputs(some(2, 250))), true)).toBe("advance");
    expect(verdict(evaluate(s, false, inputs(some(0, 50))), true)).toBe("wait"); // too few to pass
  });

  it("counts client errors against the candidate only above stable's share of them", () => {
    const s = spec({ minRequests: 100, maxErrorRate: 0.01 });
    const c = figures({ requests: 100, outcomes: { success: 90, client_error: 10, server_error: 0, rate_limited: 0, unavailable: 0 } });
    const stable = (share: number) => figures({ variant: "stable", version: "1", requests: 1000, clientErrorRate: share });
    expect(verdict(evaluate(s, false, { candidate: c, stable: stable(0.1), loadFailures: [] }), true)).toBe("advance");
    expect(verdict(evaluate(s, false, { candidate: c, stable: stable(0), loadFailures: [] }), true)).toBe("rollback");
  });

  it("fails the p99 gate (session.run) when more runs are slower than the limit than 1% allows by chance, before min_requests too", () => {
    const s = spec({ minRequests: 200, maxP99Ratio: 1.5 });
    const stable = figures({ variant: "stable", version: "1", requests: 5000, computeP99: 0.01 });
    // Limit 15 ms: buckets from 15 ms up lie wholly above it (the 10–15 ms bucket does not).
    const compute = (fast: number, slow: number, edge = 0) => LATENCY_BUCKETS.map((b) => (b === 0.004 ? fast : b === 0.04 ? slow : b === 0.015 ? edge : 0)).concat(0);
    const c = (fast: number, slow: number, edge = 0) =>
      figures({ requests: fast + slow + edge, computeP99: slow ? 0.04 : 0.004, compute: compute(fast, slow, edge), outcomes: { success: fast + slow + edge, client_error: 0, server_error: 0, rate_limited: 0, unavailable: 0 } });
    const run = (cand: Figures, over = false, base: Figures | null = stable) => verdict(evaluate(s, false, { candidate: cand, stable: base ?? undefined, loadFailures: [] }), over);
    expect(run(c(18, 2))).toBe("continue"); // 2 of 20 happens by chance (p ≈ 0.017)
    expect(run(c(0, 0, 20))).toBe("continue"); // in the bucket the limit falls in: not counted
    expect(run(c(16, 4))).toBe("rollback"); // 4 of 20: p ≈ 4e-5
    expect(run(c(985, 15), true)).toBe("advance"); // 1.5% of 1000: still chance (p ≈ 0.08)
    expect(run(c(970, 30), true)).toBe("rollback");
    // The 100% step has no stable runs in its window: nothing to compare with.
    expect(run(c(900, 100), true, null)).toBe("advance");
    const gates = evaluate(s, false, { candidate: c(16, 4), stable, loadFailures: [] });
    expect(failureText(gates)).toMatch(/p99_ratio: session\.run p99: candidate 40\.0 ms \/ stable 10\.0 ms = 4\.00; 4 of 20 runs slower than 15\.0 ms/);
  });

  it("binomialTail is P(X ≥ x)", () => {
    expect(binomialTail(0, 10, 0.01)).toBe(1);
    expect(binomialTail(1, 10, 0.01)).toBeCloseTo(1 - 0.99 ** 10, 12);
    expect(binomialTail(2, 20, 0.01)).toBeCloseTo(1 - 0.99 ** 20 - 20 * 0.01 * 0.99 ** 19, 12);
    expect(binomialTail(11, 10, 0.5)).toBe(0);
    expect(binomialTail(150, 10_000, 0.01)).toBeLessThan(1e-5); // mean 100, sd ≈ 10
  });

  it("fails at once when a PoP cannot load the candidate", () => {
    expect(verdict(evaluate(spec(), false, { candidate: undefined, stable: undefined, loadFailures: ["FRA: bad signature"] }), false)).toBe("rollback");
  });
});

describe("rollouts on alarms", () => {
  it("takes a good candidate to 100% step by step, then it serves everyone", async () => {
    await candidate("roll-good", b64(inject("models").find((m) => m.manifest.name === "iris")!.onnx));
    const pop = popAt("AMS", { METRICS_FLUSH_MS: "0" });
    const client = admin();
    const started = await client.rollout("roll-good", { version: 2, steps: [50, 100], intervalMs: 1000, minRequests: 5, maxP99Ratio: 100 });
    expect(started).toMatchObject({ state: "running", stable: 1, version: 2, step: 0 });
    expect((await client.status("roll-good")).canary).toEqual({ version: 2, percent: 50 });

    let callers = 0;
    const traffic = async () => {
      await load(pop, "roll-good", 20, callers);
      callers += 20;
    };
    await traffic();
    const atHundred = await tickUntil("roll-good", (r) => r.step === 1, traffic);
    // On a slow machine the 100% step's window may also pass before this tick returns.
    expect(atHundred.history.map((h) => h.action).slice(0, 2)).toEqual(["start", "step"]);
    const done = await tickUntil("roll-good", (r) => r.state !== "running", traffic);
    expect(done.state).toBe("succeeded");
    expect(done.history.at(-1)).toMatchObject({ action: "complete", percent: 100 });
    const after = await client.model("roll-good");
    expect(after).toMatchObject({ serving: 2, canary: null });
    const history = await client.history("roll-good");
    expect(history.events.filter((e) => e.actor === "rollout").map((e) => [e.action, e.percent])).toEqual([
      ["canary", 100],
      ["promote", 100],
    ]);
  });

  it("rolls a candidate that fails requests back at once (before the step ends), naming the gate and its figures", async () => {
    await candidate("roll-errors", failing());
    const pop = popAt("CDG", { METRICS_FLUSH_MS: "0" });
    await admin().rollout("roll-errors", { version: 2, steps: [50, 100], intervalMs: 600_000, minRequests: 20 });
    const seen = await load(pop, "roll-errors", 40);
    expect(seen["canary 400"]).toBeGreaterThan(0); // stable has no client errors: all of these count
    const r = await tickUntil("roll-errors", (x) => x.state !== "running");
    expect(r.state).toBe("rolled_back");
    const last = r.history.at(-1)!;
    expect(last.action).toBe("rollback");
    expect(last.note).toMatch(/^rolled back: error_rate: \d+\.\d\d% of \d+ requests failed \(\d+ server errors/);
    expect(last.gates!.find((g) => g.gate === "error_rate")).toMatchObject({ pass: false, decided: true });
    const state = await admin().model("roll-errors");
    expect(state).toMatchObject({ serving: 1, canary: null });
    // Everyone is back on stable.
    expect(await load(pop, "roll-errors", 10, 100)).toEqual({ stable: 10 });
    expect((await admin().history("roll-errors")).events.at(-1)).toMatchObject({ action: "rollout", actor: "rollout", note: last.note });
  });

  it("rolls back when a PoP cannot load the candidate (signed with a key that PoP does not trust)", async () => {
    const other = await generateKeyPair();
    // The pushing PoP trusts both keys; FRA only the old one, as during a key rotation.
    const both = popAt("LHR", { SIGNING_PUBLIC_KEYS: `${env.SIGNING_PUBLIC_KEYS},${other.publicKey}` });
    const base = fixture("iris");
    const client = admin();
    await client.publish({ ...base.manifest, name: "roll-load" }, base.bytes, env.TEST_SIGNING_KEY, { promote: true });
    const m = await manifestFor(base.bytes, { name: "roll-load", version: 1, quantization: "none", labels: base.manifest.labels });
    const { signManifest } = await import("../../shared/signing");
    const signed = { ...m, version: 2 };
    const res = await both("/admin/models/roll-load/versions", json({ manifest: signed, signature: await signManifest(signed, other.privateKey) }, { authorization: `Bearer ${env.ADMIN_TOKEN}` }));
    expect(res.status, await res.clone().text()).toBe(201);

    await client.rollout("roll-load", { version: 2, steps: [50, 100], intervalMs: 600_000, minRequests: 1000 });
    const fra = popAt("FRA", { METRICS_FLUSH_MS: "0" });
    // FRA cannot load v2: it keeps serving v1 to everyone and reports the failure.
    expect(await load(fra, "roll-load", 10)).toEqual({ stable: 10 });
    const r = await tickUntil("roll-load", (x) => x.state !== "running");
    expect(r.state).toBe("rolled_back");
    expect(r.history.at(-1)!.note).toMatch(/load: cannot load at FRA: /);
  });

  it("catches wrong answers in a shadow phase, before any caller gets the candidate", async () => {
    await candidate("roll-wrong", b64(inject("irisWrong")));
    const pop = popAt("MAD", { METRICS_FLUSH_MS: "0" });
    await admin().rollout("roll-wrong", { version: 2, shadowPercent: 100, minAgreement: 0.98, intervalMs: 600_000, minRequests: 10 });
    expect((await admin().status("roll-wrong")).canary).toBeNull();
    const seen = await load(pop, "roll-wrong", 20);
    expect(seen).toEqual({ stable: 20 }); // callers only ever got stable
    const r = await tickUntil("roll-wrong", (x) => x.state !== "running");
    expect(r.state).toBe("rolled_back");
    expect(r.history.at(-1)!.note).toMatch(/agreement: 0 of \d+ shadow rows agreed/);
    const m = await admin().metrics("roll-wrong", "5m");
    expect(m.versions.find((f) => f.variant === "shadow")).toMatchObject({ version: "2", agreement: { agree: 0 } });
  });

  it("limits the canary to the PoPs named first: callers elsewhere stay on stable", async () => {
    await candidate("roll-where", b64(inject("irisV2")));
    await admin().rollout("roll-where", { version: 2, steps: [100], pops: ["AMS"], intervalMs: 600_000 });
    expect(await load(popAt("AMS"), "roll-where", 10)).toEqual({ canary: 10 });
    expect(await load(popAt("FRA"), "roll-where", 10)).toEqual({ stable: 10 });
    // weur is AMS's region, but a PoP scope names PoPs: LHR stays on stable too.
    expect(await load(popAt("LHR"), "roll-where", 10)).toEqual({ stable: 10 });
    await admin().abortRollout("roll-where");
  });

  it("survives losing its alarm: reading the status re-arms it", async () => {
    await candidate("roll-alarm", b64(inject("irisV2")));
    await admin().rollout("roll-alarm", { version: 2, steps: [10, 100], intervalMs: 600_000 });
    const stub = registry("roll-alarm");
    await runInDurableObject(stub, (_i, state) => state.storage.deleteAlarm());
    expect(await runInDurableObject(stub, (_i, state) => state.storage.getAlarm())).toBeNull();
    await admin().rolloutStatus("roll-alarm");
    // Re-armed for now: it may be running this moment (no alarm is set while one runs), then sets the next.
    const deadline = Date.now() + 5000;
    let alarm: number | null = null;
    while (alarm === null && Date.now() < deadline) {
      alarm = await runInDurableObject(stub, (_i, state) => state.storage.getAlarm());
      if (alarm === null) await new Promise((r) => setTimeout(r, 50));
    }
    expect(alarm).not.toBeNull();
    expect((await admin().rolloutStatus("roll-alarm")).rollout!.state).toBe("running");
    await admin().abortRollout("roll-alarm");
  });

  it("refuses what cannot run with a clear 4xx, changing nothing", async () => {
    await candidate("roll-bad", b64(inject("irisV2")));
    const client = admin();
    await expectAdminError(client.rollout("roll-bad", { version: 2, steps: [5, 1, 100] }), 400, /steps must increase: 5,1,100/);
    await expectAdminError(client.rollout("roll-bad", { version: 2, steps: [5, 50] }), 400, /last step must be 100/);
    await expectAdminError(client.rollout("roll-bad", { version: 2, steps: [0, 100] }), 400, /steps/);
    await expectAdminError(client.rollout("roll-bad", { version: 2, steps: [50, 150] }), 400, /steps/);
    await expectAdminError(client.rollout("roll-bad", { version: 2, maxErrorRate: 2 }), 400, /maxErrorRate/);
    await expectAdminError(client.rollout("roll-bad", { version: 2, minAgreement: 0.98 }), 400, /agreement gate cannot be evaluated without shadow traffic/);
    await expectAdminError(client.rollout("roll-bad", { version: 2, regions: ["mars"] }), 400, /regions/);
    await expectAdminError(client.rollout("roll-bad", { version: 2, pops: ["ZZZ"] }), 400, /unknown PoP "ZZZ"/);
    await expectAdminError(client.rollout("roll-bad", { version: 9 }), 404, /has no version 9/);
    await expectAdminError(client.rollout("roll-bad", { version: 1 }), 400, /already serving/);
    await expectAdminError(client.rollout("no-such-model", { version: 2 }), 404, /unknown model/);
    await expectAdminError(client.abortRollout("roll-bad"), 409, /no rollout is running/);
    await expectAdminError(client.metrics("roll-bad", "5 minutes"), 400, /invalid window/);
    await expectAdminError(client.metrics("roll-bad", "2h"), 400, /out of range/);
    expect(await client.model("roll-bad")).toMatchObject({ serving: 1, canary: null });

    await client.rollout("roll-bad", { version: 2, steps: [10, 100], intervalMs: 600_000 });
    await expectAdminError(client.rollout("roll-bad", { version: 2 }), 409, /a rollout of version 2 is running/);
    await expectAdminError(client.promote("roll-bad", 2, 1), 409, /a rollout is running/);
    await expectAdminError(client.canary("roll-bad", 2, 50, 1), 409, /a rollout is running/);
    const aborted = await client.abortRollout("roll-bad");
    expect(aborted.state).toBe("aborted");
    expect(await client.model("roll-bad")).toMatchObject({ serving: 1, canary: null });
  });
});

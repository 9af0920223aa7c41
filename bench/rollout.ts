// `npm run bench:rollout`: progressive delivery measured end to end on a local fleet whose PoPs
// share one registry (dev/fleet.ts), under steady load from many simulated callers.
//
// 1. The cost of metrics on the hot path: two PoPs of the same workerd, one counting and one with
//    METRICS_ENABLED=false, take the same closed-loop load, interleaved, in the same run.
// 2. Rollouts of iris candidates through `POST /admin/models/iris/rollout` (what `meridian
//    rollout` sends), each measured from the callers' side:
//    - good: the same model; rolled to 100% by itself: time to complete, failed requests;
//    - slow (p99 gate), wrong answers (shadow agreement gate), cannot load at one PoP (signed with
//      a key that PoP does not trust yet: a key rotation half done), errors on part of the inputs
//      (takes one row per request, so it refuses batched requests stable answers): time from the
//      candidate's first canary request (or the rollout's start, for the shadow phase) to the
//      automatic rollback, and the blast radius: the share of every request in that window (up to
//      the candidate's last answer, since PoPs see the rollback within a pointer TTL) that the
//      candidate answered; 5xx answered to callers on stable.
//
// Options (environment): ROLLOUT_POPS=4 (load PoPs), ROLLOUT_RATE=200 (requests/s over them; below
// what this machine serves, so the load stays steady: sends skipped at the in-flight cap are counted),
// ROLLOUT_INTERVAL_MS=5000, ROLLOUT_MIN_REQUESTS=100. Prints tables, writes rollout.json
// (bench/results/, or BENCH_RESULTS_DIR).
import { mkdir, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, totalmem } from "node:os";
import { dirname, join } from "node:path";
import type { Rollout } from "../shared/fleet";
import type { Manifest } from "../shared/manifest";
import { manifestFor } from "../shared/onnx/manifest";
import { generateKeyPair, signManifest } from "../shared/signing";
import { ROOT } from "../dev/local";
import { bundleWorker, startFleet, type Fleet } from "../dev/fleet";
import { IRIS_LABELS, irisSpec, irisWeights } from "../dev/samples/iris";
import { oneRowIris, slowIris, wrongIris } from "../dev/samples/candidates";
import { buildMlpFp32 } from "../shared/onnx/mlp";
import { runUnderReaper } from "../dev/supervise";
import { envNumber, resultsDir } from "./host";
import { percentile, rounded, table } from "./lib";

await runUnderReaper();

const OUT = join(resultsDir(ROOT), "rollout.json");
const LOAD_COLOS = ["AMS", "FRA", "IAD", "SIN", "GRU", "SYD"].slice(0, Math.max(2, Math.min(6, envNumber("ROLLOUT_POPS", 4))));
/** The PoP that trusts only the old signing key (it cannot load the "unloadable" candidate). */
const STALE_KEY_POP = LOAD_COLOS.at(-1)!;
const ON = "LHR";
const OFF = "CDG";
const RATE = Math.max(10, envNumber("ROLLOUT_RATE", 200));
const MAX_IN_FLIGHT = 32;
const INTERVAL_MS = envNumber("ROLLOUT_INTERVAL_MS", 5000);
const MIN_REQUESTS = envNumber("ROLLOUT_MIN_REQUESTS", 100);
const CALLERS = 4000;
const TTL_MS = 1000;
const MODEL = "iris";
const log = (line: string) => process.stderr.write(`${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const row = [5.1, 3.5, 1.4, 0.2];
const ONE = JSON.stringify({ inputs: [{ name: "measurements", datatype: "FP32", shape: [1, 4], data: row }] });
const TWO = JSON.stringify({ inputs: [{ name: "measurements", datatype: "FP32", shape: [2, 4], data: [...row, 6.3, 3.3, 6.0, 2.5] }] });

// ---------- load ----------

interface Sample {
  pop: string;
  sent: number;
  recv: number;
  status: number;
  version: number | null;
  variant: string | null;
}

/**
 * Open-loop load at a fixed total rate, spread evenly over the PoPs (so a slow version shows in
 * latency instead of slowing the load down), from many callers (each request the next caller id),
 * one request in five with two rows. At most MAX_IN_FLIGHT per PoP: beyond that a send is skipped
 * and counted.
 */
class Load {
  readonly samples: Sample[] = [];
  skipped = 0;
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly inFlight = new Map<string, number>();
  private readonly pending = new Set<Promise<void>>();
  private next = 0;

  constructor(pops: Array<{ colo: string; url: string }>, ratePerSecond: number) {
    const t0 = performance.now();
    let sent = 0;
    this.timer = setInterval(() => {
      const due = Math.floor(((performance.now() - t0) / 1000) * ratePerSecond);
      for (; sent < due; sent++) {
        const pop = pops[sent % pops.length]!;
        if ((this.inFlight.get(pop.colo) ?? 0) >= MAX_IN_FLIGHT) {
          this.skipped++;
          continue;
        }
        const p = this.send(pop.colo, pop.url).finally(() => this.pending.delete(p));
        this.pending.add(p);
      }
    }, 5);
  }

  private async send(pop: string, url: string): Promise<void> {
    this.inFlight.set(pop, (this.inFlight.get(pop) ?? 0) + 1);
    const n = this.next++;
    const sent = performance.now();
    let status = 0;
    let version: number | null = null;
    let variant: string | null = null;
    try {
      const res = await fetch(`${url}/v2/models/${MODEL}/infer`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-user-id": `caller-${n % CALLERS}` },
        body: n % 5 === 4 ? TWO : ONE,
      });
      await res.arrayBuffer();
      status = res.status;
      const v = res.headers.get("x-meridian-model-version");
      version = v === null ? null : Number(v);
      variant = res.headers.get("x-meridian-variant");
    } catch {
      // status 0: no answer
    } finally {
      this.inFlight.set(pop, this.inFlight.get(pop)! - 1);
    }
    this.samples.push({ pop, sent, recv: performance.now(), status, version, variant });
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all(this.pending);
  }
}

// ---------- the hot path with metrics on and off ----------

async function metricsCost(fleet: Fleet): Promise<{ on: Latency; off: Latency; p50Ratio: number; p99Ratio: number; requests: number }> {
  const on = fleet.pops.find((p) => p.colo === ON)!;
  const off = fleet.pops.find((p) => p.colo === OFF)!;
  const lat: Record<string, number[]> = { [ON]: [], [OFF]: [] };
  const until = performance.now() + 20_000;
  // Two loops, each alternating between the PoPs, so both see the same moments of the machine.
  const loop = async (first: number) => {
    for (let i = first; performance.now() < until; i++) {
      const pop = i % 2 === 0 ? on : off;
      const t = performance.now();
      const res = await fetch(`${pop.url}/v2/models/${MODEL}/infer`, { method: "POST", headers: { "content-type": "application/json", "x-user-id": `c${i % 64}` }, body: ONE });
      await res.arrayBuffer();
      if (res.status === 200) lat[pop.colo]!.push(performance.now() - t);
    }
  };
  await Promise.all([loop(0), loop(1)]);
  const stat = (xs: number[]): Latency => {
    const s = [...xs].sort((a, b) => a - b);
    return { requests: s.length, p50: percentile(s, 50), p99: percentile(s, 99) };
  };
  const a = stat(lat[ON]!);
  const b = stat(lat[OFF]!);
  return { on: a, off: b, p50Ratio: a.p50 / b.p50, p99Ratio: a.p99 / b.p99, requests: a.requests + b.requests };
}

interface Latency {
  requests: number;
  p50: number;
  p99: number;
}

// ---------- candidates ----------

async function push(fleet: Fleet, bytes: Uint8Array, key = fleet.privateKey): Promise<number> {
  const { version: _v, ...manifest } = await manifestFor(bytes, { name: MODEL, version: 1, quantization: "none", labels: { probabilities: [...IRIS_LABELS] } });
  await fleet.admin.uploadArtifact(manifest.sha256, bytes, bytes.byteLength);
  if (key === fleet.privateKey) return (await fleet.admin.register(manifest, key)).version;
  // Signed with the new key: register by hand (AdminClient signs with the key it is given).
  const next = (await fleet.admin.model(MODEL))!.nextVersion;
  const signed: Manifest = { ...manifest, version: next };
  await fleet.admin.call("POST", `/admin/models/${MODEL}/versions`, { manifest: signed, signature: await signManifest(signed, key) });
  return next;
}

interface Scenario {
  name: string;
  kind: "good" | "slow" | "wrong" | "unloadable" | "partial";
  expect: "succeeded" | "rolled_back";
  bytes: () => Uint8Array;
  key?: "rotated";
  spec: Record<string, unknown>;
}

const STEPS = [0.5, 5, 25, 50, 100];
const SCENARIOS: Scenario[] = [
  { name: "good (same model)", kind: "good", expect: "succeeded", bytes: () => buildMlpFp32(irisSpec(irisWeights().layers)), spec: { steps: STEPS } },
  { name: "slower (p99 gate)", kind: "slow", expect: "rolled_back", bytes: () => slowIris(1024, 32), spec: { steps: STEPS } },
  { name: "wrong answers (shadow agreement gate)", kind: "wrong", expect: "rolled_back", bytes: wrongIris, spec: { steps: STEPS, shadowPercent: 20, minAgreement: 0.98 } },
  { name: `cannot load at ${STALE_KEY_POP} (load gate)`, kind: "unloadable", expect: "rolled_back", bytes: () => buildMlpFp32(irisSpec(irisWeights({ seed: 7 }).layers)), key: "rotated", spec: { steps: STEPS } },
  { name: "errors on part of the inputs (error gate)", kind: "partial", expect: "rolled_back", bytes: oneRowIris, spec: { steps: STEPS } },
];

interface ScenarioResult {
  scenario: string;
  kind: Scenario["kind"];
  candidate: number;
  stable: number;
  state: Rollout["state"];
  expected: Scenario["expect"];
  /** Rollout start → its end (complete or rolled back), ms. */
  durationMs: number;
  /** Candidate's first answer to a caller (or, without any, the rollout's start) → the rollback, ms. */
  toRollbackMs: number | null;
  /** Requests in [first candidate answer or start, last candidate answer or rollback] and the candidate's share of them. */
  window: { requests: number; candidate: number; share: number };
  failed: number;
  /** 5xx answered to callers by stable. */
  stable5xx: number;
  /** Sends the load skipped during the scenario (a PoP had MAX_IN_FLIGHT requests open). */
  skipped: number;
  gate: string | null;
  history: string[];
}

async function runScenario(fleet: Fleet, load: Load, s: Scenario, rotatedKey: string): Promise<ScenarioResult> {
  const stable = (await fleet.admin.model(MODEL))!.serving!;
  const candidate = await push(fleet, s.bytes(), s.key === "rotated" ? rotatedKey : fleet.privateKey);
  const from = load.samples.length;
  const skippedBefore = load.skipped;
  const t0 = performance.now();
  const wall0 = Date.now();
  await fleet.admin.rollout(MODEL, { version: candidate, intervalMs: INTERVAL_MS, minRequests: MIN_REQUESTS, ...s.spec });
  let r: Rollout | null = null;
  for (;;) {
    await sleep(250);
    r = (await fleet.admin.rolloutStatus(MODEL)).rollout;
    if (r && r.state !== "running") break;
    if (performance.now() - t0 > 240_000) {
      await fleet.admin.abortRollout(MODEL);
      throw new Error(`${s.name}: still running after 240 s: ${JSON.stringify(r?.history.at(-1))}`);
    }
  }
  const endedWall = r.endedAt!;
  const endedPerf = t0 + (endedWall - wall0);
  await sleep(TTL_MS + 1500); // every PoP re-reads the pointer; late candidate answers land
  const samples = load.samples.slice(from).filter((x) => x.recv >= t0);
  // Any answer the candidate gave as canary counts, refusals too (a 400 names its version and variant).
  const byCandidate = samples.filter((x) => x.version === candidate && x.variant === "canary");
  const first = byCandidate.length ? Math.min(...byCandidate.map((x) => x.recv)) : null;
  const last = byCandidate.length ? Math.max(...byCandidate.map((x) => x.recv)) : null;
  const windowStart = first ?? t0;
  const windowEnd = Math.max(last ?? endedPerf, endedPerf);
  const inWindow = samples.filter((x) => x.recv >= windowStart && x.recv <= windowEnd);
  const candidateInWindow = inWindow.filter((x) => x.version === candidate && x.variant === "canary").length;
  const failedGate = r.history.at(-1)!.gates?.find((g) => !g.pass && g.decided && g.gate !== "min_requests");
  return {
    scenario: s.name,
    kind: s.kind,
    candidate,
    stable,
    state: r.state,
    expected: s.expect,
    durationMs: endedPerf - t0,
    toRollbackMs: r.state === "rolled_back" ? endedPerf - (first ?? t0) : null,
    window: { requests: inWindow.length, candidate: candidateInWindow, share: inWindow.length ? candidateInWindow / inWindow.length : 0 },
    failed: samples.filter((x) => x.status >= 500 || x.status === 0).length,
    stable5xx: samples.filter((x) => x.status >= 500 && x.variant !== "canary").length,
    skipped: load.skipped - skippedBefore,
    gate: failedGate ? `${failedGate.gate}: ${failedGate.detail}` : null,
    history: r.history.map((h) => `${h.at.slice(11, 19)} ${h.action} ${h.percent}% ${h.scope}: ${h.note}`),
  };
}

// ---------- main ----------

async function main(): Promise<void> {
  const began = performance.now();
  const loadavgAtStart = loadavg();
  const rotated = await generateKeyPair();
  log(`bench:rollout: ${LOAD_COLOS.length} PoPs, ${RATE} req/s, ${CALLERS} callers, interval ${INTERVAL_MS} ms, min requests ${MIN_REQUESTS}`);
  const b = await bundleWorker();
  const fleet = await startFleet(b, {
    colos: [...LOAD_COLOS, ON, OFF],
    vars: { POINTER_TTL_MS: String(TTL_MS), METRICS_FLUSH_MS: "1000", RATE_LIMIT_PER_MINUTE: "0" },
    // Every PoP but one already trusts the rotated key; the metrics-off PoP counts nothing.
    varsFor: (colo, keys) => ({
      ...(colo === STALE_KEY_POP ? {} : { SIGNING_PUBLIC_KEYS: `${keys.publicKey},${rotated.publicKey}` }),
      ...(colo === OFF ? { METRICS_ENABLED: "false" } : {}),
    }),
    log,
  });
  let load: Load | undefined;
  try {
    const base = irisWeights();
    const { version: _v, ...manifest } = await manifestFor(buildMlpFp32(irisSpec(base.layers)), { name: MODEL, version: 1, quantization: "none", labels: { probabilities: [...IRIS_LABELS] } });
    await fleet.admin.publish(manifest, buildMlpFp32(irisSpec(base.layers)), fleet.privateKey, { promote: true });

    log("metrics on/off, 20 s interleaved…");
    const cost = await metricsCost(fleet);
    log(`  p50 on ${cost.on.p50.toFixed(2)} / off ${cost.off.p50.toFixed(2)} ms (${cost.p50Ratio.toFixed(3)}x), p99 ${cost.p99Ratio.toFixed(3)}x`);

    load = new Load(
      fleet.pops.filter((p) => LOAD_COLOS.includes(p.colo)),
      RATE,
    );
    await sleep(3000);
    const results: ScenarioResult[] = [];
    for (const s of SCENARIOS) {
      log(`rollout: ${s.name}…`);
      const res = await runScenario(fleet, load, s, rotated.privateKey);
      log(`  ${res.state} after ${(res.durationMs / 1000).toFixed(1)} s${res.gate ? ` (${res.gate})` : ""}`);
      results.push(res);
    }
    const loadStats = { requests: load.samples.length, skipped: load.skipped, durationS: (performance.now() - began) / 1000 };
    await load.stop();
    load = undefined;

    const bad = results.filter((r) => r.expected === "rolled_back");
    // One window holds a few hundred requests, so its share is noisy: the pooled share over every
    // bad candidate (their answers over all their windows' requests) is the steadier figure.
    const pooled = { requests: bad.reduce((n, r) => n + r.window.requests, 0), candidate: bad.reduce((n, r) => n + r.window.candidate, 0) };
    const pooledShare = pooled.requests ? pooled.candidate / pooled.requests : 0;
    const out = {
      bench: "rollout",
      at: new Date().toISOString(),
      measured: "everything below is measured on this machine (local Miniflare fleet; KV is immediately consistent here, production adds KV propagation to pointer changes)",
      machine: { cpu: cpus()[0]?.model ?? "unknown", cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30), loadavgAtStart, loadavgAtEnd: loadavg() },
      settings: { pops: LOAD_COLOS, ratePerSecond: RATE, callers: CALLERS, intervalMs: INTERVAL_MS, minRequests: MIN_REQUESTS, pointerTtlMs: TTL_MS, metricsFlushMs: 1000, steps: STEPS },
      metricsCost: { ...cost, targetP50Ratio: 1.05, met: cost.p50Ratio < 1.05 },
      scenarios: results,
      targets: {
        goodCompleted: results.filter((r) => r.kind === "good").every((r) => r.state === "succeeded" && r.failed === 0),
        everyBadRolledBack: bad.every((r) => r.state === "rolled_back"),
        blastRadiusUnder1Percent: bad.every((r) => r.window.share < 0.01),
        pooledBlastRadius: { ...pooled, share: pooledShare, under1Percent: pooledShare < 0.01 },
        zeroStable5xx: results.every((r) => r.stable5xx === 0),
      },
      load: loadStats,
    };
    await mkdir(dirname(OUT), { recursive: true });
    await writeFile(OUT, `${JSON.stringify(rounded(out), null, 2)}\n`);

    process.stdout.write(`\nbench:rollout (measured; ${LOAD_COLOS.length} PoPs at ${RATE} req/s, steps ${STEPS.join(",")}%, interval ${INTERVAL_MS / 1000} s, min ${MIN_REQUESTS} requests)\n\n`);
    process.stdout.write(
      `${table(
        ["candidate", "outcome", "time", "to rollback", "window reqs", "candidate answered", "share", "failed", "stable 5xx", "skipped", "gate"],
        results.map((r) => [
          r.scenario,
          r.state,
          `${(r.durationMs / 1000).toFixed(1)} s`,
          r.toRollbackMs === null ? "-" : `${(r.toRollbackMs / 1000).toFixed(1)} s`,
          r.window.requests,
          r.window.candidate,
          `${(r.window.share * 100).toFixed(2)}%`,
          r.failed,
          r.stable5xx,
          r.skipped,
          (r.gate ?? "").slice(0, 90),
        ]),
      )}\n\nblast radius pooled over the bad candidates: ${pooled.candidate} of ${pooled.requests} requests (${(pooledShare * 100).toFixed(2)}%)\n\n`,
    );
    process.stdout.write(
      `${table(
        ["hot path", "requests", "p50 ms", "p99 ms"],
        [
          ["metrics on", cost.on.requests, cost.on.p50.toFixed(2), cost.on.p99.toFixed(2)],
          ["metrics off", cost.off.requests, cost.off.p50.toFixed(2), cost.off.p99.toFixed(2)],
          ["on / off", "", cost.p50Ratio.toFixed(3), cost.p99Ratio.toFixed(3)],
        ],
      )}\n\nwrote ${OUT} (${Math.round((performance.now() - began) / 1000)} s)\n`,
    );
  } finally {
    await load?.stop();
    await fleet.stop();
    await rm(b.dir, { recursive: true, force: true });
  }
}

await main();

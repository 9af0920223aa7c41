// `npm run bench:dataplane`: the data plane of the edge Worker, in one run, through `wrangler dev`
// (workerd) started from a frozen copy of the working tree (or DATAPLANE_REV), so that edits made
// meanwhile do not restart the Worker under load:
//  1. CPU per prediction vs the floor: the Worker's workerd CPU (utime+stime) / requests under
//     steady autocannon load, GET /v2/health/live (the floor) and every small sample model in JSON
//     and binary, interleaved rounds; ratios to the floor of the same round
//  2. binary vs JSON: a 224×224×3 FP32 image and a batch of 64 mlp784 rows, bytes on the wire and
//     Worker CPU per request
//  3. response cache: hits vs misses (vs the same model without a cache), latency and CPU
//  4. dynamic batching: batched vs unbatched copies at fixed arrival rates, throughput, p50/p99,
//     the knee, mean rows per run
//  5. warm-up: the first request a new version answers after a swap, with and without warm-up
//  6. cost per billion predictions at Cloudflare's published prices, beside Workers AI
//  7. kernel share of peak (bench/kernel) and model-size ceiling (bench/ceiling)
// Tables to stdout, progress to stderr; writes dataplane.json (bench/results/, or BENCH_RESULTS_DIR).
//
// Knobs (environment): DATAPLANE_CELL_S=5 (seconds per closed-loop cell), DATAPLANE_ROUNDS=3,
// DATAPLANE_CONNECTIONS=4, DATAPLANE_RATES=50,100,200,400,800,1600,3200, DATAPLANE_SWEEP_S=4,
// DATAPLANE_SWEEP_CONNECTIONS=64, DATAPLANE_KNEE_P99_MS=50, DATAPLANE_SWAP_TRIALS=3,
// DATAPLANE_REV (a git revision to measure instead of the working tree),
// DATAPLANE_KERNEL=run|json|skip, DATAPLANE_CEILING=run|json|skip,
// DATAPLANE_CEILING_FP32_MIB=1,8,16, DATAPLANE_CEILING_INT8_MIB=1,8,16 (bench:ceiling alone tries more),
// DATAPLANE_KERNEL_ROUNDS=15.
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { Agent } from "node:http";
import { cpus, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { buildFixtureModels, type FixtureModel } from "../../dev/samples/index";
import type * as Local from "../../dev/local";
import { ROOT, type DevServer } from "../../dev/local";
import { AdminClient } from "../../shared/admin-client";
import type { TensorInput } from "../../shared/binary";
import type { Serving } from "../../shared/manifest";
import { snapshot as frozenCopy } from "../../test/fuzz/snapshot";
import { contention, describeContention, devConfig, envNumber, resultsDir } from "../host";
import { fmt, fmtSpread, metBySpread, rounded, spread, table, type Spread } from "../lib";
import { WORKERS_AI_PRICING, WORKERS_PRICING, distilbertUsd, estimateBertTokens, resnetUsd, workersCost, type WorkersCost } from "./cost";
import { closedLoop, openLoop, timed, wireBytes, type HttpRequest, type LoadRun, type OpenLoopRun, type RequestSource } from "./load";
import { IMAGE, IRIS_ROW, SPAM_TEXT, buildImageModel, sampleRow, fixtureBytes, imageManifest, imagePixels, inferRequest, publish, rows, uniqueJson } from "./models";
import { ceilingFigures, ceilingSummary, kernelFigures, kernelSummary, type Mode } from "./others";
import { CLOCK_TICKS, cpuMs, delta, devProcesses, snapshot, type DevProcesses } from "./proc";

const log = (line: string) => process.stderr.write(`${line}\n`);
const list = (name: string, fallback: number[]) => {
  const v = process.env[name];
  const parsed = v ? v.split(",").map(Number).filter((n) => Number.isFinite(n) && n > 0) : [];
  return parsed.length ? parsed : fallback;
};
const mode = (name: string): Mode => {
  const v = (process.env[name] ?? "run").toLowerCase();
  return v === "json" || v === "skip" ? v : "run";
};

const KNOBS = {
  cellS: envNumber("DATAPLANE_CELL_S", 5),
  rounds: Math.max(1, Math.round(envNumber("DATAPLANE_ROUNDS", 3))),
  connections: Math.round(envNumber("DATAPLANE_CONNECTIONS", 4)),
  rates: list("DATAPLANE_RATES", [50, 100, 200, 400, 800, 1600, 3200]),
  sweepS: envNumber("DATAPLANE_SWEEP_S", 4),
  sweepConnections: Math.round(envNumber("DATAPLANE_SWEEP_CONNECTIONS", 64)),
  kneeP99Ms: envNumber("DATAPLANE_KNEE_P99_MS", 50),
  swapTrials: Math.max(1, Math.round(envNumber("DATAPLANE_SWAP_TRIALS", 3))),
  rev: process.env.DATAPLANE_REV || null,
  kernel: mode("DATAPLANE_KERNEL"),
  ceiling: mode("DATAPLANE_CEILING"),
  ceilingMiB: { fp32: list("DATAPLANE_CEILING_FP32_MIB", [1, 8, 16]), int8: list("DATAPLANE_CEILING_INT8_MIB", [1, 8, 16]) },
  kernelRounds: Math.round(envNumber("DATAPLANE_KERNEL_ROUNDS", 15)),
};
const TARGET_RATIO = 1.5;
const BATCHING: Serving["batching"] = { maxBatchSize: 64, maxQueueDelayMs: 2 };
const BILLION = 1e9;

// ---------- servers, stopped on every way out ----------

const servers = new Set<DevServer>();
async function stopServer(s: DevServer): Promise<void> {
  servers.delete(s);
  await s.stop();
}
const stopAll = () => Promise.all([...servers].map(stopServer));
/** Removed on every way out too (the frozen copy of the code). */
const cleanups = new Set<() => void>();

// ---------- cells: closed-loop load, interleaved rounds ----------

interface CellDef {
  id: string;
  label: string;
  source: RequestSource;
  /** What each request carries: predictions per request (rows), for the cost table. */
  predictions?: number;
}

interface CellStats {
  id: string;
  label: string;
  rounds: number;
  workerCpuMsPerReq: Spread;
  workerSchedMsPerReq: Spread;
  proxyCpuMsPerReq: Spread;
  benchCpuMsPerReq: Spread;
  reqPerS: Spread;
  p50Ms: Spread;
  p99Ms: Spread;
  responses: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  cache: Record<string, number>;
  runs: LoadRun[];
}

function stats(def: CellDef, runs: LoadRun[]): CellStats {
  const s = (f: (r: LoadRun) => number) => spread(runs.map(f));
  const cache: Record<string, number> = {};
  for (const r of runs) for (const [k, v] of Object.entries(r.cache)) cache[k] = (cache[k] ?? 0) + v;
  return {
    id: def.id,
    label: def.label,
    rounds: runs.length,
    workerCpuMsPerReq: s((r) => r.workerCpuMsPerReq),
    workerSchedMsPerReq: s((r) => r.workerSchedMsPerReq),
    proxyCpuMsPerReq: s((r) => r.proxyCpuMsPerReq),
    benchCpuMsPerReq: s((r) => r.benchCpuMsPerReq),
    reqPerS: s((r) => r.reqPerS),
    p50Ms: s((r) => r.p50Ms),
    p99Ms: s((r) => r.p99Ms),
    responses: runs.reduce((a, r) => a + r.responses, 0),
    non2xx: runs.reduce((a, r) => a + r.non2xx, 0),
    errors: runs.reduce((a, r) => a + r.errors, 0),
    timeouts: runs.reduce((a, r) => a + r.timeouts, 0),
    cache,
    runs,
  };
}

/** Every cell once per round, the order reversed every other round (A B C, C B A, A B C). Runs[i] is round i. */
async function rounds(url: string, procs: DevProcesses, defs: CellDef[], what: string): Promise<Map<string, LoadRun[]>> {
  const out = new Map<string, LoadRun[]>(defs.map((d) => [d.id, []]));
  for (const d of defs) await closedLoop(url, procs, d.source, { connections: KNOBS.connections, amount: 100 }); // unreported warm-up
  for (let r = 0; r < KNOBS.rounds; r++) {
    const order = r % 2 === 0 ? defs : [...defs].reverse();
    for (const d of order) {
      const run = await closedLoop(url, procs, d.source, { connections: KNOBS.connections, durationS: KNOBS.cellS });
      out.get(d.id)!.push(run);
      const bad = run.non2xx + run.errors + run.timeouts;
      log(`  ${what} round ${r + 1}/${KNOBS.rounds} ${d.label}: ${fmt(run.workerCpuMsPerReq)} ms CPU/req, ${fmt(run.reqPerS)} req/s, p50 ${fmt(run.p50Ms)} ms${bad ? `, ${bad} NOT OK` : ""}`);
    }
  }
  return out;
}

/** Per round a/b (runs of one round pair up), as a spread. */
function ratio(a: LoadRun[], b: LoadRun[], f: (r: LoadRun) => number = (r) => r.workerCpuMsPerReq): Spread {
  return spread(a.map((r, i) => f(r) / f(b[i]!)));
}

async function check(url: string, req: HttpRequest, what: string, expect?: (h: Record<string, string>) => string | null): Promise<void> {
  const r = await timed(url, req);
  if (r.status !== 200) throw new Error(`${what}: HTTP ${r.status} ${r.body.toString("utf8").slice(0, 300)}`);
  const problem = expect?.(r.headers);
  if (problem) throw new Error(`${what}: ${problem}`);
}

// ---------- 4. open-loop sweep ----------

interface SweepCell {
  model: string;
  config: "batched" | "unbatched";
  served: string;
  run: OpenLoopRun;
  ok: boolean;
  meanBatchRows: number | null;
}

// ---------- 5. swaps ----------

interface SwapTrial {
  mode: string;
  variant: "generated warm-up" | "no warm-up";
  version: number;
  promoteToFirstNewMs: number;
  /** Latency of the first request the new version answered. */
  firstNewMs: number;
  /** Median latency of the next requests it answered. */
  nextMedianMs: number;
  nextCount: number;
  /** Slowest answer of the old version between the promote and the first new answer. */
  oldMaxMs: number;
  oldAnswers: number;
  ready: { requests: number; ms: number } | null;
}

async function swapTrials(server: DevServer, admin: AdminClient, key: string, mlp: FixtureModel, modeLabel: string, trials: number, name: string): Promise<SwapTrial[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const req = inferRequest(name, [{ name: mlp.manifest.inputs[0]!.name, datatype: "FP32", shape: [1, 784], values: rows(1, 784) }], "json");
  const bytes = fixtureBytes(mlp);
  const out: SwapTrial[] = [];
  let serving = (await admin.model(name))?.serving ?? null;
  for (let t = 0; t < trials * 2; t++) {
    const variant = t % 2 === 0 ? "generated warm-up" : "no warm-up";
    const pub = await publish(admin, key, bytes, mlp.manifest, name, variant === "no warm-up" ? { warmup: [] } : undefined, { promote: false });
    // The version serving now answers warm before the promote.
    for (let i = 0; i < 20; i++) await timed(server.url, req, agent);
    await admin.promote(name, pub.version, serving);
    serving = pub.version;
    const t0 = performance.now();
    let first: number | null = null;
    let firstAt = 0;
    const next: number[] = [];
    let oldMax = 0;
    let oldAnswers = 0;
    while (next.length < 20) {
      if (performance.now() - t0 > 60_000) throw new Error(`${modeLabel}: ${name} v${pub.version} did not serve within 60 s of its promote`);
      const r = await timed(server.url, req, agent);
      if (r.status !== 200) throw new Error(`${modeLabel}: ${name}: HTTP ${r.status} ${r.body.toString("utf8").slice(0, 200)}`);
      const v = Number(r.headers["x-meridian-model-version"]);
      if (v === pub.version) {
        if (first === null) {
          first = r.ms;
          firstAt = performance.now() - r.ms - t0;
        } else next.push(r.ms);
      } else if (first === null) {
        oldAnswers++;
        oldMax = Math.max(oldMax, r.ms);
      }
      await new Promise((res) => setTimeout(res, 2));
    }
    const readyRes = await timed(server.url, { method: "GET", path: `/v2/models/${name}/versions/${pub.version}/ready` }, agent);
    const ready = readyRes.status === 200 ? ((JSON.parse(readyRes.body.toString("utf8")) as { warmup?: { requests: number; ms: number } }).warmup ?? null) : null;
    const sorted = [...next].sort((a, b) => a - b);
    const trial: SwapTrial = {
      mode: modeLabel,
      variant,
      version: pub.version,
      promoteToFirstNewMs: firstAt,
      firstNewMs: first!,
      nextMedianMs: sorted[Math.floor(sorted.length / 2)]!,
      nextCount: next.length,
      oldMaxMs: oldMax,
      oldAnswers,
      ready,
    };
    out.push(trial);
    log(`  ${modeLabel} ${variant} v${pub.version}: first answer ${fmt(trial.firstNewMs)} ms, next median ${fmt(trial.nextMedianMs)} ms, old max ${fmt(oldMax)} ms; /ready warmup ${JSON.stringify(ready)}`);
  }
  agent.destroy();
  return out;
}

// ---------- the run ----------

async function versions() {
  const version = async (pkg: string) => (JSON.parse(await readFile(join(ROOT, "node_modules", pkg, "package.json"), "utf8")) as { version: string }).version;
  return { onnxruntimeWeb: await version("onnxruntime-web"), wrangler: await version("wrangler"), autocannon: await version("autocannon"), workerd: await version("@cloudflare/workerd-linux-64").catch(() => "unknown") };
}

async function main(tmp: string, abort: AbortController): Promise<void> {
  const started = Date.now();
  const cpu = cpus();
  const machine = {
    cpus: cpu.length,
    cpuModel: cpu[0]?.model ?? "unknown",
    totalMemBytes: totalmem(),
    platform: `${process.platform} ${release()}`,
    node: process.version,
    clockTicksPerS: CLOCK_TICKS,
    date: new Date().toISOString(),
    versions: await versions(),
    atStart: await contention(),
  };
  console.log(`bench:dataplane on ${machine.cpus}x ${machine.cpuModel}, node ${machine.node}, ${machine.date}; ${describeContention(machine.atStart)}`);
  console.log(`knobs: ${JSON.stringify(KNOBS)}`);

  log("building models (sample fixtures, img224)");
  const fixtures = await buildFixtureModels();
  const fx = (name: string) => fixtures.find((m) => m.manifest.name === name)!;
  const imageBytes = buildImageModel();
  const image = await imageManifest(imageBytes);

  log(`frozen copy of ${KNOBS.rev ?? "the working tree"}`);
  const code = frozenCopy(KNOBS.rev);
  cleanups.add(code.remove);
  const head = execFileSync("git", ["rev-parse", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim();
  const dirty = execFileSync("git", ["status", "--porcelain", "--", "edge", "shared", "wrangler.toml"], { cwd: ROOT, encoding: "utf8" }).trim();
  const codeInfo = { measured: code.source, head, edgeOrSharedModified: KNOBS.rev === null && dirty.length > 0, modified: KNOBS.rev === null ? dirty.split("\n").filter(Boolean) : [] };
  try {
    const local = await code.load<typeof Local>("dev/local.ts");
    const credentials = await local.devCredentials(join(tmp, "credentials"));
    const vars = local.credentialVars(credentials);
    const stateDir = join(tmp, "state");
    await local.migrate(stateDir);
    const config = async (name: string) => devConfig(join(code.root, "wrangler.toml"), join(tmp, name), { inspectorPort: await local.freePort() });

    log("starting wrangler dev (quiet) on a fresh state");
    const server = await local.startDev({ stateDir, vars, quiet: true, config: await config("main"), signal: abort.signal });
    servers.add(server);
    const url = server.url;
    const admin = new AdminClient(url, credentials.adminToken, { actor: "bench" });
    const key = credentials.privateKey;

    log("publishing: sample models, cache/batching copies, img224, swap-mlp784");
    for (const m of fixtures) await publish(admin, key, fixtureBytes(m), m.manifest, m.manifest.name, undefined, { promote: true });
    const copies: Array<[string, FixtureModel, Serving]> = [
      ["iris-cache", fx("iris"), { cache: { enabled: true } }],
      ["mlp784-cache", fx("mlp784"), { cache: { enabled: true } }],
      ["iris-batch", fx("iris"), { batching: BATCHING }],
      ["mlp784-batch", fx("mlp784"), { batching: BATCHING }],
    ];
    for (const [name, m, serving] of copies) await publish(admin, key, fixtureBytes(m), m.manifest, name, serving, { promote: true });
    await publish(admin, key, imageBytes, image, IMAGE.name, undefined, { promote: true });
    await publish(admin, key, fixtureBytes(fx("mlp784")), fx("mlp784").manifest, "swap-mlp784", undefined, { promote: true });

    const procs = await devProcesses(server.process.pid!);
    log(`Worker workerd pid ${procs.worker} (--inspector-addr), proxy workerd ${procs.proxies.join(", ") || "none"}, others ${procs.others.join(", ")}`);
    const models = [...fixtures.map((m) => m.manifest.name), ...copies.map((c) => c[0]), IMAGE.name, "swap-mlp784"];
    for (const name of models) await check(url, { method: "GET", path: `/v2/models/${name}/ready` }, `ready ${name}`);

    await new Promise((r) => setTimeout(r, 2000)); // let the loads' and publishes' background work end
    const idleBefore = await snapshot(procs);
    await new Promise((r) => setTimeout(r, 3000));
    const idle = delta(idleBefore, await snapshot(procs));
    log(`idle: Worker workerd ${fmt(idle.workerMs / (idle.wallMs / 1000))} ms CPU/s, proxy ${fmt(idle.proxyMs / (idle.wallMs / 1000))} ms CPU/s`);

    // ----- 1. CPU per prediction vs the floor -----
    log("1/5 CPU per prediction vs the floor (closed loop)");
    const input = (m: string) => fx(m).manifest.inputs[0]!;
    const rowOf = (m: string) => sampleRow(m, input(m));
    const small = ["iris", "iris-int8", "mlp784", "mlp784-int8", "spam-int8"];
    const floorDef: CellDef = { id: "floor", label: "GET /v2/health/live (floor)", source: { method: "GET", path: "/v2/health/live" } };
    const s1Defs: CellDef[] = [floorDef];
    for (const m of small) {
      for (const enc of ["json", "binary"] as const) {
        const req = inferRequest(m, [rowOf(m)], enc);
        await check(url, req, `${m} ${enc}`, (h) => (enc === "binary" && !h["inference-header-content-length"] ? "no binary answer" : null));
        s1Defs.push({ id: `${m}/${enc}`, label: `${m} ${enc}${m === "spam-int8" ? " (raw text, BYTES)" : ""}`, source: req, predictions: 1 });
      }
    }
    const s1 = await rounds(url, procs, s1Defs, "cpu");
    const floorRuns = s1.get("floor")!;
    const s1Stats = s1Defs.map((d) => ({ ...stats(d, s1.get(d.id)!), ratioToFloor: ratio(s1.get(d.id)!, floorRuns) }));

    // ----- 2. binary vs JSON -----
    log("2/5 binary vs JSON: 224×224×3 FP32 image, mlp784 × 64");
    const imageInput: TensorInput = { name: IMAGE.input, datatype: "FP32", shape: [1, IMAGE.height, IMAGE.width, IMAGE.channels], values: imagePixels() };
    const batchInput: TensorInput = { name: input("mlp784").name, datatype: "FP32", shape: [64, 784], values: rows(64, 784, 2000) };
    const s2Payloads = [
      { id: "img224", label: "224×224×3 FP32 image", model: IMAGE.name, input: imageInput, predictions: 1 },
      { id: "mlp784x64", label: "mlp784 × 64 rows", model: "mlp784", input: batchInput, predictions: 64 },
    ];
    const s2Defs: CellDef[] = [];
    const wire: Record<string, Awaited<ReturnType<typeof wireBytes>>> = {};
    for (const p of s2Payloads) {
      for (const enc of ["json", "binary"] as const) {
        const req = inferRequest(p.model, [p.input], enc);
        const id = `${p.id}/${enc}`;
        wire[id] = await wireBytes(url, req);
        if (wire[id]!.status !== 200) throw new Error(`${id}: HTTP ${wire[id]!.status}`);
        s2Defs.push({ id, label: `${p.label} ${enc}`, source: req, predictions: p.predictions });
      }
    }
    const s2 = await rounds(url, procs, s2Defs, "bin/json");
    const s2Stats = s2Payloads.map((p) => ({
      id: p.id,
      label: p.label,
      predictionsPerRequest: p.predictions,
      json: { wire: wire[`${p.id}/json`]!, ...stats(s2Defs.find((d) => d.id === `${p.id}/json`)!, s2.get(`${p.id}/json`)!) },
      binary: { wire: wire[`${p.id}/binary`]!, ...stats(s2Defs.find((d) => d.id === `${p.id}/binary`)!, s2.get(`${p.id}/binary`)!) },
      cpuRatioJsonToBinary: ratio(s2.get(`${p.id}/json`)!, s2.get(`${p.id}/binary`)!),
      requestBytesRatio: wire[`${p.id}/json`]!.requestBytes / wire[`${p.id}/binary`]!.requestBytes,
      responseBytesRatio: wire[`${p.id}/json`]!.responseBytes / wire[`${p.id}/binary`]!.responseBytes,
    }));

    // ----- 3. cache hit vs miss -----
    log("3/5 response cache: hits vs misses (vs no cache)");
    const s3Defs: CellDef[] = [];
    for (const m of ["mlp784", "iris"]) {
      const spec = input(m);
      const features = spec.shape[1]!;
      const base = m === "iris" ? IRIS_ROW : rows(1, features);
      const hit = uniqueJson(`${m}-cache`, spec.name, features, base, () => -3.75).sample(0);
      const miss = uniqueJson(`${m}-cache`, spec.name, features, base, (k) => 1 + k * 1e-4);
      const bypass = uniqueJson(m, spec.name, features, base, (k) => 1 + k * 1e-4);
      await check(url, hit, `${m}-cache hit`);
      await check(url, hit, `${m}-cache hit`, (h) => (h["x-meridian-cache"]?.startsWith("hit") ? null : `second identical request answered x-meridian-cache: ${h["x-meridian-cache"]}`));
      s3Defs.push({ id: `${m}/hit`, label: `${m}-cache, identical requests (hits)`, source: hit });
      s3Defs.push({ id: `${m}/miss`, label: `${m}-cache, unique requests (misses)`, source: { make: miss.make } });
      s3Defs.push({ id: `${m}/nocache`, label: `${m} (no cache), unique requests`, source: { make: bypass.make } });
    }
    const s3 = await rounds(url, procs, s3Defs, "cache");
    const s3Stats = ["mlp784", "iris"].map((m) => {
      const [hit, miss, none] = ["hit", "miss", "nocache"].map((k) => s3.get(`${m}/${k}`)!) as [LoadRun[], LoadRun[], LoadRun[]];
      const def = (k: string) => s3Defs.find((d) => d.id === `${m}/${k}`)!;
      return {
        model: m,
        hit: stats(def("hit"), hit),
        miss: stats(def("miss"), miss),
        noCache: stats(def("nocache"), none),
        cpuMissToHit: ratio(miss, hit),
        cpuMissToNoCache: ratio(miss, none),
        p50MissToHit: ratio(miss, hit, (r) => r.p50Ms),
      };
    });

    // ----- 4. batched vs unbatched at fixed arrival rates -----
    log(`4/5 batching: open loop at ${KNOBS.rates.join(", ")} req/s, ${KNOBS.sweepS} s each, up to ${KNOBS.sweepConnections} connections`);
    const sweepModels = ["iris", "mlp784"];
    const sweepReq = (m: string, batched: boolean) => inferRequest(batched ? `${m}-batch` : m, [rowOf(m)], "binary");
    for (const m of sweepModels) {
      for (const b of [false, true]) {
        await check(url, sweepReq(m, b), `${m} batched=${b}`, (h) => (b && !h["x-meridian-batch-rows"] ? "no x-meridian-batch-rows header" : null));
        await closedLoop(url, procs, sweepReq(m, b), { connections: 16, amount: 400 }); // unreported warm-up
      }
    }
    const sweep: SweepCell[] = [];
    const stopped = new Set<string>();
    let flip = false;
    for (const rate of KNOBS.rates) {
      for (const m of sweepModels) {
        const configs = (flip = !flip) ? (["unbatched", "batched"] as const) : (["batched", "unbatched"] as const);
        for (const c of configs) {
          const key2 = `${m}/${c}`;
          if (stopped.has(key2)) continue;
          const req = sweepReq(m, c === "batched");
          const run = await openLoop(url, procs, req, { rate, durationS: KNOBS.sweepS, connections: KNOBS.sweepConnections, timeoutMs: 10_000 });
          const ok = run.errors === 0 && run.timeouts === 0 && run.non2xx === 0 && run.achievedPerS >= 0.9 * rate;
          const cell: SweepCell = { model: m, config: c, served: req.path.split("/")[3]!, run, ok, meanBatchRows: run.batchRows.n ? run.batchRows.sum / run.batchRows.n : null };
          sweep.push(cell);
          log(`  ${m} ${c} @ ${rate}/s: achieved ${fmt(run.achievedPerS)}/s, p50 ${fmt(run.p50Ms)} ms, p99 ${fmt(run.p99Ms)} ms, CPU ${fmt(run.workerCpuMsPerReq)} ms/req, rows ${cell.meanBatchRows === null ? "-" : fmt(cell.meanBatchRows)}${ok ? "" : " — stopping this config"}`);
          if (!ok) stopped.add(key2);
        }
      }
    }
    const knees = sweepModels.flatMap((m) =>
      (["unbatched", "batched"] as const).map((c) => {
        const cells = sweep.filter((s) => s.model === m && s.config === c);
        const within = cells.filter((s) => s.ok && s.run.p99Ms <= KNOBS.kneeP99Ms);
        const knee = within.length ? within.reduce((a, b) => (b.run.offeredPerS > a.run.offeredPerS ? b : a)) : null;
        const firstFail = cells.find((s) => (!s.ok || s.run.p99Ms > KNOBS.kneeP99Ms) && s.run.offeredPerS > (knee?.run.offeredPerS ?? 0));
        const sustained = cells.filter((s) => s.ok);
        const throughputKnee = sustained.length ? sustained.reduce((a, b) => (b.run.offeredPerS > a.run.offeredPerS ? b : a)) : null;
        return {
          model: m,
          config: c,
          kneeOfferedPerS: knee?.run.offeredPerS ?? null,
          kneeAchievedPerS: knee?.run.achievedPerS ?? null,
          kneeP50Ms: knee?.run.p50Ms ?? null,
          kneeP99Ms: knee?.run.p99Ms ?? null,
          kneeCpuMsPerReq: knee?.run.workerCpuMsPerReq ?? null,
          kneeMeanBatchRows: knee?.meanBatchRows ?? null,
          beyond: firstFail ? { offeredPerS: firstFail.run.offeredPerS, achievedPerS: firstFail.run.achievedPerS, p99Ms: firstFail.run.p99Ms, errors: firstFail.run.errors + firstFail.run.timeouts + firstFail.run.non2xx } : null,
          bracketedAbove: firstFail !== undefined,
          sustainedOfferedPerS: throughputKnee?.run.offeredPerS ?? null,
          sustainedP99Ms: throughputKnee?.run.p99Ms ?? null,
        };
      }),
    );

    // ----- 5. warm-up: first request after a swap -----
    log(`5/5 warm-up: first answer of a new version after a swap, ${KNOBS.swapTrials} trial(s) per variant`);
    const swapA = await swapTrials(server, admin, key, fx("mlp784"), "default (NEW_VERSION_WAIT_MS 100, POINTER_TTL_MS 5000)", KNOBS.swapTrials, "swap-mlp784");
    const finalCpu = await cpuMs(procs.worker);
    await stopServer(server);
    log("  restarting wrangler dev with NEW_VERSION_WAIT_MS=0, POINTER_TTL_MS=500 (the new version loads in the background)");
    const bg = await local.startDev({ stateDir, vars: { ...vars, NEW_VERSION_WAIT_MS: "0", POINTER_TTL_MS: "500" }, quiet: true, config: await config("swap"), signal: abort.signal });
    servers.add(bg);
    let swapB: SwapTrial[];
    try {
      const bgAdmin = new AdminClient(bg.url, credentials.adminToken, { actor: "bench" });
      await check(bg.url, { method: "GET", path: "/v2/models/swap-mlp784/ready" }, "ready swap-mlp784");
      swapB = await swapTrials(bg, bgAdmin, key, fx("mlp784"), "background load (NEW_VERSION_WAIT_MS 0, POINTER_TTL_MS 500)", KNOBS.swapTrials, "swap-mlp784");
    } finally {
      await stopServer(bg);
    }
    const swaps = [...swapA, ...swapB];
    const swapSummary = ["default", "background"].flatMap((prefix) =>
      (["generated warm-up", "no warm-up"] as const).map((variant) => {
        const t = swaps.filter((s) => s.mode.startsWith(prefix) && s.variant === variant);
        return {
          mode: t[0]?.mode ?? prefix,
          variant,
          trials: t.length,
          firstNewMs: spread(t.map((x) => x.firstNewMs)),
          nextMedianMs: spread(t.map((x) => x.nextMedianMs)),
          firstToNext: spread(t.map((x) => x.firstNewMs / x.nextMedianMs)),
          oldMaxMs: spread(t.map((x) => x.oldMaxMs)),
          readyWarmupMs: spread(t.map((x) => x.ready?.ms ?? NaN)),
          readyWarmupRequests: t.map((x) => x.ready?.requests ?? null),
        };
      }),
    );

    // ----- 7. kernel and ceiling (other benches) -----
    const dirs = [...new Set([resultsDir(ROOT), join(ROOT, "bench", "results")])];
    log("7 kernel share of peak (bench/kernel)");
    const kernel = await kernelFigures(KNOBS.kernel, { tmp: join(tmp, "kernel"), signal: abort.signal, log, dirs, timing: { warmupMs: 200, roundMs: 30, rounds: KNOBS.kernelRounds }, peak: { ms: 50, rounds: 10 } });
    log(`  kernel: ${kernel.source}`);
    log("7 model-size ceiling (bench/ceiling)");
    const ceiling = await ceilingFigures(KNOBS.ceiling, { tmp: join(tmp, "ceiling"), log, dirs, sizesMiB: KNOBS.ceilingMiB });
    log(`  ceiling: ${ceiling.source}`);

    // ----- 6. cost (derived from the measured CPU) -----
    const costRows: Array<{ what: string; cpuMsPerRequest: number; predictionsPerRequest: number; cost: WorkersCost; workersAi?: { model: string; usd: number; basis: string } }> = [];
    const tokens = estimateBertTokens(SPAM_TEXT);
    for (const s of s1Stats) {
      const def = s1Defs.find((d) => d.id === s.id)!;
      const row: (typeof costRows)[number] = { what: s.label, cpuMsPerRequest: s.workerCpuMsPerReq.median, predictionsPerRequest: def.predictions ?? 1, cost: workersCost(BILLION, s.workerCpuMsPerReq.median, def.predictions ?? 1) };
      if (s.id.startsWith("spam-int8")) {
        row.workersAi = { model: WORKERS_AI_PRICING.models.text.model, usd: distilbertUsd(BILLION, tokens), basis: `${tokens} input tokens per text (estimated from the text's words, not tokenized) × $${WORKERS_AI_PRICING.models.text.usdPerMillionInputTokens}/M tokens` };
      }
      costRows.push(row);
    }
    for (const p of s2Stats) {
      for (const enc of ["json", "binary"] as const) {
        const c = p[enc];
        const row: (typeof costRows)[number] = { what: `${p.label} ${enc}`, cpuMsPerRequest: c.workerCpuMsPerReq.median, predictionsPerRequest: p.predictionsPerRequest, cost: workersCost(BILLION, c.workerCpuMsPerReq.median, p.predictionsPerRequest) };
        if (p.id === "img224") row.workersAi = { model: WORKERS_AI_PRICING.models.image.model, usd: resnetUsd(BILLION), basis: `$${WORKERS_AI_PRICING.models.image.usdPerMillionImages}/M images` };
        costRows.push(row);
      }
    }
    for (const m of s3Stats) {
      costRows.push({ what: `${m.model}-cache hit (json)`, cpuMsPerRequest: m.hit.workerCpuMsPerReq.median, predictionsPerRequest: 1, cost: workersCost(BILLION, m.hit.workerCpuMsPerReq.median) });
    }

    // ---------- print ----------
    const ms = (s: Spread) => fmtSpread(s, "");
    console.log(`\ncode measured: ${codeInfo.measured} (HEAD ${head.slice(0, 12)}${codeInfo.edgeOrSharedModified ? `; uncommitted changes in ${codeInfo.modified.length} edge/shared files` : ""})`);
    console.log(`Worker = workerd pid ${procs.worker} (the one with --inspector-addr); wrangler's proxy workerd ${procs.proxies.join(", ") || "-"}; idle Worker CPU ${fmt(idle.workerMs / (idle.wallMs / 1000))} ms/s (not subtracted)`);

    console.log(`\n1. Worker CPU per request vs the floor (MEASURED: workerd utime+stime / answered requests; autocannon ${KNOBS.connections} connections, ${KNOBS.cellS} s per cell, ${KNOBS.rounds} interleaved rounds; median (min–max) over rounds)`);
    console.log(
      table(
        ["cell", "Worker CPU ms/req", "× floor (same round)", `≤ ${TARGET_RATIO}× every round`, "schedstat ms/req", "proxy workerd ms/req", "bench req/s", "p50 ms", "p99 ms", "not 2xx"],
        s1Stats.map((s) => [
          s.label,
          ms(s.workerCpuMsPerReq),
          s.id === "floor" ? "1" : ms(s.ratioToFloor),
          s.id === "floor" ? "-" : metBySpread(s.ratioToFloor, { below: TARGET_RATIO + 1e-9 }) ? "met" : "missed",
          s.workerSchedMsPerReq.median,
          s.proxyCpuMsPerReq.median,
          s.reqPerS.median,
          s.p50Ms.median,
          s.p99Ms.median,
          s.non2xx + s.errors + s.timeouts,
        ]),
      ),
    );
    const misses = s1Stats.filter((s) => s.id !== "floor" && !metBySpread(s.ratioToFloor, { below: TARGET_RATIO + 1e-9 }));
    console.log(`   target (issue 12): a small-model prediction costs at most ${TARGET_RATIO}× the floor — ${misses.length === 0 ? "MET in every cell and round" : `MISSED in ${misses.length} of ${s1Stats.length - 1} cells (${misses.map((m) => m.label).join("; ")})`}`);

    const closed = [...s1Stats, ...s2Stats.flatMap((p) => [p.json, p.binary]), ...s3Stats.flatMap((m) => [m.hit, m.miss, m.noCache])];
    const notOk: Record<string, number> = {};
    for (const c of closed) for (const r of c.runs) for (const [k, v] of Object.entries(r.statuses)) if (!k.startsWith("2")) notOk[k] = (notOk[k] ?? 0) + v;
    const allAnswers = closed.reduce((a, c) => a + c.responses, 0);
    const notOkCount = Object.values(notOk).reduce((a, b) => a + b, 0);
    console.log(
      `   answers not 2xx in the closed-loop cells of 1–3: ${notOkCount} of ${fmt(allAnswers)}${notOkCount ? ` (${Object.entries(notOk).map(([k, v]) => `${v}×${k}`).join(", ")}; per cell in the "not 2xx" columns and runs[].statuses; CPU per request counts every answer)` : ""}`,
    );

    console.log("\n2. Binary vs JSON (MEASURED; bytes: one exchange on a fresh connection, headers included; CPU: as in 1)");
    console.log(
      table(
        ["payload", "encoding", "request B", "response B", "request body B", "response body B", "Worker CPU ms/req", "proxy workerd ms/req", "p50 ms", "p99 ms", "req/s"],
        s2Stats.flatMap((p) =>
          (["json", "binary"] as const).map((enc) => [p.label, enc, p[enc].wire.requestBytes, p[enc].wire.responseBytes, p[enc].wire.requestBodyBytes, p[enc].wire.responseBodyBytes, ms(p[enc].workerCpuMsPerReq), p[enc].proxyCpuMsPerReq.median, p[enc].p50Ms.median, p[enc].p99Ms.median, p[enc].reqPerS.median]),
        ),
      ),
    );
    for (const p of s2Stats) console.log(`   ${p.label}: JSON/binary request bytes ×${fmt(p.requestBytesRatio)}, response bytes ×${fmt(p.responseBytesRatio)}, Worker CPU ×${ms(p.cpuRatioJsonToBinary)} (per round)`);

    console.log("\n3. Response cache (MEASURED; JSON, batch 1; misses: every request's input unique; x-meridian-cache as answered)");
    console.log(
      table(
        ["cell", "Worker CPU ms/req", "p50 ms", "p99 ms", "req/s", "x-meridian-cache"],
        s3Stats.flatMap((m) => [m.hit, m.miss, m.noCache].map((c) => [c.label, ms(c.workerCpuMsPerReq), ms(c.p50Ms), ms(c.p99Ms), c.reqPerS.median, Object.entries(c.cache).map(([k, v]) => `${k} ${v}`).join(", ") || "-"])),
      ),
    );
    for (const m of s3Stats) console.log(`   ${m.model}: miss/hit CPU ×${ms(m.cpuMissToHit)}, p50 ×${ms(m.p50MissToHit)}; miss/no-cache CPU ×${ms(m.cpuMissToNoCache)}`);
    console.log(
      "   A miss looks the key up in the isolate, then in caches.default, runs the model, and puts the answer in both (the PoP copy in waitUntil). Under wrangler dev caches.default is\n" +
        "   Miniflare's simulator inside the same workerd process, so its CPU and latency are in these figures; on Cloudflare the Cache API runs outside the Worker's billed CPU.",
    );

    console.log(`\n4. Dynamic batching at fixed arrival rates (MEASURED; open loop: evenly spaced arrivals, latency from each request's scheduled time; binary batch-1 requests; up to ${KNOBS.sweepConnections} connections; batched = serving.batching ${JSON.stringify(BATCHING)})`);
    console.log(
      table(
        ["model", "config", "offered/s", "achieved/s", "p50 ms", "p99 ms", "Worker CPU ms/req", "mean rows/run", "not 2xx (by status)", "errors+timeouts", "send lag p99 ms", "ok"],
        sweep.map((s) => [
          s.model,
          s.config,
          s.run.offeredPerS,
          s.run.achievedPerS,
          s.run.p50Ms,
          s.run.p99Ms,
          s.run.workerCpuMsPerReq,
          s.meanBatchRows,
          s.run.non2xx ? Object.entries(s.run.statuses).filter(([k]) => /^\d+$/.test(k) && !k.startsWith("2")).map(([k, v]) => `${v}×${k}`).join(" ") : "0",
          s.run.errors + s.run.timeouts,
          s.run.sendLagP99Ms,
          s.ok ? "yes" : "no",
        ]),
      ),
    );
    const failures = [...new Set(sweep.flatMap((c) => c.run.errorBodies.map((b) => `${c.model}/${c.config}: ${b.replace(/\s+/g, " ")}`)))];
    if (failures.length) console.log(`   answers that were not 2xx (first distinct bodies):\n${failures.slice(0, 6).map((f) => `     ${f}`).join("\n")}`);
    console.log(`   knee (DERIVED): the highest offered rate achieved within 90%, without errors, with p99 ≤ ${KNOBS.kneeP99Ms} ms`);
    console.log(
      table(
        ["model", "config", "knee offered/s", "achieved/s", "p50 ms", "p99 ms", "CPU ms/req", "mean rows/run", "first rate past it", "highest sustained (any p99)"],
        knees.map((k) => [
          k.model,
          k.config,
          k.kneeOfferedPerS ?? "none",
          k.kneeAchievedPerS,
          k.kneeP50Ms,
          k.kneeP99Ms,
          k.kneeCpuMsPerReq,
          k.kneeMeanBatchRows,
          k.beyond ? `${fmt(k.beyond.offeredPerS)}/s: achieved ${fmt(k.beyond.achievedPerS)}, p99 ${fmt(k.beyond.p99Ms)} ms` : "not reached (sweep ended)",
          k.sustainedOfferedPerS === null ? "none" : `${fmt(k.sustainedOfferedPerS)}/s (p99 ${fmt(k.sustainedP99Ms!)} ms)`,
        ]),
      ),
    );

    console.log("\n5. Warm-up: the first request a new version answers after its promote (MEASURED; sequential JSON mlp784 batch-1 requests every ~2 ms; median (min–max) over trials)");
    console.log(
      table(
        ["mode", "variant", "trials", "first answer ms", "next 20 median ms", "first/next", "old version max ms", "/ready warmup ms"],
        swapSummary.map((s) => [s.mode, s.variant, s.trials, ms(s.firstNewMs), ms(s.nextMedianMs), ms(s.firstToNext), ms(s.oldMaxMs), ms(s.readyWarmupMs)]),
      ),
    );
    console.log(
      "   default: the request that finds the new pointer waits (≤ 100 ms) for the load, warm-up included, and is answered by the new version.\n" +
        "   background: NEW_VERSION_WAIT_MS=0, so old answers continue while the new one loads; the first new answer is then a plain request on a fresh session.\n" +
        "   'no warm-up' = manifest serving.warmup: [] (zero warm-up requests; /ready reports requests 0). /ready warmup ms is the edge's own Date.now() difference inside workerd\n" +
        "   (0–1 ms here: workerd's clock does not move during synchronous work, so it under-reads; the first-answer columns are the client's wall time).",
    );

    console.log(`\n6. Cost per 10^9 predictions (DERIVED from the medians above) at ${WORKERS_PRICING.plan}: $${WORKERS_PRICING.usdPerMillionRequests}/M requests beyond ${fmt(WORKERS_PRICING.includedRequestsPerMonth)}, $${WORKERS_PRICING.usdPerMillionCpuMs}/M CPU-ms beyond ${fmt(WORKERS_PRICING.includedCpuMsPerMonth)}, $${WORKERS_PRICING.baseUsdPerMonth}/month; all in one month`);
    console.log(`   prices: ${WORKERS_PRICING.page} (${WORKERS_PRICING.source}); Workers AI: ${WORKERS_AI_PRICING.page}, $${WORKERS_AI_PRICING.usdPer1000Neurons}/1,000 neurons (${WORKERS_AI_PRICING.source})`);
    console.log(
      table(
        ["what", "predictions/request", "CPU ms/request", "requests $", "CPU $", "total $ (incl. $5)", "Workers AI nearest", "Workers AI $"],
        costRows.map((r) => [r.what, r.predictionsPerRequest, r.cpuMsPerRequest, r.cost.requestsUsd, r.cost.cpuUsd, r.cost.totalUsd, r.workersAi?.model ?? "-", r.workersAi ? r.workersAi.usd : "-"]),
      ),
    );
    console.log(
      `   Workers AI: spam-int8 beside ${WORKERS_AI_PRICING.models.text.model} (${WORKERS_AI_PRICING.models.text.task}; priced per input token: ${tokens} tokens assumed for the bench's text, MODELLED), img224 beside ${WORKERS_AI_PRICING.models.image.model} (${WORKERS_AI_PRICING.models.image.task}; a far larger model: same input, not the same work).\n` +
        "   CPU here is wrangler dev's workerd on this x86 machine, a proxy for the CPU time Cloudflare bills (different CPUs, no dev proxy, production isolate settings).",
    );

    console.log("\n7. Kernel share of peak and model-size ceiling (from bench/kernel and bench/ceiling)");
    console.log(`   kernel: ${kernel.source}`);
    const ks = kernel.results ? kernelSummary(kernel.results) : null;
    if (ks) {
      const g = (n: number | null) => (n === null ? "-" : fmt(n));
      console.log(`   peaks (GFLOP/s, one thread): WASM SIMD mul+add in workerd ${g(ks.wasmMulAddPeakGflops)}, native AVX2 FMA ${g(ks.avx2FmaPeakGflops)}${ks.avx512FmaPeakGflops ? `, AVX-512 FMA ${g(ks.avx512FmaPeakGflops)}` : ""}`);
      console.log(
        table(
          ["mlp784 batch", "MFLOP", "ort-web µs", "ort-web GFLOP/s", "% of WASM peak", "ort-node µs", "ort-node GFLOP/s", "% of AVX2 peak", "web/node"],
          ks.achieved.map((a) => [a.batch, a.mflop, a.webUs, a.webGflops, a.webShareOfWasmPeak === null ? "-" : `${fmt(a.webShareOfWasmPeak * 100)}%`, a.nodeUs, a.nodeGflops, a.nodeShareOfAvx2Peak === null ? "-" : `${fmt(a.nodeShareOfAvx2Peak * 100)}%`, a.webToNode]),
        ),
      );
    }
    console.log(`   ceiling: ${ceiling.source}`);
    const cs = ceiling.results ? ceilingSummary(ceiling.results) : null;
    if (cs) {
      const mib = (n: number | null) => (n === null ? "-" : `${fmt(n / 2 ** 20)} MiB`);
      console.log(
        `   largest model a PoP serves (a swap's peak + headroom ≤ ${fmt(cs.limitBytes / 1e6)} MB): fp32 ${mib(cs.ceilingBytes.fp32)}, int8 ${mib(cs.ceilingBytes.int8)} (fitted); measured brackets fp32 ${mib(cs.bracket.fp32.largestFitting)} fits / ${mib(cs.bracket.fp32.smallestOver)} does not, int8 ${mib(cs.bracket.int8.largestFitting)} / ${mib(cs.bracket.int8.smallestOver)}; this run alone would set MAX_MODEL_BYTES to ${mib(cs.maxModelBytes)} (edge/config.ts keeps the lowest of several runs); bundle ${mib(cs.bundleRawBytes)} of ${mib(cs.bundleLimitBytes)}`,
      );
    }

    const results = {
      machine,
      code: codeInfo,
      knobs: KNOBS,
      units: "Field suffixes: Ms milliseconds, S seconds, PerS per second, Bytes bytes, Usd US dollars. Spreads are {n, min, median, max} over rounds (or trials).",
      measuredVsDerived:
        "MEASURED: CPU ms per request (workerd /proc utime+stime, cross-checked by schedstat), request rates, latencies, bytes on the wire, x-meridian-cache / x-meridian-batch-rows counts, first-answer latencies, warm-up ms reported by /ready. DERIVED: ratios (per round), knees (from the sweep), cost per 10^9 predictions (measured CPU × published prices), Workers AI prices (published prices × counts; the token count is MODELLED). Kernel and ceiling figures: see their own method strings.",
      processes: { worker: procs.worker, proxies: procs.proxies, others: procs.others, selection: "the workerd below the wrangler dev reaper whose command line has --inspector-addr", idle },
      cpuPerPrediction: {
        method: `MEASURED: per cell, utime+stime of the Worker's workerd (/proc/<pid>/stat, ${CLOCK_TICKS} ticks/s) read before and after ${KNOBS.cellS} s of autocannon load (${KNOBS.connections} connections, keep-alive, closed loop) divided by the responses received; wrangler dev with --log-level warn (quiet). Every cell once per round, ${KNOBS.rounds} rounds, order reversed every other round; ratio = cell / floor of the same round (DERIVED). Requests: OIP infer, batch 1, JSON in and out, or binary tensor data in and out (binary_data_output); spam-int8 takes raw text as BYTES and featurizes it at the edge. Target: at most ${TARGET_RATIO}× the floor in every round.`,
        targetRatio: TARGET_RATIO,
        cells: s1Stats,
      },
      binaryVsJson: {
        method: "MEASURED: wire bytes of one exchange on a fresh connection (socket bytesWritten / bytesRead, HTTP headers included) and, per cell, the Worker's CPU per request as in cpuPerPrediction, same rounds scheme. img224: a [1,224,224,3] FP32 input of 8-bit pixels / 255 into a model built here (ReduceMean over H and W, 3×10 MatMul, Softmax, ArgMax); mlp784 × 64: 64 seeded normal rows. JSON as the client library sends it (each float32's shortest double form).",
        payloads: s2Stats,
      },
      responseCache: {
        method: "MEASURED: copies of mlp784 and iris published with serving.cache.enabled; hits: the same JSON request repeated; misses: the first input value changed on every request (unique across the run); no cache: the same unique requests to the sample model without a cache. Latency: autocannon, per response. Same rounds scheme as cpuPerPrediction.",
        models: s3Stats,
      },
      batching: {
        method: `MEASURED: open-loop generator (node:http, keep-alive, up to ${KNOBS.sweepConnections} connections): requests evenly spaced at the offered rate for ${KNOBS.sweepS} s, latency from each request's scheduled send time (a queue in the client counts), achieved = 2xx answers / (last answer − first scheduled send). A config stops at its first rate with errors, timeouts (10 s) or achieved < 90% of offered. Rates interleaved: at each rate both models, both configs, order alternating. Binary batch-1 requests. Batched: copies published with serving.batching ${JSON.stringify(BATCHING)}; unbatched: the sample models. Mean rows per run from x-meridian-batch-rows. autocannon's -R was not used: it sends each connection's per-second quota back to back at the start of each second (bursts, not a fixed arrival rate). DERIVED: knee = the highest offered rate achieved within 90% without errors and p99 ≤ ${KNOBS.kneeP99Ms} ms.`,
        cells: sweep,
        knees,
      },
      warmup: {
        method:
          "MEASURED: per trial a new version of swap-mlp784 (mlp784's bytes) is published, the serving version is answered 20 times, the new one promoted, then sequential JSON batch-1 requests (one at a time, ~2 ms apart) until the new version (x-meridian-model-version) has answered 21: 'first answer' is the latency of its first, 'next 20 median' of the others, 'old version max' the slowest answer of the old version after the promote. Variants alternate: 'generated warm-up' (manifest without serving.warmup: one generated request of zeros runs before the version serves) and 'no warm-up' (serving.warmup: [], zero requests). Modes: default settings (the request finding the new pointer waits up to NEW_VERSION_WAIT_MS 100 for the load), and a wrangler dev restarted on the same state with NEW_VERSION_WAIT_MS=0 and POINTER_TTL_MS=500 (the load happens while the old version answers). /ready warmup: requests and ms the edge reports for that version (timed with Date.now inside workerd).",
        trials: swaps,
        summary: swapSummary,
      },
      cost: {
        method: "DERIVED: Workers Standard bill for 10^9 predictions in one month = $5 + (requests − 10M)/1M × $0.30 + (requests × CPU ms per request − 30M)/1M × $0.02, requests = predictions / predictions per request, CPU ms per request = the MEASURED median of the cell. Workers AI: published per-unit prices × units (spam text tokens MODELLED by estimateBertTokens). workerd CPU under wrangler dev on this x86 machine stands in for the CPU time Cloudflare bills.",
        workersPricing: WORKERS_PRICING,
        workersAiPricing: WORKERS_AI_PRICING,
        spamTextTokensModelled: tokens,
        rows: costRows,
      },
      kernel: { source: kernel.source, measuredInThisRun: kernel.measuredInThisRun, error: kernel.error ?? null, summary: ks, results: kernel.results },
      ceiling: { source: ceiling.source, measuredInThisRun: ceiling.measuredInThisRun, error: ceiling.error ?? null, summary: cs, results: ceiling.results },
      workerCpuMsTotal: finalCpu,
      atEnd: { note: "includes this bench's own processes", ...(await contention()) },
      wallS: (Date.now() - started) / 1000,
    };
    const outDir = resultsDir(ROOT);
    await mkdir(outDir, { recursive: true });
    const out = join(outDir, "dataplane.json");
    await writeFile(out, `${JSON.stringify(rounded(results), null, 1)}\n`);
    console.log(`\nwrote ${out} (${fmt(results.wallS)} s); at the end (incl. this bench): ${describeContention(results.atEnd)}`);
  } finally {
    await stopAll();
    code.remove();
    cleanups.delete(code.remove);
  }
}

const tmp = await mkdtemp(join(tmpdir(), "meridian-dataplane-"));
const abort = new AbortController();
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.once(signal, () => {
    abort.abort();
    void stopAll()
      .finally(() => {
        for (const c of cleanups) c();
        return rm(tmp, { recursive: true, force: true });
      })
      .finally(() => process.exit(130));
  });
}
try {
  await main(tmp, abort);
} catch (err) {
  console.error(abort.signal.aborted ? "bench:dataplane: stopped by a signal" : err);
  process.exitCode = abort.signal.aborted ? 130 : 1;
} finally {
  await stopAll();
  await rm(tmp, { recursive: true, force: true });
}

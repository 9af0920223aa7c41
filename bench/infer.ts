// `npm run bench:infer`: inference cost of the edge Worker on this machine, in one run.
//  1. kernel: onnxruntime-web (WASM, inside workerd) vs onnxruntime-node, 1 thread each
//  2. HTTP latency through `wrangler dev` on loopback (autocannon)
//  3. cold start: a fresh isolate's first module line → its first prediction, runtime start
//     included, and the parts (bench/infer-cold.ts)
//  4. bundle size (`wrangler deploy --dry-run`)
//  5. workerd RSS before/after loading the sample models
// Prints tables and writes infer.json (bench/results/, or BENCH_RESULTS_DIR). Exits non-zero
// only if something breaks.
//
// Options (environment): INFER_KERNEL_ROUNDS=20, INFER_HTTP_S=10 (seconds per load run),
// INFER_COLD_RUNS=3.
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { cpus, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import * as ortNode from "onnxruntime-node";
import { buildFixtureModels, type FixtureModel } from "../dev/samples/index";
import { ROOT, WRANGLER_ENV, credentialVars, devCredentials, freePort, startDev, startSeeded, type DevServer } from "../dev/local";
import { contention, describeContention, devConfig, envNumber, resultsDir } from "./host";
import { coldStart } from "./infer-cold";
import { fmt, fmtSpread, metBySpread, percentile, randomInputs, rounded, table, timeRounds, type RoundTiming } from "./lib";

const require = createRequire(import.meta.url);
const WRANGLER = join(ROOT, "node_modules", ".bin", "wrangler");
const OUT_DIR = resultsDir(ROOT);
const KERNEL_MODELS = ["iris", "iris-int8", "mlp784", "mlp784-int8"];
const BATCHES = [1, 8, 64];
const TIMING = { warmupMs: 300, roundMs: 50, rounds: Math.round(envNumber("INFER_KERNEL_ROUNDS", 20)) };
const HTTP_S = envNumber("INFER_HTTP_S", 10);
const COLD_RUNS = Math.round(envNumber("INFER_COLD_RUNS", 3));
const MIB = 1024 * 1024;
const TARGETS = { kernelRatio: 2, irisP99Ms: 10, firstPredictionMs: 300, bundleGzipBytes: 10 * MIB, freePlanGzipBytes: 3 * MIB };
const log = (line: string) => process.stderr.write(`${line}\n`);

// autocannon ships no types: the slice of its API used here.
interface AutocannonResult {
  duration: number;
  requests: { total: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}
type Autocannon = (
  opts: Record<string, unknown>,
  done: (err: Error | null, result: AutocannonResult) => void,
) => { on(event: "response", fn: (client: unknown, status: number, bytes: number, ms: number) => void): void };
const autocannon = require("autocannon") as Autocannon;

const servers = new Set<DevServer>();
function track<T extends DevServer>(server: T): T {
  servers.add(server);
  return server;
}
async function stop(server: DevServer): Promise<void> {
  servers.delete(server);
  await server.stop();
}
const stopAll = () => Promise.all([...servers].map(stop));

async function json<T>(res: Response, what: string): Promise<T> {
  const text = await res.text();
  if (!res.ok) throw new Error(`${what}: HTTP ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

function inferBody(model: FixtureModel, rows = 1): string {
  const input = model.manifest.inputs[0]!;
  const features = input.shape[1]!;
  const data = model.manifest.name.startsWith("iris") ? [5.1, 3.5, 1.4, 0.2] : Array.from(randomInputs(rows, features, 1)[0]!);
  return JSON.stringify({ inputs: [{ name: input.name, datatype: "FP32", shape: [rows, features], data }] });
}

async function timedInfer(url: string, model: FixtureModel): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(`${url}/v2/models/${model.manifest.name}/infer`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: inferBody(model),
  });
  const body = await json<{ outputs?: unknown[] }>(res, `infer ${model.manifest.name}`);
  const ms = performance.now() - t0;
  if (!body.outputs?.length) throw new Error(`infer ${model.manifest.name}: no outputs in ${JSON.stringify(body)}`);
  return ms;
}

// 1. Kernel time per batch, ort-web in workerd vs ort-node in this process.
const perRun = (t: RoundTiming) => ({
  medianUs: t.perRunUs.median,
  p10Us: t.perRunUs.p10,
  p90Us: t.perRunUs.p90,
  rounds: t.rounds,
  runsPerRound: t.runsPerRound,
  clockResolutionMs: t.clockResolutionMs,
});

async function kernel(models: FixtureModel[], stateDir: string, config: string) {
  const server = track(await startDev({ config, stateDir }));
  try {
    // Unreported first request: lets the fresh isolate and wrangler settle before measuring.
    await kernelWeb(server.url, models[0]!, 1);
    const cells = [];
    for (const model of models) {
      const bytes = Buffer.from(model.onnx, "base64");
      const { name: input, shape } = model.manifest.inputs[0]!;
      const features = shape[1]!;
      const session = await ortNode.InferenceSession.create(bytes, {
        executionProviders: ["cpu"],
        graphOptimizationLevel: "all",
        intraOpNumThreads: 1,
        interOpNumThreads: 1,
      });
      for (const batch of BATCHES) {
        const web = await kernelWeb(server.url, model, batch);
        const feeds = randomInputs(batch, features).map((data) => ({ [input]: new ortNode.Tensor("float32", data, [batch, features]) }));
        const node = await timeRounds((i) => session.run(feeds[i % feeds.length]!), TIMING);
        const ratio = web.perRunUs.median / node.perRunUs.median;
        cells.push({ model: model.manifest.name, batch, web: perRun(web), node: perRun(node), ratioWebToNode: ratio, met: ratio <= TARGETS.kernelRatio });
        log(`  kernel ${model.manifest.name} batch ${batch}: web ${fmt(web.perRunUs.median)} µs, node ${fmt(node.perRunUs.median)} µs`);
      }
      await session.release();
    }
    return cells;
  } finally {
    await stop(server);
  }
}
async function kernelWeb(url: string, model: FixtureModel, batch: number): Promise<RoundTiming> {
  const { name: input, shape } = model.manifest.inputs[0]!;
  const query = new URLSearchParams({ input, features: String(shape[1]), batch: String(batch) });
  for (const [k, v] of Object.entries(TIMING)) query.set(k, String(v));
  const res = await fetch(`${url}/kernel?${query}`, { method: "POST", body: Buffer.from(model.onnx, "base64") });
  return json<RoundTiming>(res, `kernel ${model.manifest.name} batch ${batch}`);
}

// 5. workerd RSS (the workerd processes below a wrangler dev server's reaper).
async function workerdPids(root: number): Promise<number[]> {
  const procs: { pid: number; ppid: number; comm: string }[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    const close = stat.lastIndexOf(")");
    if (close < 0) continue;
    const comm = stat.slice(stat.indexOf("(") + 1, close);
    const ppid = Number(stat.slice(close + 2).split(" ")[1]); // fields after comm: state ppid pgrp
    procs.push({ pid: Number(entry), ppid, comm });
  }
  const below = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of procs) if (below.has(p.ppid) && !below.has(p.pid)) grew = Boolean(below.add(p.pid));
  }
  return procs.filter((p) => p.comm === "workerd" && below.has(p.pid)).map((p) => p.pid);
}
async function rss(pid: number): Promise<{ rssBytes: number; hwmBytes: number }> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN) * 1024;
  return { rssBytes: kb("VmRSS"), hwmBytes: kb("VmHWM") };
}

interface Health {
  runtime: { status: string; startMs?: number };
  sessions: { sessions: number; bytes: number };
}
async function memory(server: DevServer, models: FixtureModel[]) {
  const pids = await workerdPids(server.process.pid!);
  if (pids.length === 0) throw new Error("no workerd process found below the wrangler dev server");
  const before = await Promise.all(pids.map(rss));
  for (const m of models) await json(await fetch(`${server.url}/v2/models/${m.manifest.name}/ready`), `ready ${m.manifest.name}`);
  const after = await Promise.all(pids.map(rss));
  const health = await json<Health>(await fetch(`${server.url}/v2/health/ready`), "health");
  return {
    modelsLoaded: models.map((m) => m.manifest.name),
    workerd: pids.map((pid, i) => ({ pid, before: before[i]!, after: after[i]!, deltaRssBytes: after[i]!.rssBytes - before[i]!.rssBytes })),
    sessionsBytes: health.sessions.bytes,
    sessions: health.sessions.sessions,
  };
}

// 2. HTTP latency with autocannon; per-request latencies from its "response" events (fractional
// ms; its own histogram keeps whole ms). `target`: a model (batch-1 inference) or a path to GET.
async function load(url: string, target: FixtureModel | string, label: string, opts: Record<string, unknown>) {
  const path = typeof target === "string" ? target : `/v2/models/${target.manifest.name}/infer`;
  const request =
    typeof target === "string"
      ? { url: url + path, method: "GET" }
      : { url: url + path, method: "POST", headers: { "content-type": "application/json" }, body: inferBody(target) };
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const result = await new Promise<AutocannonResult>((resolve, reject) => {
    const instance = autocannon({ ...request, ...opts }, (err, res) => (err ? reject(err) : resolve(res)));
    instance.on("response", (_client, status, _bytes, ms) => {
      statuses[status] = (statuses[status] ?? 0) + 1;
      if (status === 200) latencies.push(ms);
    });
  });
  const sorted = latencies.sort((a, b) => a - b);
  const run = {
    route: `${request.method} ${path}`,
    load: label,
    durationS: result.duration,
    requests: result.requests.total,
    reqPerS: result.requests.total / result.duration,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.at(-1) ?? NaN,
    ok200: statuses[200] ?? 0,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCounts: statuses,
  };
  log(`  http ${run.route} ${label}: p50 ${fmt(run.p50Ms)} ms, p99 ${fmt(run.p99Ms)} ms, ${fmt(run.reqPerS)} req/s`);
  return run;
}

// 4. Bundle size of the deployable Worker.
async function bundle(tmp: string, env?: string) {
  const outdir = await mkdtemp(join(tmp, "bundle-"));
  const args = ["deploy", "--dry-run", "--outdir", outdir, "--config", join(ROOT, "wrangler.toml"), ...(env ? ["--env", env] : [])];
  const { stdout } = await promisify(execFile)(WRANGLER, args, { cwd: ROOT, env: WRANGLER_ENV, maxBuffer: 16 * MIB });
  const files = [];
  for (const name of (await readdir(outdir, { recursive: true })).sort()) {
    const path = join(outdir, name);
    if (name === "README.md" || !(await stat(path)).isFile()) continue; // wrangler's note, not uploaded
    const bytes = await readFile(path);
    files.push({ name, rawBytes: bytes.length, gzipBytes: gzipSync(bytes, { level: 9 }).length });
  }
  const rawBytes = files.reduce((a, f) => a + f.rawBytes, 0);
  const gzipBytes = files.reduce((a, f) => a + f.gzipBytes, 0);
  return {
    env: env ?? "default",
    files,
    rawBytes,
    gzipBytes,
    wranglerReports: /Total Upload:\s*(.+)/.exec(stdout)?.[1]?.trim() ?? null,
    limitGzipBytes: TARGETS.bundleGzipBytes,
    met: gzipBytes <= TARGETS.bundleGzipBytes,
    underFreePlan: gzipBytes <= TARGETS.freePlanGzipBytes,
  };
}

async function versions() {
  const version = async (pkg: string) => (JSON.parse(await readFile(join(ROOT, "node_modules", pkg, "package.json"), "utf8")) as { version: string }).version;
  return { onnxruntimeWeb: await version("onnxruntime-web"), onnxruntimeNode: await version("onnxruntime-node"), wrangler: await version("wrangler"), autocannon: await version("autocannon") };
}

async function main(tmp: string): Promise<void> {
  const started = Date.now();
  const cpu = cpus();
  const machine = { cpus: cpu.length, cpuModel: cpu[0]?.model ?? "unknown", totalMemBytes: totalmem(), platform: `${process.platform} ${release()}`, node: process.version, date: new Date().toISOString(), versions: await versions(), atStart: await contention() };
  console.log(`bench:infer on ${machine.cpus}x ${machine.cpuModel}, node ${machine.node}, ${machine.date}; ${describeContention(machine.atStart)}`);
  const models = await buildFixtureModels();
  const byName = (name: string) => models.find((m) => m.manifest.name === name)!;

  log("4/5 bundle: wrangler deploy --dry-run");
  const bundles = [await bundle(tmp)];
  if (/^\s*\[env\.webgpu[\].]/m.test(await readFile(join(ROOT, "wrangler.toml"), "utf8"))) bundles.push(await bundle(tmp, "webgpu"));

  log("1/5 kernel: onnxruntime-web in workerd vs onnxruntime-node");
  // Every wrangler dev here gets its own inspector port (host.ts devConfig): others run wrangler dev on this machine too.
  const config = async (source: string, name: string) => devConfig(source, join(tmp, name), { inspectorPort: await freePort() });
  const kernelCells = await kernel(KERNEL_MODELS.map(byName), join(tmp, "kernel-state"), await config(join(ROOT, "bench", "wrangler.kernel.toml"), "kernel"));

  log("seeding a fresh state dir (admin API of a throwaway wrangler dev)");
  const stateDir = join(tmp, "state");
  const credentials = await devCredentials(join(tmp, "credentials"));
  const edgeConfig = await config(join(ROOT, "wrangler.toml"), "edge");
  await stop(track(await startSeeded({ stateDir, credentials, config: edgeConfig })));
  const vars = credentialVars(credentials);
  log("5/5 memory + 2/5 http: fresh wrangler dev on the seeded state");
  // quiet: wrangler's per-request log line costs its process CPU on the same 2 cores (~30% of throughput).
  const server = track(await startDev({ stateDir, vars, quiet: true, config: edgeConfig }));
  let mem;
  const http = [];
  try {
    mem = await memory(server, models);
    for (const name of ["iris", "iris-int8", "mlp784"]) await timedInfer(server.url, byName(name)); // checks 200 + outputs
    await load(server.url, byName("iris"), "warm-up", { connections: 4, amount: 500 });
    http.push(await load(server.url, byName("iris"), "4 connections", { connections: 4, duration: HTTP_S }));
    http.push(await load(server.url, byName("iris"), "200 req/s fixed", { connections: 4, duration: HTTP_S, overallRate: 200 }));
    http.push(await load(server.url, byName("iris-int8"), "4 connections", { connections: 4, duration: HTTP_S }));
    http.push(await load(server.url, byName("mlp784"), "4 connections", { connections: 4, duration: HTTP_S }));
    http.push(await load(server.url, "/v2/health/live", "4 connections", { connections: 4, duration: HTTP_S })); // no inference: the floor
    http.push(await load(server.url, "/v2/health/live", "200 req/s fixed", { connections: 4, duration: HTTP_S, overallRate: 200 }));
  } finally {
    await stop(server);
  }

  log(`3/5 cold start: fresh wrangler dev x${COLD_RUNS} (probe Worker bench/cold-worker.ts)`);
  const cold = await coldStart(tmp, stateDir, vars, byName("iris"), inferBody(byName("iris")), COLD_RUNS, log);

  // Tables.
  console.log("\n1. Kernel: median µs per session.run (1 thread; p10–p90 across rounds)");
  console.log(
    table(
      ["model", "batch", "web µs", "web p10–p90", "node µs", "node p10–p90", "web/node", `≤ ${TARGETS.kernelRatio}x`],
      kernelCells.map((c) => [c.model, c.batch, c.web.medianUs, `${fmt(c.web.p10Us)}–${fmt(c.web.p90Us)}`, c.node.medianUs, `${fmt(c.node.p10Us)}–${fmt(c.node.p90Us)}`, c.ratioWebToNode, c.met ? "met" : "missed"]),
    ),
  );
  console.log(`   (runs timed in rounds of ~${TIMING.roundMs} ms, ${TIMING.rounds} rounds; workerd clock step ${kernelCells[0]?.web.clockResolutionMs} ms)`);
  console.log(`\n2. HTTP on loopback through wrangler dev --log-level warn, batch 1 (autocannon, ${fmt(HTTP_S)} s each; GET /v2/health/live = no inference)`);
  console.log(table(["route", "load", "req/s", "p50 ms", "p99 ms", "max ms", "200", "non-2xx", "errors", "timeouts"], http.map((r) => [r.route, r.load, r.reqPerS, r.p50Ms, r.p99Ms, r.maxMs, r.ok200, r.non2xx, r.errors, r.timeouts])));
  console.log("\n3. Cold start: a fresh isolate's first module line → its first prediction (never-loaded iris), all ms; parts timed inside the isolate");
  console.log(
    table(
      ["run", "spawn→listening", "spawn→isolate", "module eval", "runtime start", "isolate→request", "harness wait", "model load", "first run", "rest of request", "isolate→1st prediction", "2nd prediction"],
      cold.runs.map((c, i) => [i + 1, c.spawnToListeningMs, c.spawnToIsolateMs, c.parts.moduleEvalMs, c.parts.runtimeStartMs, c.parts.isolateToRequestMs, c.parts.harnessWaitMs, c.parts.modelLoadMs, c.parts.firstRunMs, c.parts.restOfRequestMs, c.isolateToFirstPredictionMs, c.secondPredictionMs]),
    ),
  );
  console.log(
    `   isolate → first prediction ${fmtSpread(cold.spread.isolateToFirstPredictionMs, " ms")} (median, min–max of ${cold.runs.length}): runtime start ${fmtSpread(cold.spread.runtimeStartMs, " ms")}, ` +
      `model load ${fmtSpread(cold.spread.modelLoadMs, " ms")}, first run ${fmtSpread(cold.spread.firstRunMs, " ms")}.\n` +
      "   The runtime starts at module load, so it is inside every cold start; \"harness wait\" (runtime ready → request reached the Worker) is wrangler dev\n" +
      "   handing requests on only once workerd is up, counted in the figure (on Cloudflare the request that starts the isolate is already waiting).\n" +
      "   Not in any column: what workerd does before the first module line (script and WASM compile) — it is inside spawn→isolate.",
  );
  console.log("\n4. Bundle (wrangler deploy --dry-run output; gzip -9 per file, summed)");
  console.log(table(["env", "files", "raw MiB", "gzip MiB", "wrangler says", "≤ 10 MiB", "≤ 3 MiB (free)"], bundles.map((b) => [b.env, b.files.length, b.rawBytes / MIB, b.gzipBytes / MIB, b.wranglerReports, b.met ? "met" : "missed", b.underFreePlan ? "yes" : "no"])));
  console.log(`\n5. workerd RSS per process (wrangler dev runs ${mem.workerd.length}), before/after GET /v2/models/<name>/ready for all ${mem.modelsLoaded.length} sample models`);
  console.log(table(["pid", "RSS before MiB", "RSS after MiB", "delta MiB", "peak (VmHWM) MiB"], mem.workerd.map((w) => [w.pid, w.before.rssBytes / MIB, w.after.rssBytes / MIB, w.deltaRssBytes / MIB, w.after.hwmBytes / MIB])));
  console.log(`   sessions.bytes from /v2/health/ready: ${fmt(mem.sessionsBytes)} bytes in ${mem.sessions} sessions`);

  const irisModerate = http.find((r) => r.route.includes("/iris/") && r.load === "4 connections")!;
  const coldSpread = cold.spread.isolateToFirstPredictionMs;
  const kernelMet = kernelCells.filter((c) => c.met).length;
  const targets = [
    { target: `kernel web/node ≤ ${TARGETS.kernelRatio}x`, measured: `${kernelMet}/${kernelCells.length} cells`, met: kernelMet === kernelCells.length },
    { target: `iris batch 1 p99 < ${TARGETS.irisP99Ms} ms (4 connections)`, measured: `${fmt(irisModerate.p99Ms)} ms`, met: irisModerate.p99Ms < TARGETS.irisP99Ms },
    {
      target: `cold start (isolate → first prediction) < ${TARGETS.firstPredictionMs} ms, every run of ${cold.runs.length}`,
      measured: fmtSpread(coldSpread, " ms"),
      met: metBySpread(coldSpread, { below: TARGETS.firstPredictionMs }),
    },
    ...bundles.map((b) => ({ target: `bundle (${b.env}) gzip ≤ 10 MiB`, measured: `${fmt(b.gzipBytes / MIB)} MiB`, met: b.met })),
  ];
  console.log("\nTargets");
  console.log(table(["target", "measured", "result"], targets.map((t) => [t.target, t.measured, t.met ? "met" : "missed"])));

  const results = {
    machine,
    units: "Field suffixes give units: Us microseconds, Ms milliseconds, S seconds, PerS per second, Bytes bytes; MiB = 2^20 bytes.",
    kernel: {
      method: `per-run time = round duration / runs per round (rounds of ~${TIMING.roundMs} ms after ${TIMING.warmupMs} ms warm-up); median/p10/p90 over ${TIMING.rounds} rounds. web: onnxruntime-web WASM through edge/runtime/ort inside workerd (wrangler dev); node: onnxruntime-node, intraOpNumThreads 1, interOpNumThreads 1. Same model bytes and seeded random inputs.`,
      targetRatio: TARGETS.kernelRatio,
      cells: kernelCells,
    },
    http: { tool: "autocannon; latencies of 200 responses from its response events", targetIrisP99Ms: TARGETS.irisP99Ms, runs: http },
    coldStart: {
      method:
        "probe Worker bench/cold-worker.ts (the edge unchanged plus a timeline): isolateToFirstPredictionMs = first module line in the isolate → first prediction's response received by the bench (epoch clocks of one machine), with the first request sent as soon as the port accepts connections. Parts are timed inside the isolate: runtimeStartMs is ort's own startMs, modelLoadMs SessionCache's load (verify, R2, sha256, session create), firstRunMs the first session.run; harnessWaitMs = runtime ready → request reached the Worker (wrangler dev's proxy). Spreads are min/median/max over runs.",
      targetIsolateToFirstPredictionMs: TARGETS.firstPredictionMs,
      ...cold,
    },
    bundle: bundles,
    memory: { note: "RSS of whole workerd processes (runtime and all their isolates), not one isolate's heap", ...mem },
    targets,
    atEnd: { note: "includes this bench's own processes", ...(await contention()) },
    wallS: (Date.now() - started) / 1000,
  };
  await mkdir(OUT_DIR, { recursive: true });
  const out = join(OUT_DIR, "infer.json");
  await writeFile(out, `${JSON.stringify(rounded(results), null, 2)}\n`);
  console.log(`\nwrote ${out} (${fmt(results.wallS)} s); at the end (incl. this bench): ${describeContention(results.atEnd)}`);
}

const tmp = await mkdtemp(join(tmpdir(), "meridian-bench-"));
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.once(signal, () => void stopAll().finally(() => process.exit(130)));
}
try {
  await main(tmp);
} catch (err) {
  console.error(err);
  process.exitCode = 1;
} finally {
  await stopAll();
  await rm(tmp, { recursive: true, force: true });
}

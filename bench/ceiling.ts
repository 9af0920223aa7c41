// `npm run bench:ceiling`: the model-size ceiling, the largest model one PoP serves, found with
// growing models. One isolate has 128 MB (Cloudflare's limit: JS heap plus WebAssembly memory);
// local workerd does not enforce it, so besides "does it load and predict" this measures what a
// loaded model costs and derives the ceiling from that.
//  1. bundle: the Worker as deployed (`wrangler deploy --dry-run`) against the 64 MiB script limit
//     (models come from R2, so the bundle only sets the isolate's baseline)
//  2. publish: fp32 and int8 MLPs of growing size through the admin API of one `wrangler dev`
//     (limits raised: this measures, it does not enforce), each as v1 and v2 (same bytes), so a
//     swap's two sessions can be loaded side by side
//  3. serve: per model a fresh `wrangler dev` (a PoP's fresh isolate): baseline, v1 loaded and
//     predicting, v2 loaded beside it (a swap), then one request near MAX_BODY_BYTES. After each
//     step: ort's WASM heap (bench/ceiling-worker.ts), the JS heap (inspector), the Worker's
//     workerd process RSS and peak RSS (VmHWM)
//  4. fit: isolate memory against model bytes, least squares; the ceiling is the largest model
//     whose swap fits 128 MB
// Prints tables and writes ceiling.json (bench/results/, or BENCH_RESULTS_DIR).
//
// The JS heap comes from the Worker's inspector (bench/inspector.ts).
// Options (environment): CEILING_FP32_MIB=1,4,8,16,24,32,48,64 CEILING_INT8_MIB=1,8,16,32,64.
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type * as Local from "../dev/local";
import { ROOT, WRANGLER_ENV, type Credentials, type DevServer } from "../dev/local";
import { AdminClient } from "../shared/admin-client";
import type { Manifest } from "../shared/manifest";
import { manifestFor } from "../shared/onnx/manifest";
import { buildMlpFp32, buildMlpInt8, mlpWeights } from "../shared/onnx/mlp";
import { normalRows } from "../shared/random";
import { contention, describeContention, devConfig, resultsDir, type Contention } from "./host";
import { fmt, rounded, table } from "./lib";
import { snapshot as frozenCopy } from "../test/fuzz/snapshot";
import { Inspector } from "./inspector";

const MIB = 1024 * 1024;
/** Cloudflare's per-isolate memory limit, "128 MB": read as 10^6 bytes, the smaller reading. */
export const ISOLATE_LIMIT_BYTES = 128_000_000;
/** Cloudflare's Worker size limit since 2026 (uncompressed). */
export const SCRIPT_LIMIT_BYTES = 64 * MIB;
/** What the edge's request bodies are capped at (MAX_BODY_BYTES default). */
const BODY_BYTES = 4 * MIB;

export type Kind = "fp32" | "int8";

export interface CeilingOptions {
  /** Weight megabytes (MiB) of the models tried, per kind. */
  sizesMiB: Record<Kind, number[]>;
  /** Scratch directory (state, configs); removed by the caller. */
  tmp: string;
  log?: (line: string) => void;
}

/** One point in time of the Worker's isolate and process. */
export interface Snapshot {
  /** ort's WebAssembly.Memory (it only grows). */
  wasmBytes: number;
  /** V8's JS heap, from the inspector (Runtime.getHeapUsage); null in results stored by runs that had none. */
  heapUsedBytes: number | null;
  heapTotalBytes: number | null;
  /** V8's count of ArrayBuffer and external-string backing stores (not the WASM memory). */
  backingStoreBytes: number | null;
  /** JS heap used + backing stores + WASM memory: what the isolate's 128 MB counts. */
  isolateBytes: number;
  /** The workerd process that runs the Worker: resident and peak resident (VmHWM). */
  rssBytes: number;
  hwmBytes: number;
}

export interface Published {
  name: string;
  kind: Kind;
  targetMiB: number;
  bytes: number;
  /** Hidden layer width of the [d, d, 10] MLP. */
  width: number;
  ok: boolean;
  error?: string;
  /** Upload + validate + register + promote of v1, then register of v2 (same bytes). */
  publishMs?: number;
  /** ort's WASM heap of the publishing isolate after validating this model (cumulative). */
  publisherWasmBytes?: number;
}

export interface Served {
  name: string;
  kind: Kind;
  bytes: number;
  ok: boolean;
  error?: string;
  loadMs?: number;
  predictMs?: number;
  swapLoadMs?: number;
  /** The large request: its body bytes, rows, input tensor bytes, and time. */
  request?: { bodyBytes: number; rows: number; tensorBytes: number; ms: number };
  /** Highest JS heap + backing stores polled during the first load, the swap's load and the large request. */
  peakJs?: { load: number | null; swapLoad: number | null; request: number | null };
  /** The swap's peak: the WASM heap after it + the most JS heap and backing stores seen during or right after the second load. */
  swapPeakBytes?: number;
  /** Whether swapPeakBytes plus the derived headroom fits the isolate limit (set by the derivation). */
  fitsLimit?: boolean;
  baseline?: Snapshot;
  oneSession?: Snapshot;
  swap?: Snapshot;
  afterRequest?: Snapshot;
}

export interface Fit {
  /** y = intercept + slope × model bytes, least squares over `points` models. */
  intercept: number;
  slope: number;
  points: number;
  maxResidualBytes: number;
}

export interface Ceiling {
  machine: { date: string; node: string; atStart: Contention; atEnd?: Contention };
  /** The code measured: a frozen copy of the working tree on top of this commit. */
  code: { head: string; dirty: boolean };
  bundle: { files: { name: string; rawBytes: number }[]; rawBytes: number; limitBytes: number; fits: boolean };
  published: Published[];
  served: Served[];
  /** Per kind: fits of the isolate's memory against model bytes. */
  fits: Record<Kind, KindFits | null>;
  derived: Derivation;
}

export interface KindFits {
  /** ort's WASM heap with one session loaded. */
  oneSession: Fit | null;
  /** ort's WASM heap with two sessions of the model loaded (a swap, or a publish beside the served version). */
  swap: Fit | null;
  /** The swap's peak (Served.swapPeakBytes). What the ceiling comes from. */
  swapPeak: Fit | null;
  /** The workerd process: peak RSS (VmHWM) at the end minus RSS at the baseline. Includes what is not the isolate's. */
  processPeak: Fit | null;
}

export interface Derivation {
  limitBytes: number;
  /** The JS heap was read (inspector); without it nothing is derived. */
  jsMeasured: boolean;
  /** Kept for a request in flight (measured: see `headroom`). */
  headroomBytes: number;
  headroom: { requestJsBytes: number; requestTensorBytes: number };
  /** Per kind: the largest model tried whose measured swap peak plus the headroom fits, and the smallest that did not. */
  bracket: Record<Kind, { largestFitting: number | null; smallestOver: number | null }>;
  /** Per kind: the largest model whose swap peak plus the headroom fits (derived from the fit). */
  ceilingBytes: Record<Kind, number | null>;
  /** The smaller of the kinds, rounded down to a MiB: this run's MAX_MODEL_BYTES (edge/config.ts takes the lowest of several runs). */
  maxModelBytes: number | null;
  formula: string;
}

// ---------- the Worker's process and isolate ----------

/** The workerd process that runs the Worker: below the reaper, the one given an inspector address. */
async function workerProcess(root: number): Promise<number> {
  const procs: { pid: number; ppid: number; comm: string }[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const s = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    const close = s.lastIndexOf(")");
    if (close < 0) continue;
    procs.push({ pid: Number(entry), ppid: Number(s.slice(close + 2).split(" ")[1]), comm: s.slice(s.indexOf("(") + 1, close) });
  }
  const below = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of procs) if (below.has(p.ppid) && !below.has(p.pid)) grew = Boolean(below.add(p.pid));
  }
  for (const p of procs) {
    if (p.comm !== "workerd" || !below.has(p.pid)) continue;
    const cmd = await readFile(`/proc/${p.pid}/cmdline`, "utf8").catch(() => "");
    if (cmd.includes("--inspector-addr")) return p.pid;
  }
  throw new Error("no workerd process with an inspector below the wrangler dev server");
}

async function processMemory(pid: number): Promise<{ rssBytes: number; hwmBytes: number }> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN) * 1024;
  return { rssBytes: kb("VmRSS"), hwmBytes: kb("VmHWM") };
}

interface HeapUsage {
  usedSize: number;
  totalSize: number;
  backingStorageSize?: number;
}

/**
 * Runs `work` while polling the JS heap (used + backing stores) every few ms: the artifact's JS
 * copy during a load, or a request's parsed body, lives only that long. Polls land only when the
 * isolate yields (not inside one synchronous WASM call), so this is a lower bound of the peak.
 */
async function peakJsDuring<T>(inspector: Inspector, work: () => Promise<T>): Promise<{ value: T; peakJsBytes: number }> {
  let done = false;
  let peak = 0;
  const poll = (async () => {
    while (!done) {
      const h = await inspector.send<HeapUsage>("Runtime.getHeapUsage");
      peak = Math.max(peak, h.usedSize + (h.backingStorageSize ?? 0));
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  try {
    return { value: await work(), peakJsBytes: peak };
  } finally {
    done = true;
    await poll;
  }
}

async function snapshot(url: string, pid: number, inspector: Inspector): Promise<Snapshot> {
  const probe = (await (await fetch(`${url}/_bench/memory`)).json()) as { wasmMemoryBytes: number | null };
  if (probe.wasmMemoryBytes === null) throw new Error("ort's WASM memory was not seen (the runtime has not started)");
  const heap = await inspector.send<HeapUsage>("Runtime.getHeapUsage");
  const proc = await processMemory(pid);
  const backing = heap.backingStorageSize ?? null;
  return {
    wasmBytes: probe.wasmMemoryBytes,
    heapUsedBytes: heap.usedSize,
    heapTotalBytes: heap.totalSize,
    backingStoreBytes: backing,
    isolateBytes: probe.wasmMemoryBytes + heap.usedSize + (backing ?? 0),
    ...proc,
  };
}

// ---------- models ----------

/** An MLP [d, d, 10] whose weights take about `mib` MiB: fp32 (4 bytes a weight) or int8 (1). */
function buildModel(kind: Kind, mib: number): { bytes: Uint8Array; width: number } {
  const width = Math.max(16, Math.floor(Math.sqrt((mib * MIB) / (kind === "fp32" ? 4 : 1))));
  const spec = { layers: mlpWeights([width, width, 10], 11), input: "x", output: "probabilities", label: "label" };
  const bytes = kind === "fp32" ? buildMlpFp32(spec) : buildMlpInt8(spec, normalRows(4, width, 12), 4);
  return { bytes, width };
}

const modelName = (kind: Kind, mib: number) => `ceiling-${kind}-${String(mib).replace(".", "p")}`;

/** A batch-`rows` OIP request with seeded inputs. */
function inferBody(width: number, rows: number): string {
  const data = Array.from(normalRows(rows, width, 13), (v) => Number(v.toPrecision(6)));
  return JSON.stringify({ inputs: [{ name: "x", datatype: "FP32", shape: [rows, width], data }] });
}

/** The most rows whose JSON body stays under MAX_BODY_BYTES (with 5% to spare). */
function largestRows(width: number): number {
  const perRow = inferBody(width, 1).length;
  return Math.max(1, Math.floor((BODY_BYTES * 0.95) / perRow));
}

async function predict(url: string, path: string, width: number, rows: number): Promise<{ ms: number; bodyBytes: number }> {
  const body = inferBody(width, rows);
  const t0 = performance.now();
  const res = await fetch(`${url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body });
  const text = await res.text();
  const ms = performance.now() - t0;
  if (res.status !== 200) throw new Error(`${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
  const out = (JSON.parse(text) as { outputs: { name: string; shape: number[] }[] }).outputs.find((o) => o.name === "probabilities");
  if (!out || out.shape[0] !== rows || out.shape[1] !== 10) throw new Error(`${path}: unexpected outputs ${text.slice(0, 300)}`);
  return { ms, bodyBytes: body.length };
}

async function ready(url: string, path: string): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(`${url}${path}`);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
  return performance.now() - t0;
}

// ---------- the run ----------

/**
 * Publish and serve growing models; fit and derive the ceiling. Starts and stops its own servers,
 * from a frozen copy of the working tree: `wrangler dev` in the repo rebuilds and restarts the
 * Worker on every edit anyone makes there (test/fuzz/snapshot.ts).
 */
export async function measureCeiling(opts: CeilingOptions): Promise<Ceiling> {
  const log = opts.log ?? (() => {});
  const atStart = await contention();
  const code = frozenCopy(null);
  try {
    const local = await code.load<typeof Local>("dev/local.ts");
    return await measure(local, code.root, opts, log, atStart);
  } finally {
    code.remove();
  }
}

async function measure(local: typeof Local, root: string, opts: CeilingOptions, log: (line: string) => void, atStart: Contention): Promise<Ceiling> {
  const stateDir = join(opts.tmp, "state");
  const credentials = await local.devCredentials(join(opts.tmp, "credentials"));
  // Limits far above any model tried: the bench finds out what fits, the edge must not decide it.
  const vars = { ...local.credentialVars(credentials), MAX_ARTIFACT_BYTES: String(1 << 30), MAX_MODEL_BYTES: String(1 << 30), METRICS_ENABLED: "false" };
  const server = (work: (server: DevServer, pid: number, inspector: Inspector) => Promise<void>) => withServer(local, root, opts.tmp, stateDir, vars, work);

  log("1/4 bundle: wrangler deploy --dry-run");
  const bundle = await workerBundle(root, opts.tmp);
  log(`  ${fmt(bundle.rawBytes / MIB)} MiB of ${fmt(bundle.limitBytes / MIB)} MiB`);

  const plan = (["fp32", "int8"] as const).flatMap((kind) => opts.sizesMiB[kind].map((mib) => ({ kind, mib })));
  log(`2/4 publish ${plan.length} models`);
  await local.migrate(stateDir);
  const published: Published[] = [];
  await server(async ({ url }) => {
    const client = new AdminClient(url, credentials.adminToken, { actor: "bench:ceiling", timeoutMs: 300_000 });
    for (const { kind, mib } of plan) {
      const name = modelName(kind, mib);
      const { bytes, width } = buildModel(kind, mib);
      const entry: Published = { name, kind, targetMiB: mib, bytes: bytes.byteLength, width, ok: false };
      try {
        entry.publishMs = await publishTwice(client, credentials, name, kind, bytes);
        entry.ok = true;
      } catch (err) {
        entry.error = err instanceof Error ? err.message : String(err);
      }
      entry.publisherWasmBytes = ((await (await fetch(`${url}/_bench/memory`)).json()) as { wasmMemoryBytes: number }).wasmMemoryBytes;
      published.push(entry);
      log(`  ${name}: ${fmt(bytes.byteLength / MIB)} MiB ${entry.ok ? `published in ${fmt(entry.publishMs!)} ms` : `REFUSED: ${entry.error}`}; publisher's WASM heap ${fmt(entry.publisherWasmBytes / MIB)} MiB`);
    }
  });

  log("3/4 serve: a fresh isolate per model");
  const served: Served[] = [];
  for (const p of published.filter((p) => p.ok)) {
    const s: Served = { name: p.name, kind: p.kind, bytes: p.bytes, ok: false };
    try {
      await server(async ({ url }, pid, inspector) => {
        s.baseline = await snapshot(url, pid, inspector);
        const load = await peakJsDuring(inspector, () => ready(url, `/v2/models/${p.name}/versions/1/ready`));
        s.loadMs = load.value;
        s.predictMs = (await predict(url, `/v2/models/${p.name}/versions/1/infer`, p.width, 1)).ms;
        s.oneSession = await snapshot(url, pid, inspector);
        const swap = await peakJsDuring(inspector, () => ready(url, `/v2/models/${p.name}/versions/2/ready`));
        s.swapLoadMs = swap.value;
        s.swap = await snapshot(url, pid, inspector);
        const rows = largestRows(p.width);
        const request = await peakJsDuring(inspector, () => predict(url, `/v2/models/${p.name}/versions/2/infer`, p.width, rows));
        s.request = { rows, tensorBytes: rows * p.width * 4, ...request.value };
        s.afterRequest = await snapshot(url, pid, inspector);
        s.peakJs = { load: load.peakJsBytes, swapLoad: swap.peakJsBytes, request: request.peakJsBytes };
        // JS garbage counts until it is collected (no GC can be forced here): after two loads the
        // artifacts' JS copies were often both still there.
        s.swapPeakBytes = s.swap.wasmBytes + Math.max(swap.peakJsBytes, jsOf(s.swap));
      });
      s.ok = true;
    } catch (err) {
      s.error = err instanceof Error ? err.message : String(err);
    }
    served.push(s);
    const mb = (n: number | undefined | null) => (n === undefined || n === null ? "-" : fmt(n / MIB));
    log(
      s.ok
        ? `  ${p.name}: load ${fmt(s.loadMs!)} ms; isolate ${mb(s.baseline!.isolateBytes)} → ${mb(s.oneSession!.isolateBytes)} → swap ${mb(s.swap!.isolateBytes)} → request ${mb(s.afterRequest!.isolateBytes)} MiB; swap peak ${mb(s.swapPeakBytes)} MiB; process peak +${mb(s.afterRequest!.hwmBytes - s.baseline!.rssBytes)} MiB`
        : `  ${p.name}: FAILED ${s.error}`,
    );
  }

  log("4/4 fit");
  const fits = { fp32: fitKind(served, "fp32"), int8: fitKind(served, "int8") };
  const derived = derive(served, fits);
  return { machine: { date: new Date().toISOString(), node: process.version, atStart, atEnd: await contention() }, code: await codeOf(), bundle, published, served, fits, derived };
}

async function codeOf(): Promise<Ceiling["code"]> {
  const git = (...args: string[]) => promisify(execFile)("git", args, { cwd: ROOT }).then((r) => r.stdout.trim());
  return { head: await git("rev-parse", "HEAD"), dirty: (await git("status", "--porcelain")) !== "" };
}

async function publishTwice(client: AdminClient, credentials: Credentials, name: string, kind: Kind, bytes: Uint8Array): Promise<number> {
  const t0 = performance.now();
  const manifest: Manifest = await manifestFor(bytes, { name, version: 1, quantization: kind === "int8" ? "int8-qlinear" : "none" });
  const { version: _, ...unversioned } = manifest;
  await client.publish(unversioned, bytes, credentials.privateKey, { promote: true });
  await client.register(unversioned, credentials.privateKey);
  return performance.now() - t0;
}

/** A `wrangler dev` of the probe Worker (in the copy at `root`) on `stateDir` for the length of `work`, always stopped. */
async function withServer(
  local: typeof Local,
  root: string,
  tmp: string,
  stateDir: string,
  vars: Record<string, string>,
  work: (server: DevServer, pid: number, inspector: Inspector) => Promise<void>,
): Promise<void> {
  const inspectorPort = await local.freePort();
  const config = await devConfig(join(root, "wrangler.toml"), join(tmp, `config-${inspectorPort}`), { main: join(root, "bench", "ceiling-worker.ts"), inspectorPort });
  const server = await local.startDev({ config, stateDir, vars, quiet: true, timeoutMs: 120_000 });
  // wrangler's warnings and errors, kept for a failure's message.
  let output = "";
  const keep = (d: Buffer) => (output = (output + d.toString()).slice(-4096));
  server.process.stdout?.on("data", keep);
  server.process.stderr?.on("data", keep);
  let inspector: Inspector | undefined;
  try {
    inspector = await Inspector.connect(inspectorPort);
    await work(server, await workerProcess(server.process.pid!), inspector);
  } catch (err) {
    const tail = output.trim() ? `\n  wrangler: ${output.trim().split("\n").slice(-8).join("\n  ")}` : "";
    throw new Error(`${err instanceof Error ? err.message : String(err)}${tail}`);
  } finally {
    inspector?.close();
    await server.stop();
  }
}

async function workerBundle(root: string, tmp: string): Promise<Ceiling["bundle"]> {
  const outdir = await mkdtemp(join(tmp, "bundle-"));
  const wrangler = join(root, "node_modules", ".bin", "wrangler");
  await promisify(execFile)(wrangler, ["deploy", "--dry-run", "--outdir", outdir, "--config", join(root, "wrangler.toml")], { cwd: root, env: WRANGLER_ENV, maxBuffer: 16 * MIB });
  const files = [];
  for (const name of (await readdir(outdir, { recursive: true })).sort()) {
    const path = join(outdir, name);
    if (name === "README.md" || !(await stat(path)).isFile()) continue; // wrangler's note, not uploaded
    files.push({ name, rawBytes: (await stat(path)).size });
  }
  const rawBytes = files.reduce((a, f) => a + f.rawBytes, 0);
  return { files, rawBytes, limitBytes: SCRIPT_LIMIT_BYTES, fits: rawBytes <= SCRIPT_LIMIT_BYTES };
}

// ---------- fit and derivation ----------

function leastSquares(points: { x: number; y: number }[]): Fit | null {
  if (points.length < 2) return null;
  const n = points.length;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  const sxx = points.reduce((a, p) => a + (p.x - mx) ** 2, 0);
  if (sxx === 0) return null;
  const slope = points.reduce((a, p) => a + (p.x - mx) * (p.y - my), 0) / sxx;
  const intercept = my - slope * mx;
  const maxResidualBytes = Math.max(...points.map((p) => Math.abs(p.y - (intercept + slope * p.x))));
  return { intercept, slope, points: n, maxResidualBytes };
}

/** Models from 8 MiB up: below that ort's initial 16 MiB heap absorbs them and the line bends. */
const FIT_FROM_BYTES = 8 * MIB;

function fitKind(served: Served[], kind: Kind): KindFits | null {
  const ok = served.filter((s) => s.ok && s.kind === kind && s.bytes >= FIT_FROM_BYTES);
  if (ok.length < 2) return null;
  const fit = (y: (s: Served) => number) => leastSquares(ok.map((s) => ({ x: s.bytes, y: y(s) })));
  return {
    oneSession: fit((s) => s.oneSession!.wasmBytes),
    swap: fit((s) => s.swap!.wasmBytes),
    swapPeak: fit((s) => s.swapPeakBytes!),
    processPeak: fit((s) => s.afterRequest!.hwmBytes - s.baseline!.rssBytes),
  };
}

const jsOf = (s: Snapshot) => (s.heapUsedBytes ?? 0) + (s.backingStoreBytes ?? 0);

function derive(served: Served[], fits: Ceiling["fits"]): Derivation {
  const ok = served.filter((s) => s.ok);
  // A request in flight: what the JS heap grew by while a body near MAX_BODY_BYTES was parsed and
  // run, plus its input tensor, which ort copies into the WASM heap (counted whole in case the
  // heap has no free space left then).
  const requestJs = Math.max(0, ...ok.map((s) => (s.peakJs!.request ?? jsOf(s.swap!)) - jsOf(s.swap!)));
  const requestTensor = Math.max(0, ...ok.map((s) => s.request!.tensorBytes));
  const headroomBytes = requestJs + requestTensor;
  const ceilingBytes = { fp32: null, int8: null } as Record<Kind, number | null>;
  // Without the JS heap (no inspector) the peaks are WASM only: too low to derive a ceiling from.
  const jsMeasured = ok.length > 0 && ok.every((s) => s.baseline!.heapUsedBytes !== null);
  for (const kind of ["fp32", "int8"] as const) {
    const f = fits[kind]?.swapPeak;
    if (f && jsMeasured) ceilingBytes[kind] = Math.floor((ISOLATE_LIMIT_BYTES - headroomBytes - f.intercept) / f.slope);
  }
  if (jsMeasured) for (const s of ok) s.fitsLimit = s.swapPeakBytes! + headroomBytes <= ISOLATE_LIMIT_BYTES;
  const sizes = (kind: Kind, fits: boolean) => ok.filter((s) => s.kind === kind && s.fitsLimit === fits).map((s) => s.bytes);
  const bracket = Object.fromEntries(
    (["fp32", "int8"] as const).map((k) => [k, { largestFitting: sizes(k, true).length ? Math.max(...sizes(k, true)) : null, smallestOver: sizes(k, false).length ? Math.min(...sizes(k, false)) : null }]),
  ) as Derivation["bracket"];
  const known = Object.values(ceilingBytes).filter((c): c is number => c !== null);
  return {
    limitBytes: ISOLATE_LIMIT_BYTES,
    jsMeasured,
    headroomBytes,
    headroom: { requestJsBytes: requestJs, requestTensorBytes: requestTensor },
    bracket,
    ceilingBytes,
    maxModelBytes: known.length ? Math.floor(Math.min(...known) / MIB) * MIB : null,
    formula:
      "largest s with  swapPeak(s) + headroom ≤ 128,000,000,  swapPeak(s) = intercept + slope × s fitted to the measured swap peaks (WASM heap with two sessions of the model + the most JS heap and backing stores seen during and right after the second load)",
  };
}

// ---------- report ----------

export function report(c: Ceiling): string {
  const mib = (n: number | null | undefined) => (n === null || n === undefined ? "-" : fmt(n / MIB));
  const lines: string[] = [];
  lines.push(`Bundle: ${mib(c.bundle.rawBytes)} MiB of ${mib(c.bundle.limitBytes)} MiB (${c.bundle.fits ? "fits" : "OVER"}): ${c.bundle.files.map((f) => `${f.name} ${mib(f.rawBytes)}`).join(", ")}`);
  lines.push("", "Published (one wrangler dev; validation loads each model in the publishing isolate):");
  lines.push(table(["model", "MiB", "width", "published", "ms", "publisher WASM MiB"], c.published.map((p) => [p.name, p.bytes / MIB, p.width, p.ok ? "yes" : `no: ${p.error}`, p.publishMs, mib(p.publisherWasmBytes)])));
  lines.push("", "Served (a fresh isolate each; MiB; isolate = JS heap used + backing stores + WASM heap; JS = heap used + backing stores):");
  lines.push(
    table(
      ["model", "MiB", "loads+predicts", "load ms", "isolate base", "WASM base", "WASM 1", "WASM swap", "WASM +req", "JS swap", "swap peak", "+ headroom ≤ 128 MB", "RSS base", "peak RSS Δ"],
      c.served.map((s) => [
        s.name,
        s.bytes / MIB,
        s.ok ? "yes" : `no: ${s.error}`,
        s.loadMs,
        mib(s.baseline?.isolateBytes),
        mib(s.baseline?.wasmBytes),
        mib(s.oneSession?.wasmBytes),
        mib(s.swap?.wasmBytes),
        mib(s.afterRequest?.wasmBytes),
        s.swap ? mib(jsOf(s.swap)) : "-",
        mib(s.swapPeakBytes),
        s.fitsLimit === undefined ? "-" : s.fitsLimit ? "fits" : "over",
        mib(s.baseline?.rssBytes),
        s.afterRequest && s.baseline ? mib(s.afterRequest.hwmBytes - s.baseline.rssBytes) : "-",
      ]),
    ),
  );
  lines.push("", "Fits over models ≥ 8 MiB (bytes per model byte + MiB at size 0, ± largest residual):");
  const show = (x: Fit | null) => (x ? `${fmt(x.slope)} × s + ${mib(x.intercept)} (±${mib(x.maxResidualBytes)})` : "-");
  lines.push(
    table(
      ["kind", "WASM, one session", "WASM, swap", "swap peak (WASM + JS)", "process peak RSS Δ"],
      (["fp32", "int8"] as const).map((k) => [k, show(c.fits[k]?.oneSession ?? null), show(c.fits[k]?.swap ?? null), show(c.fits[k]?.swapPeak ?? null), show(c.fits[k]?.processPeak ?? null)]),
    ),
  );
  const d = c.derived;
  lines.push("", `Derived: ${d.formula}`);
  lines.push(`  headroom ${mib(d.headroomBytes)} MiB: a request near MAX_BODY_BYTES grew the JS heap by ${mib(d.headroom.requestJsBytes)} MiB, its input tensor is ${mib(d.headroom.requestTensorBytes)} MiB`);
  for (const kind of ["fp32", "int8"] as const) {
    const b = d.bracket[kind];
    lines.push(`  ${kind}: measured, ${mib(b.largestFitting)} MiB fits and ${mib(b.smallestOver)} MiB does not; fitted ceiling ${d.ceilingBytes[kind] === null ? "-" : `${fmt(d.ceilingBytes[kind]!)} bytes (${mib(d.ceilingBytes[kind])} MiB)`}`);
  }
  lines.push(`  MAX_MODEL_BYTES (smaller, rounded down to a MiB): ${d.maxModelBytes === null ? "-" : `${fmt(d.maxModelBytes)} bytes (${mib(d.maxModelBytes)} MiB)`}`);
  return lines.join("\n");
}

function sizes(name: string, fallback: number[]): number[] {
  const v = process.env[name];
  return v === undefined ? fallback : v.split(",").map(Number).filter((n) => Number.isFinite(n) && n > 0);
}

async function main(): Promise<void> {
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const t0 = Date.now();
  const tmp = await mkdtemp(join(tmpdir(), "meridian-ceiling-"));
  try {
    const atStart = await contention();
    log(`bench:ceiling (${describeContention(atStart)})`);
    const result = await measureCeiling({
      sizesMiB: { fp32: sizes("CEILING_FP32_MIB", [1, 4, 8, 16, 24, 32, 48, 64]), int8: sizes("CEILING_INT8_MIB", [1, 8, 16, 32, 64]) },
      tmp,
      log,
    });
    console.log(report(result));
    const dir = resultsDir(ROOT);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "ceiling.json"), `${JSON.stringify(rounded({ ...result, wallS: (Date.now() - t0) / 1000 }), null, 1)}\n`);
    log(`wrote ${join(dir, "ceiling.json")} in ${fmt((Date.now() - t0) / 1000)} s`);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();

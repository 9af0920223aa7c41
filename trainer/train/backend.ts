// TensorFlow.js backend, chosen at run time:
//   auto: tfjs-node-gpu (installed and a GPU visible) → tfjs-node → tfjs-backend-wasm → cpu.
// The node packages are optionalDependencies: they are loaded with a dynamic import of a computed
// specifier, so a machine without them (like the ones this was written on) never resolves them,
// and a GPU machine that has them installed takes the same code path without code changes.
import { existsSync, readdirSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { BackendError, parseBackendChoice, type BackendChoice, type BackendName } from "./backend-choice";

export { BACKEND_CHOICES, BackendError, parseBackendChoice, type BackendChoice, type BackendName } from "./backend-choice";

export type BackendInfo = {
  name: BackendName;
  /** The tfjs backend name ("tensorflow", "wasm", "cpu"). */
  tfBackend: string;
  /** One line for humans: what runs and why. */
  detail: string;
  /** Backends tried before this one, and why each was passed over (auto only). */
  skipped: string[];
};

const PACKAGES: Record<"node-gpu" | "node", string> = {
  "node-gpu": "@tensorflow/tfjs-node-gpu",
  node: "@tensorflow/tfjs-node",
};

/** An NVIDIA GPU that CUDA could use: a driver device node or nvidia-smi listing one. */
export function gpuPresent(): { present: boolean; why: string } {
  const cvd = process.env.CUDA_VISIBLE_DEVICES;
  if (cvd !== undefined && (cvd.trim() === "" || cvd.trim() === "-1")) {
    return { present: false, why: `CUDA_VISIBLE_DEVICES=${JSON.stringify(cvd)} hides all GPUs` };
  }
  try {
    if (existsSync("/proc/driver/nvidia/gpus") && readdirSync("/proc/driver/nvidia/gpus").length > 0) {
      return { present: true, why: "NVIDIA driver reports a GPU" };
    }
  } catch {
    // fall through to nvidia-smi
  }
  const smi = spawnSync("nvidia-smi", ["-L"], { encoding: "utf8", timeout: 5000 });
  if (smi.status === 0 && /GPU \d+/.test(smi.stdout)) return { present: true, why: "nvidia-smi lists a GPU" };
  return { present: false, why: "no NVIDIA GPU found (no /proc/driver/nvidia/gpus, no nvidia-smi)" };
}

function errMessage(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.split("\n")[0]!.slice(0, 200);
}

function isNotInstalled(err: unknown, pkg: string): boolean {
  const code = (err as { code?: string } | null)?.code;
  return (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") && errMessage(err).includes(pkg);
}

/** Imports a tfjs-node flavour (which registers the "tensorflow" backend) and switches to it. */
async function tryNode(which: "node-gpu" | "node"): Promise<{ ok: true; detail: string } | { ok: false; why: string }> {
  const pkg = PACKAGES[which];
  try {
    // A computed specifier: TypeScript and bundlers leave it alone, Node resolves it at run time.
    const specifier: string = pkg;
    await import(specifier);
  } catch (err) {
    return { ok: false, why: isNotInstalled(err, pkg) ? `${pkg} is not installed` : `${pkg} failed to load: ${errMessage(err)}` };
  }
  if (!(await tf.setBackend("tensorflow"))) return { ok: false, why: `${pkg} loaded but its backend did not initialise` };
  await tf.ready();
  const backend = tf.backend() as unknown as { isUsingGpuDevice?: boolean };
  const gpu = backend.isUsingGpuDevice;
  const detail =
    which === "node-gpu"
      ? `${pkg} (libtensorflow, ${gpu === false ? "no usable GPU device: TensorFlow CPU kernels" : "CUDA GPU"})`
      : `${pkg} (libtensorflow, CPU)`;
  return { ok: true, detail };
}

function wasmDistDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve("@tensorflow/tfjs-backend-wasm/package.json")), "dist");
}

async function tryWasm(): Promise<{ ok: true; detail: string } | { ok: false; why: string }> {
  try {
    const wasm = await import("@tensorflow/tfjs-backend-wasm");
    // In Node the .wasm binaries are read from the package's dist/ folder.
    wasm.setWasmPaths(`${wasmDistDir()}/`);
    if (!(await tf.setBackend("wasm"))) return { ok: false, why: "tfjs-backend-wasm did not initialise" };
    await tf.ready();
    return { ok: true, detail: `@tensorflow/tfjs-backend-wasm (SIMD, ${wasm.getThreadsCount()} thread)` };
  } catch (err) {
    return { ok: false, why: `tfjs-backend-wasm failed: ${errMessage(err)}` };
  }
}

async function tryCpu(): Promise<{ ok: true; detail: string } | { ok: false; why: string }> {
  if (!(await tf.setBackend("cpu"))) return { ok: false, why: "the cpu backend did not initialise" };
  await tf.ready();
  return { ok: true, detail: "@tensorflow/tfjs pure-JS cpu backend" };
}

const TRY: Record<BackendName, () => ReturnType<typeof tryCpu>> = {
  "node-gpu": () => tryNode("node-gpu"),
  node: () => tryNode("node"),
  wasm: tryWasm,
  cpu: tryCpu,
};

let selected: BackendInfo | undefined;

/**
 * Chooses and initialises the backend. `auto` walks the chain and records why it passed over
 * each earlier backend; an explicit choice that cannot load is an error (no silent fallback).
 * Selecting twice in one process returns the first choice if compatible, otherwise throws
 * (libtensorflow, once loaded, cannot be swapped for another flavour).
 */
export async function selectBackend(choice: BackendChoice | string = "auto"): Promise<BackendInfo> {
  const want = parseBackendChoice(choice);
  if (selected && (want === "auto" || want === selected.name)) return selected;
  if (selected && (selected.name === "node" || selected.name === "node-gpu")) {
    throw new BackendError(`backend ${selected.name} is already loaded in this process; cannot switch to ${want}`);
  }
  tf.enableProdMode(); // no debug checks, and no "install tfjs-node" banner on stderr
  const skipped: string[] = [];
  const order: BackendName[] = want === "auto" ? ["node-gpu", "node", "wasm", "cpu"] : [want];
  for (const name of order) {
    if (want === "auto" && name === "node-gpu") {
      const gpu = gpuPresent();
      if (!gpu.present) {
        skipped.push(`node-gpu: ${gpu.why}`);
        continue;
      }
    }
    const r = await TRY[name]();
    if (r.ok) {
      selected = { name, tfBackend: tf.getBackend(), detail: r.detail, skipped };
      return selected;
    }
    if (want !== "auto") throw new BackendError(`backend ${name} is not available: ${r.why}`);
    skipped.push(`${name}: ${r.why}`);
  }
  throw new BackendError(`no TensorFlow.js backend could be initialised (${skipped.join("; ")})`);
}

export function describeBackend(info: BackendInfo): string {
  return `backend: ${info.name} — ${info.detail}`;
}

export { tf };

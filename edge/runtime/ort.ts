// onnxruntime-web inside workerd. Workers refuse to compile WebAssembly from bytes, so the
// .wasm is imported as a module (by the entry point, which knows which build it is) and handed
// to ort by wrapping WebAssembly.instantiate: ort's Emscripten glue calls it with placeholder
// bytes and gets an instance of the real module.
import * as ort from "onnxruntime-web/wasm";
import { identityModel } from "../../shared/onnx/warmup";

export { ort };
/** The execution provider that ran a session (reported in x-meridian-backend). */
export type Backend = "wasm";

let ortWasm: WebAssembly.Module | undefined;

/** Called once by the entry point with ort's compiled .wasm (plain or WebGPU build). */
export function useOrtWasm(module: WebAssembly.Module): void {
  ortWasm = module;
}

const instantiate = WebAssembly.instantiate.bind(WebAssembly);
function instantiateImported(source: unknown, imports?: WebAssembly.Imports): Promise<unknown> {
  if (source instanceof WebAssembly.Module) return instantiate(source, imports);
  const module = ortWasm;
  if (!module) return Promise.reject(new Error("ort .wasm not provided: call useOrtWasm() from the entry point"));
  return instantiate(module, imports).then((instance) => ({ instance, module }));
}
(WebAssembly as { instantiate: unknown }).instantiate = instantiateImported;

ort.env.wasm.numThreads = 1; // no SharedArrayBuffer threads in Workers
ort.env.wasm.proxy = false;
// Any buffer: it stops the glue from trying to locate/fetch the .wasm by URL.
ort.env.wasm.wasmBinary = new Uint8Array(8);
ort.env.logLevel = "error";

/**
 * The execution provider sessions use. Always WASM for now: Workers expose no navigator.gpu
 * (not even workerd 1.20260426 with the "experimental" and "webgpu" compatibility flags inside a
 * SQLite-backed Durable Object, where the flag is meant to apply: the released build lacks
 * WebGPU), and ort's WebGPU (JSEP) build, measured at 6.8 MB gzip, never finished starting inside
 * workerd (requests were cancelled as hung), so the Worker ships the WASM build only.
 */
export function backend(): Backend {
  return "wasm";
}

export function sessionOptions(): ort.InferenceSession.SessionOptions {
  return { executionProviders: [backend()], graphOptimizationLevel: "all" };
}

export type RuntimeState =
  | { status: "starting" }
  | { status: "ready"; backend: Backend; startMs: number }
  | { status: "failed"; error: string };

let state: RuntimeState = { status: "starting" };
let started: Promise<void> | undefined;

/**
 * Instantiates the WASM runtime once per isolate by creating a throwaway session. Called at
 * module load so the ~0.5 s start-up happens before the first request, not during it.
 * A failed start is sticky in ort, so it is recorded and surfaced by /v2/health/ready.
 */
export function startRuntime(): Promise<void> {
  started ??= (async () => {
    const t0 = Date.now();
    try {
      const session = await ort.InferenceSession.create(identityModel(), sessionOptions());
      await session.release();
      state = { status: "ready", backend: backend(), startMs: Date.now() - t0 };
    } catch (err) {
      state = { status: "failed", error: err instanceof Error ? err.message : String(err) };
    }
  })();
  return started;
}

export function runtimeState(): RuntimeState {
  return state;
}

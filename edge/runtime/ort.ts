// onnxruntime-web inside workerd. Workers refuse to compile WebAssembly from bytes, so the
// .wasm is imported as a module (by the entry point, which knows which build it is) and handed
// to ort's Emscripten glue through its instantiateWasm hook.
import * as ort from "onnxruntime-web/wasm";
import { identityModel } from "../../shared/onnx/warmup";
import type { OrtModule } from "./ort-direct";

export { ort };
/** The execution provider that ran a session (reported in x-meridian-backend). */
export type Backend = "wasm";

let ortWasm: WebAssembly.Module | undefined;

/** Called once by the entry point with ort's compiled .wasm (plain or WebGPU build). */
export function useOrtWasm(module: WebAssembly.Module): void {
  ortWasm = module;
}

let ortModule: OrtModule | undefined;

/** ort's Emscripten module once the runtime has started (for direct runs), else undefined. */
export function ortModuleOf(): OrtModule | undefined {
  return ortModule;
}

/**
 * Emscripten instantiates through Module.instantiateWasm when the module has one. ort builds that
 * module object itself and offers no hook, so one is put on Object.prototype for the moment ort
 * starts (and removed at the first call): it instantiates the imported .wasm and keeps the module
 * object, whose C API entry points direct runs call (ort-direct.ts).
 */
function hookInstantiation(): () => void {
  const remove = () => void delete (Object.prototype as { instantiateWasm?: unknown }).instantiateWasm;
  Object.defineProperty(Object.prototype, "instantiateWasm", {
    configurable: true,
    writable: true,
    enumerable: false,
    value(this: OrtModule, imports: WebAssembly.Imports, receive: (instance: WebAssembly.Instance, module: WebAssembly.Module) => void) {
      remove();
      const module = ortWasm;
      if (!module) throw new Error("ort .wasm not provided: call useOrtWasm() from the entry point");
      ortModule = this;
      void WebAssembly.instantiate(module, imports).then((instance) => receive(instance, module));
      return {};
    },
  });
  return remove;
}

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
    const unhook = hookInstantiation();
    try {
      const session = await ort.InferenceSession.create(identityModel(), sessionOptions());
      await session.release();
      state = { status: "ready", backend: backend(), startMs: Date.now() - t0 };
    } catch (err) {
      state = { status: "failed", error: err instanceof Error ? err.message : String(err) };
    } finally {
      unhook();
    }
  })();
  return started;
}

export function runtimeState(): RuntimeState {
  return state;
}

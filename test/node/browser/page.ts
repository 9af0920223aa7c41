// The page test/node/browser.test.ts opens in Chromium: the client library's browser mode with
// onnxruntime-web (its default build: WebGPU and WASM), bundled by esbuild. Exposes
// `globalThis.meridian` for the test to drive; every answer is plain JSON.
import * as ort from "onnxruntime-web";
import { LocalModel, MeridianClient, type Fetch, type InferAnswer } from "../../../client/index";

// ort's .wasm comes from the test's static server (this page's origin); no SharedArrayBuffer
// without cross-origin isolation, so one thread.
ort.env.wasm.wasmPaths = new URL("/ort/", location.href).href;
ort.env.wasm.numThreads = 1;
ort.env.logLevel = "error";

export type Tamper = "signature" | "artifact";

export interface RunArgs {
  baseUrl: string;
  model: string;
  publicKeys: string[];
  /** Rows of 4 measurements. */
  rows: number[][];
  tamper?: Tamper;
}

export interface Outcome {
  where: "local" | "remote";
  backend: string | null;
  reason: string | null;
  version: string | null;
  variant: string | null;
  pop: string | null;
  probabilities: number[];
  labels: string[];
  /** Every URL this page fetched for the call (package, artifact, inference). */
  fetched: string[];
  loadMs: number;
  inferMs: number;
}

export interface Gpu {
  navigatorGpu: boolean;
  adapter: boolean;
  /** Adapter info when there is one (vendor, architecture), or why there is none. */
  detail: string;
}

export interface PageApi {
  gpu(): Promise<Gpu>;
  local(args: RunArgs): Promise<Outcome>;
  remote(args: Omit<RunArgs, "publicKeys" | "tamper">): Promise<Outcome>;
}

/** fetch, recording each URL and, when asked, changing what the edge sent on its way in. */
function recording(fetched: string[], tamper?: Tamper): Fetch {
  return async (input, init) => {
    fetched.push(input);
    const res = await fetch(input, init);
    if (tamper === "signature" && input.endsWith("/package") && res.ok) {
      const pkg = (await res.json()) as { signature: string };
      const sig = Uint8Array.from(atob(pkg.signature), (c) => c.charCodeAt(0));
      sig[20]! ^= 0x01;
      pkg.signature = btoa(String.fromCharCode(...sig));
      return new Response(JSON.stringify(pkg), { status: res.status, headers: res.headers });
    }
    if (tamper === "artifact" && input.includes("/v2/artifacts/") && res.ok) {
      const bytes = new Uint8Array(await res.arrayBuffer());
      bytes[bytes.length - 1]! ^= 0x01;
      return new Response(bytes, { status: res.status, headers: res.headers });
    }
    return res;
  };
}

function outcome(answer: InferAnswer & { where?: "local" | "remote"; reason?: string }, fetched: string[], loadMs: number, inferMs: number): Outcome {
  return {
    where: answer.where ?? "remote",
    backend: answer.backend,
    reason: answer.reason ?? null,
    version: answer.version,
    variant: answer.variant,
    pop: answer.pop,
    probabilities: Array.from(answer.result.output("probabilities").values as Float32Array),
    labels: Array.from(answer.result.output("label").values as BigInt64Array, String),
    fetched,
    loadMs,
    inferMs,
  };
}

const measurements = (rows: number[][]) => ({ name: "measurements", datatype: "FP32" as const, shape: [rows.length, 4], values: Float32Array.from(rows.flat()) });

const api: PageApi = {
  async gpu() {
    type Adapter = { info?: { vendor: string; architecture: string } };
    const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<Adapter | null> } }).gpu;
    if (!gpu) return { navigatorGpu: false, adapter: false, detail: "navigator.gpu is undefined" };
    try {
      const adapter = await gpu.requestAdapter();
      if (!adapter) return { navigatorGpu: true, adapter: false, detail: "requestAdapter() answered null" };
      return { navigatorGpu: true, adapter: true, detail: `vendor "${adapter.info?.vendor ?? "?"}", architecture "${adapter.info?.architecture ?? "?"}"` };
    } catch (err) {
      return { navigatorGpu: true, adapter: false, detail: `requestAdapter() threw: ${String(err)}` };
    }
  },

  async local({ baseUrl, model, publicKeys, rows, tamper }) {
    const fetched: string[] = [];
    const local = new LocalModel(model, { baseUrl, publicKeys, ort, fetch: recording(fetched, tamper) });
    try {
      const t0 = performance.now();
      await local.load();
      const t1 = performance.now();
      const answer = await local.infer({ inputs: [measurements(rows)] });
      return outcome(answer, fetched, t1 - t0, performance.now() - t1);
    } finally {
      await local.release();
    }
  },

  async remote({ baseUrl, model, rows }) {
    const fetched: string[] = [];
    const client = new MeridianClient({ baseUrl, fetch: recording(fetched) });
    const t0 = performance.now();
    const answer = await client.infer(model, { inputs: [measurements(rows)] });
    return outcome(answer, fetched, 0, performance.now() - t0);
  },
};

(globalThis as unknown as { meridian: PageApi }).meridian = api;
document.body.dataset["ready"] = "1";

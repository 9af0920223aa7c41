/// <reference path="../../edge/types.d.ts" />
// Bench Worker, inside workerd. Sessions go through the real adapter (edge/runtime/ort).
//   POST /kernel?input&features&batch[&warmupMs&roundMs&rounds], ONNX bytes as the body: times one
//     session with sessionOptions() in rounds of wall time (bench:infer); answers a RoundTiming.
//   POST /open (JSON OpenRequest) → {id}; POST /run?id&runs → {wallMs}; POST /close?id: sessions
//     the host times by the CPU time of this workerd around each /run (bench/kernel/cpu.ts).
//   POST /peak?op&accumulators&iterations → {wallMs}: one call of a WASM SIMD peak loop (0: none)
//     (./wasm.ts), whose module the generated entry imports (Workers cannot compile bytes).
import ortWasm from "onnxruntime-web/ort-wasm-simd-threaded.wasm";
import { ort, runtimeState, sessionOptions, startRuntime, useOrtWasm } from "../../edge/runtime/ort";
import { randomInputs, timeRounds } from "../lib";
import { peakFunction, type PeakOp } from "./wasm";

useOrtWasm(ortWasm); // the same WASM build as edge/index.ts
void startRuntime();

/** Overrides merged (shallowly) over sessionOptions(). */
export type SessionOverrides = Omit<ort.InferenceSession.SessionOptions, "executionProviders">;
export interface OpenRequest {
  /** Base64 ONNX bytes. */
  onnx: string;
  options: SessionOverrides;
  input: string;
  features: number;
  batch: number;
}

type Open = { session: ort.InferenceSession; feeds: Record<string, ort.Tensor>[] };
const sessions = new Map<number, Open>();
let nextId = 1;

async function open(bytes: Uint8Array, options: SessionOverrides, input: string, features: number, batch: number): Promise<Open> {
  const session = await ort.InferenceSession.create(bytes, { ...sessionOptions(), ...options });
  const feeds = randomInputs(batch, features).map((data) => ({ [input]: new ort.Tensor("float32", data, [batch, features]) }));
  return { session, feeds };
}

export function kernelWorker(modules: Partial<Record<PeakOp, WebAssembly.Module>> = {}): { fetch(request: Request): Promise<Response> } {
  const loops = new Map<string, (n: number) => number>();
  return {
    async fetch(request) {
      const url = new URL(request.url);
      const param = (name: string, fallback?: number) => {
        const value = Number(url.searchParams.get(name) ?? fallback);
        if (!Number.isFinite(value) || value <= 0) throw new Error(`query parameter ${name} must be a positive number`);
        return value;
      };
      if (url.pathname === "/v2/health/ready") {
        await startRuntime();
        const runtime = runtimeState();
        return Response.json({ runtime }, { status: runtime.status === "ready" ? 200 : 503 });
      }
      if (request.method !== "POST") return new Response("not found", { status: 404 });
      try {
        switch (url.pathname) {
          case "/kernel": {
            const batch = param("batch");
            const { session, feeds } = await open(new Uint8Array(await request.arrayBuffer()), {}, url.searchParams.get("input") ?? "", param("features"), batch);
            try {
              const opts = { warmupMs: param("warmupMs", 300), roundMs: param("roundMs", 50), rounds: param("rounds", 20) };
              return Response.json(await timeRounds((i) => session.run(feeds[i % feeds.length]!), opts));
            } finally {
              await session.release();
            }
          }
          case "/open": {
            const req = (await request.json()) as OpenRequest;
            const bytes = Uint8Array.from(atob(req.onnx), (c) => c.charCodeAt(0));
            const id = nextId++;
            sessions.set(id, await open(bytes, req.options, req.input, req.features, req.batch));
            return Response.json({ id });
          }
          case "/run": {
            const s = sessions.get(param("id"));
            if (!s) throw new Error("unknown session id");
            const runs = Number(url.searchParams.get("runs"));
            const t0 = performance.now();
            for (let i = 0; i < runs; i++) await s.session.run(s.feeds[i % s.feeds.length]!);
            return Response.json({ wallMs: performance.now() - t0 });
          }
          case "/close": {
            await sessions.get(param("id"))?.session.release();
            sessions.delete(param("id"));
            return Response.json({});
          }
          case "/peak": {
            const op = url.searchParams.get("op") as PeakOp;
            const accumulators = param("accumulators");
            const key = `${op}${accumulators}`;
            if (!loops.has(key)) {
              const module = modules[op];
              if (!module) throw new Error(`no ${op} module in this Worker`);
              loops.set(key, peakFunction(module, op, accumulators));
            }
            const iterations = Number(url.searchParams.get("iterations"));
            const t0 = performance.now();
            if (iterations > 0) loops.get(key)!(iterations); // 0: an empty request (the loop itself runs at least once)
            return Response.json({ wallMs: performance.now() - t0 });
          }
        }
      } catch (err) {
        return Response.json({ error: err instanceof Error ? err.message : String(err) }, { status: 500 });
      }
      return new Response("not found", { status: 404 });
    },
  };
}

/// <reference path="../edge/types.d.ts" />
// Bench Worker: times onnxruntime-web `session.run` inside workerd through the real adapter
// (edge/runtime/ort). POST /kernel?input=<name>&features=<n>&batch=<b>[&warmupMs&roundMs&rounds]
// with the ONNX bytes as the body; answers with the per-run timing (see timeRounds in ./lib).
import ortWasm from "onnxruntime-web/ort-wasm-simd-threaded.wasm";
import { ort, runtimeState, sessionOptions, startRuntime, useOrtWasm } from "../edge/runtime/ort";
import { randomInputs, timeRounds } from "./lib";

useOrtWasm(ortWasm); // the same WASM build as edge/index.ts
void startRuntime();

async function kernel(url: URL, bytes: Uint8Array): Promise<Response> {
  const param = (name: string, fallback?: number) => {
    const value = Number(url.searchParams.get(name) ?? fallback);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`query parameter ${name} must be a positive number`);
    return value;
  };
  const input = url.searchParams.get("input") ?? "";
  const features = param("features");
  const batch = param("batch");
  const opts = { warmupMs: param("warmupMs", 300), roundMs: param("roundMs", 50), rounds: param("rounds", 20) };
  const session = await ort.InferenceSession.create(bytes, sessionOptions());
  try {
    const feeds = randomInputs(batch, features).map((data) => ({ [input]: new ort.Tensor("float32", data, [batch, features]) }));
    return Response.json(await timeRounds((i) => session.run(feeds[i % feeds.length]!), opts));
  } finally {
    await session.release();
  }
}

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/v2/health/ready") {
      await startRuntime();
      const runtime = runtimeState();
      return Response.json({ runtime }, { status: runtime.status === "ready" ? 200 : 503 });
    }
    if (request.method !== "POST" || url.pathname !== "/kernel") return new Response("not found", { status: 404 });
    try {
      return await kernel(url, new Uint8Array(await request.arrayBuffer()));
    } catch (err) {
      return Response.json({ error: err instanceof Error ? err.message : String(err) }, { status: 500 });
    }
  },
};

// Cold start for `npm run bench:infer`: from a fresh isolate's first module line to its first
// prediction, runtime start included, and the parts beside it.
//
// The edge starts onnxruntime's WASM runtime at module load (edge/index.ts: startRuntime()), so a
// first request sent once /v2/health/ready answers finds it already started and hides its cost.
// Here each run spawns `wrangler dev` on the probe Worker (bench/cold-worker.ts: the edge
// unchanged, plus a timeline of the isolate's start), sends the first prediction as soon as the
// port accepts connections (wrangler's proxy holds it until the Worker is up), and lines the
// isolate's timeline up with this process's clock (the same system clock).
import { connect } from "node:net";
import { join } from "node:path";
import type { FixtureModel } from "../dev/samples/index";
import { ROOT, WRANGLER_ENV, freePort } from "../dev/local";
import { supervise } from "../dev/supervise";
import { devConfig } from "./host";
import { spread, type Spread } from "./lib";

const WRANGLER = join(ROOT, "node_modules", ".bin", "wrangler");

/** What GET /_bench/cold answers (bench/cold-worker.ts); epoch ms. */
interface Timeline {
  isolateStartedAt: number;
  modulesLoadedAt: number;
  runtimeReadyAt: number | null;
  runtime: { status: string; startMs?: number; error?: string };
  requests: { path: string; at: number }[];
  loads: { what: string; startAt: number; endAt: number }[];
  runs: { what: string; startAt: number; endAt: number }[];
}

export interface ColdRun {
  /** Measured here: spawn → the port accepts a TCP connection (wrangler's proxy). */
  spawnToListeningMs: number;
  /** Spawn → the isolate's first module line (wrangler start-up, bundling, workerd start, script and WASM compile). */
  spawnToIsolateMs: number;
  /** THE cold start: isolate's first module line → first prediction received here. */
  isolateToFirstPredictionMs: number;
  /** Its parts, measured inside the isolate. */
  parts: {
    /** First module line → every module evaluated (startRuntime() called). */
    moduleEvalMs: number;
    /** ort's own timing of its WASM start (edge/runtime/ort.ts startMs). */
    runtimeStartMs: number;
    /** First module line → runtime ready. */
    isolateToRuntimeReadyMs: number;
    /** First module line → the first prediction request reached the Worker. */
    isolateToRequestMs: number;
    /** Runtime ready → request reached the Worker: wrangler dev hands requests on only once workerd is up. Harness, not Worker. */
    harnessWaitMs: number;
    /** Verify + R2 + sha256 + session create (SessionCache's load). */
    modelLoadMs: number;
    /** The first session.run of the loaded model. */
    firstRunMs: number;
    /** Request reached the Worker → response received here, less load and run: routing, registry reads, HTTP. */
    restOfRequestMs: number;
  };
  /** Wall time of the first prediction request as sent from here (includes waiting for the Worker to come up). */
  firstRequestWallMs: number;
  secondPredictionMs: number;
}

async function listening(port: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`wrangler dev did not listen on ${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function predict(url: string, model: FixtureModel, body: string): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(`${url}/v2/models/${model.manifest.name}/infer`, { method: "POST", headers: { "content-type": "application/json" }, body });
  const text = await res.text();
  if (!res.ok || !(JSON.parse(text) as { outputs?: unknown[] }).outputs?.length) throw new Error(`cold infer ${model.manifest.name}: HTTP ${res.status} ${text.slice(0, 300)}`);
  return performance.now() - t0;
}

async function oneRun(config: string, stateDir: string, vars: Record<string, string>, model: FixtureModel, body: string): Promise<ColdRun> {
  const port = await freePort();
  const args = ["dev", "--port", String(port), "--ip", "127.0.0.1", "--persist-to", stateDir, "--config", config, "--log-level", "warn"];
  for (const [k, v] of Object.entries(vars)) args.push("--var", `${k}:${v}`);
  const spawnAt = Date.now();
  const server = supervise(WRANGLER, args, { cwd: ROOT, env: WRANGLER_ENV });
  let output = "";
  const keep = (d: Buffer) => (output = (output + d.toString()).slice(-16_384));
  server.process.stdout?.on("data", keep);
  server.process.stderr?.on("data", keep);
  try {
    await listening(port, 60_000).catch((err: Error) => Promise.reject(new Error(`${err.message}:\n${output}`)));
    const listenAt = Date.now();
    const url = `http://127.0.0.1:${port}`;
    const firstRequestWallMs = await predict(url, model, body);
    const doneAt = Date.now();
    const secondPredictionMs = await predict(url, model, body);
    const t = (await (await fetch(`${url}/_bench/cold`)).json()) as Timeline;
    const request = t.requests.find((r) => r.path.endsWith("/infer"));
    const load = t.loads[0];
    const run = t.runs[0];
    if (t.runtimeReadyAt === null || t.runtime.startMs === undefined || !request || !load || !run) {
      throw new Error(`cold-start timeline incomplete: ${JSON.stringify(t)}`);
    }
    const span = (s: { startAt: number; endAt: number }) => s.endAt - s.startAt;
    return {
      spawnToListeningMs: listenAt - spawnAt,
      spawnToIsolateMs: t.isolateStartedAt - spawnAt,
      isolateToFirstPredictionMs: doneAt - t.isolateStartedAt,
      parts: {
        moduleEvalMs: t.modulesLoadedAt - t.isolateStartedAt,
        runtimeStartMs: t.runtime.startMs,
        isolateToRuntimeReadyMs: t.runtimeReadyAt - t.isolateStartedAt,
        isolateToRequestMs: request.at - t.isolateStartedAt,
        harnessWaitMs: Math.max(0, request.at - t.runtimeReadyAt),
        modelLoadMs: span(load),
        firstRunMs: span(run),
        restOfRequestMs: doneAt - request.at - span(load) - span(run),
      },
      firstRequestWallMs,
      secondPredictionMs,
    };
  } finally {
    await server.stop();
  }
}

export interface ColdStart {
  runs: ColdRun[];
  spread: Record<"isolateToFirstPredictionMs" | "spawnToListeningMs" | "spawnToIsolateMs" | keyof ColdRun["parts"], Spread>;
}

/** `runs` fresh `wrangler dev` processes one after another on a seeded state dir. */
export async function coldStart(tmp: string, stateDir: string, vars: Record<string, string>, model: FixtureModel, body: string, runs: number, log: (line: string) => void): Promise<ColdStart> {
  const out: ColdRun[] = [];
  for (let i = 0; i < runs; i++) {
    // The repo's wrangler.toml with the probe as entry point (same bindings, Durable Objects and
    // state), and a fresh inspector port each run.
    const config = await devConfig(join(ROOT, "wrangler.toml"), join(tmp, `cold-${i}`), { main: join(ROOT, "bench", "cold-worker.ts"), inspectorPort: await freePort() });
    const r = await oneRun(config, stateDir, vars, model, body);
    out.push(r);
    log(`  cold start ${i + 1}: isolate → first prediction ${r.isolateToFirstPredictionMs} ms (runtime ${r.parts.runtimeStartMs}, load ${r.parts.modelLoadMs}, first run ${r.parts.firstRunMs})`);
  }
  const of = (pick: (r: ColdRun) => number) => spread(out.map(pick));
  const parts = Object.fromEntries(Object.keys(out[0]!.parts).map((k) => [k, of((r) => r.parts[k as keyof ColdRun["parts"]])])) as Record<keyof ColdRun["parts"], Spread>;
  return {
    runs: out,
    spread: {
      isolateToFirstPredictionMs: of((r) => r.isolateToFirstPredictionMs),
      spawnToListeningMs: of((r) => r.spawnToListeningMs),
      spawnToIsolateMs: of((r) => r.spawnToIsolateMs),
      ...parts,
    },
  };
}

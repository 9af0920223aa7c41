/// <reference path="../edge/types.d.ts" />
// Cold-start probe for `npm run bench:infer`: the edge Worker unchanged (same app, Durable
// Objects, bindings and module-load runtime start), plus a timeline of the isolate's start,
// read from GET /_bench/cold after the first prediction. Each part is timed where it happens:
//   isolateStartedAt   first module line (bench/cold-mark.ts, imported before the edge)
//   modulesLoadedAt    every module evaluated (startRuntime() has been called by edge/index.ts)
//   runtime            ort's WASM start: its own startMs, and when it finished
//   requests           when each of the first requests reached the Worker
//   loads, runs        each model load (verify + R2 + session create: SessionCache's load) and
//                      each session.run, start and end
// Epoch milliseconds (workerd's clock steps in whole ms), so the bench can line them up with its
// own clock on the same machine.
import { isolateStartedAt } from "./cold-mark";
import edge from "../edge/index";
import { ort, runtimeState, startRuntime } from "../edge/runtime/ort";
import { DirectSession, type Run } from "../edge/runtime/ort-direct";
import { SessionCache } from "../edge/runtime/sessions";
import type { Env } from "../edge/env";

// Every Durable Object class the edge declares (wrangler.toml binds them all).
export { HomeDO, MetricsDO, RegistryDO, ReplicaDO, ShardDO } from "../edge/index";

const modulesLoadedAt = Date.now();
let runtimeReadyAt: number | null = null;
void startRuntime().then(() => (runtimeReadyAt = Date.now()));

type Span = { what: string; startAt: number; endAt: number };
const loads: Span[] = [];
const runs: Span[] = [];
const requests: { path: string; at: number }[] = [];
const KEEP = 20; // the first few of each: the cold path, not a log

async function timed<T>(into: Span[], what: string, work: () => Promise<T>): Promise<T> {
  const startAt = Date.now();
  try {
    return await work();
  } finally {
    if (into.length < KEEP) into.push({ what, startAt, endAt: Date.now() });
  }
}

// Observe, do not change: the same load and run, timed around.
const acquire = SessionCache.prototype.acquire;
SessionCache.prototype.acquire = function (this: SessionCache, key, load) {
  return acquire.call(this, key, () => timed(loads, key, load));
};
type Session = Awaited<ReturnType<typeof ort.InferenceSession.create>>;
const create = ort.InferenceSession.create.bind(ort.InferenceSession) as (...args: unknown[]) => Promise<Session>;
(ort.InferenceSession as { create: unknown }).create = async (...args: unknown[]) => {
  const session = await create(...args);
  const run = session.run.bind(session) as (...a: unknown[]) => ReturnType<Session["run"]>;
  (session as { run: unknown }).run = (...a: unknown[]) => timed(runs, `run ${session.inputNames.join(",")}`, () => run(...a));
  return session;
};
// Numeric models run direct to onnxruntime's C API (edge/runtime/ort-direct.ts), not through session.run.
const direct = DirectSession.of.bind(DirectSession);
DirectSession.of = (module, session) => {
  const d = direct(module, session);
  if (d) {
    const run = d.run;
    Object.defineProperty(d, "run", { value: ((feeds, names) => timed(runs, `run ${session.inputNames.join(",")}`, () => run(feeds, names))) satisfies Run });
  }
  return d;
};

export default {
  fetch(request: Request, env: Env, ctx: ExecutionContext): Response | Promise<Response> {
    const path = new URL(request.url).pathname;
    if (path === "/_bench/cold") {
      return Response.json({ isolateStartedAt, modulesLoadedAt, runtimeReadyAt, runtime: runtimeState(), requests, loads, runs });
    }
    if (requests.length < KEEP) requests.push({ path, at: Date.now() });
    return edge.fetch(request, env, ctx);
  },
};

// The isolate's long-lived parts, built once per Env in one place: the parsed config, the
// metrics recorder (and the hooks that feed it), the session cache, the version manager (source
// + loader + policy), and the mesh state (peers, breakers, retry budget, health checks). Each
// isolate learns peer health on its own, which needs no coordination.
import type { MetricSet } from "../shared/metrics";
import { configOf, type Config } from "./config";
import type { Env } from "./env";
import { Breakers, RetryBudget } from "./geo/breaker";
import { PeerHealth } from "./geo/health";
import type { Mesh } from "./geo/mesh";
import { BREAKER_STATE, BREAKER_VALUE, LOAD_DURATION, LOADS, POINTER_AGE, POINTER_PROPAGATION, POINTER_SEQ, SESSION_CACHE } from "./metrics/families";
import { Recorder } from "./metrics/recorder";
import { ResponseCache } from "./runtime/response-cache";
import { SessionCache } from "./runtime/sessions";
import { sessionOf } from "./versions/loader";
import { ModelManager, type PopReporter } from "./versions/manager";
import { registry } from "./versions/registry";
import { PointerSource } from "./versions/source";

export interface Isolate {
  config: Config;
  /** What this isolate counted since it last reported to the aggregators. */
  recorder: Recorder;
  sessions: SessionCache;
  /** Answers of versions (or requests) that use the response cache. */
  responses: ResponseCache;
  models: ModelManager;
  mesh: Mesh;
}

// Sessions and cached answers hold the isolate's memory, so there is one of each whatever the Env.
let sessions: SessionCache | undefined;
let responses: ResponseCache | undefined;
const isolates = new WeakMap<Env, Isolate>();

export function isolateOf(env: Env): Isolate {
  let isolate = isolates.get(env);
  if (!isolate) isolates.set(env, (isolate = build(env)));
  return isolate;
}

function build(env: Env): Isolate {
  const config = configOf(env);
  sessions ??= new SessionCache(config.sessionCacheBytes);
  responses ??= new ResponseCache(config.responseCacheBytes, popCache());
  const source = new PointerSource(env.POINTERS, config.pointerTtlMs);
  // Built before the parts it samples; the sampler reads them only when a report is due.
  const recorder = new Recorder(config.metricsFlushMs, config.metricsEnabled, (m) => sample(m, source, models, mesh));
  const models = new ModelManager({
    registry: registry(env.DB),
    source,
    sessions,
    bucket: env.ARTIFACTS,
    keys: config.signingKeys,
    report: reporter(env),
    newVersionWaitMs: config.newVersionWaitMs,
    onLoad: (m, ms, ok) => {
      const labels = { model: m.name, version: String(m.version) };
      recorder.metrics.inc(LOADS, { ...labels, outcome: ok ? "success" : "failure" });
      recorder.metrics.observe(LOAD_DURATION, labels, ms / 1000);
    },
    onCache: (event, key) => recorder.metrics.inc(SESSION_CACHE, { ...labelsOf(key), event }),
    onServe: (model, pointer) => {
      if (pointer.at !== undefined) recorder.metrics.observe(POINTER_PROPAGATION, { model }, Math.max(0, Date.now() - pointer.at) / 1000);
    },
  });
  const mesh: Mesh = {
    config,
    peerBreakers: new Breakers(config.breaker),
    shardBreakers: new Breakers(config.breaker),
    budget: new RetryBudget(config.retryBudget),
    health: new PeerHealth(config.healthIntervalMs, config.peerTimeoutMs),
  };
  return { config, recorder, sessions, responses, models, mesh };
}

/** The PoP's shared cache (Workers Cache API), where the runtime has one. */
function popCache(): Cache | null {
  return typeof caches === "undefined" ? null : caches.default;
}

// A session's labels, split from its key once rather than on every request's cache hit.
const sessionLabels = new Map<string, ReturnType<typeof sessionOf>>();
function labelsOf(key: string): ReturnType<typeof sessionOf> {
  let labels = sessionLabels.get(key);
  if (!labels) {
    if (sessionLabels.size >= 1024) sessionLabels.clear();
    sessionLabels.set(key, (labels = sessionOf(key)));
  }
  return labels;
}

/** The gauges, set from the isolate's state just before a report. */
function sample(metrics: MetricSet, source: PointerSource, models: ModelManager, mesh: Mesh): void {
  const now = Date.now();
  for (const [model, readAt] of source.readTimes()) metrics.set(POINTER_AGE, { model }, (now - readAt) / 1000, now);
  for (const [model, s] of Object.entries(models.status())) if (s.seq !== null) metrics.set(POINTER_SEQ, { model }, s.seq, now);
  for (const [kind, breakers] of [["peer", mesh.peerBreakers], ["shard", mesh.shardBreakers]] as const) {
    for (const [peer, state] of Object.entries(breakers.states())) metrics.set(BREAKER_STATE, { kind, peer }, BREAKER_VALUE[state], now);
  }
}

/** Tells the model's RegistryDO what this PoP serves and what failed to load (`meridian status`). */
function reporter(env: Env): PopReporter {
  return (model, { colo, served, failure }) =>
    env.REGISTRY.get(env.REGISTRY.idFromName(model)).report({
      colo,
      version: served?.stable.manifest.version ?? null,
      canary: served?.canary?.signed.manifest.version ?? null,
      seq: served?.seq ?? 0,
      fallbackFor: served?.fallbackFor ?? null,
      failed: failure ? { seq: failure.seq, version: failure.version, error: failure.error, at: failure.at } : null,
      at: new Date().toISOString(),
    });
}

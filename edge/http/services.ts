// Builds the isolate's long-lived parts once (session cache, pointer source, manager) and
// hands them to each request, with the request's own context (PoP, caller, waitUntil).
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { intVar, publicKeys, type AppEnv, type Env } from "../env";
import { SessionCache } from "../runtime/sessions";
import { ModelManager, type PopReporter, type RequestContext } from "../versions/manager";
import { registry } from "../versions/registry";
import { PointerSource } from "../versions/source";
import { HOP_HEADER } from "../geo/forward";
import { geoState } from "../geo/state";
import { colo } from "./pop";

let sessions: SessionCache | undefined;
const managers = new WeakMap<Env, ModelManager>();

export function sessionCache(env: Env): SessionCache {
  sessions ??= new SessionCache(intVar(env.SESSION_CACHE_BYTES, 64 * 1024 * 1024));
  return sessions;
}

/** Tells the model's RegistryDO what this PoP serves (for `meridian status`). */
function reporter(env: Env): PopReporter {
  return (model, { colo, served, failure }) =>
    env.REGISTRY.get(env.REGISTRY.idFromName(model)).report({
      colo,
      version: served?.stable.manifest.version ?? null,
      canary: served?.canary?.signed.manifest.version ?? null,
      seq: failure?.seq ?? served?.seq ?? 0,
      at: new Date().toISOString(),
      error: failure?.error ?? null,
    });
}

export const services = createMiddleware<AppEnv>(async (c, next) => {
  let manager = managers.get(c.env);
  if (!manager) {
    const source = new PointerSource(c.env.POINTERS, intVar(c.env.POINTER_TTL_MS, 5000));
    manager = new ModelManager(registry(c.env.DB), source, sessionCache(c.env), c.env.ARTIFACTS, publicKeys(c.env), reporter(c.env));
    managers.set(c.env, manager);
  }
  c.set("models", manager);
  await next();
});

export function requestContext(c: Context<AppEnv>): RequestContext {
  const raw = c.req.raw;
  let waitUntil: RequestContext["waitUntil"];
  try {
    const ctx = c.executionCtx;
    waitUntil = (p) => ctx.waitUntil(p);
  } catch {
    waitUntil = (p) => void p; // no execution context (e.g. app.request in a unit test)
  }
  return {
    colo: colo(raw, c.env),
    callerKey: c.req.header("x-user-id") ?? c.req.header("cf-connecting-ip") ?? "anonymous",
    mayFallBack: geoState(c.env).peers.length === 0 || c.req.header(HOP_HEADER) !== undefined,
    waitUntil,
  };
}

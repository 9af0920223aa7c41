// Builds the isolate's long-lived parts once (session cache, pointer source) and hands
// them to each request.
import { createMiddleware } from "hono/factory";
import { intVar, type AppEnv, type Env } from "../env";
import { SessionCache } from "../runtime/sessions";
import { ModelManager } from "../versions/manager";
import { registry } from "../versions/registry";
import { PointerSource } from "../versions/source";

let sessions: SessionCache | undefined;
const managers = new WeakMap<Env, ModelManager>();

export function sessionCache(env: Env): SessionCache {
  sessions ??= new SessionCache(intVar(env.SESSION_CACHE_BYTES, 64 * 1024 * 1024));
  return sessions;
}

export const services = createMiddleware<AppEnv>(async (c, next) => {
  let manager = managers.get(c.env);
  if (!manager) {
    const source = new PointerSource(c.env.POINTERS, intVar(c.env.POINTER_TTL_MS, 5000));
    manager = new ModelManager(registry(c.env.DB), source, sessionCache(c.env), c.env.ARTIFACTS);
    managers.set(c.env, manager);
  }
  c.set("models", manager);
  await next();
});

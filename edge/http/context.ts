// Per-request plumbing: the Hono env type, the middleware that hands each request its isolate's
// long-lived parts, and the request's own context (PoP, caller, waitUntil).
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import type { Config } from "../config";
import type { Env } from "../env";
import { HOP_HEADER } from "../geo/forward";
import { isolateOf, type Isolate } from "../isolate";
import type { RequestContext } from "../versions/manager";

/** Variables are read with c.get(name): Hono's c.var builds a new object of all of them on every access. */
export type AppEnv = {
  Bindings: Env;
  Variables: {
    isolate: Isolate;
    /** Set once a prediction request has its version: what its metrics are labelled with. */
    served?: { model: string; version: string; variant: string };
    /** A prediction's body, once read: what failover sends on when this PoP cannot answer. */
    body?: Uint8Array;
    /** The PoP answering (read once: request.cf is parsed anew on every access). */
    pop: string;
  };
};

export const withIsolate = createMiddleware<AppEnv>(async (c, next) => {
  const isolate = isolateOf(c.env);
  c.set("isolate", isolate);
  c.set("pop", colo(c.req.raw, isolate.config));
  await next();
});

export function requestContext(c: Context<AppEnv>): RequestContext {
  let waitUntil: RequestContext["waitUntil"];
  try {
    const ctx = c.executionCtx;
    waitUntil = (p) => ctx.waitUntil(p);
  } catch {
    waitUntil = (p) => void p; // no execution context (e.g. app.request in a unit test)
  }
  return {
    colo: c.get("pop"),
    callerKey: c.req.header("x-user-id") ?? c.req.header("cf-connecting-ip") ?? "anonymous",
    mayFallBack: c.get("isolate").config.peers.length === 0 || c.req.header(HOP_HEADER) !== undefined,
    waitUntil,
  };
}

/** The PoP answering: POP_COLO where a local run plays a given PoP, else request.cf.colo. */
export function colo(request: Request, config: Pick<Config, "popColo">): string {
  if (config.popColo) return config.popColo;
  const cf = request.cf as { colo?: unknown } | undefined;
  return typeof cf?.colo === "string" ? cf.colo : "local";
}

// Runs the Worker as a given PoP with extra vars, in this isolate: several of these stand in for
// several PoPs (the shared bindings play the global services: D1, KV, R2, Durable Objects).
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import type { Env } from "../../edge/env";
import app from "../../edge/index";
import { BASE } from "./client";

export type PopFetch = (path: string, init?: RequestInit) => Promise<Response>;

export function popAt(colo: string, vars: Partial<Env> = {}): PopFetch {
  // One Env object per PoP: the Worker keys its per-isolate state (manager, breakers) on it.
  const popEnv: Env = { ...env, POP_COLO: colo, ...vars };
  return async (path, init) => {
    const ctx = createExecutionContext();
    const res = await app.fetch(new Request(`${BASE}${path}`, init), popEnv, ctx);
    await waitOnExecutionContext(ctx);
    return res;
  };
}

/** A POST with a JSON body, as a client sends it. */
export const json = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/json", ...headers },
  body: JSON.stringify(body),
});

// Failover for prediction routes: when this PoP answers 503 (the model cannot be loaded here,
// or the caller's state is unreachable from here), the request goes to the nearest healthy peer
// PoP instead; if none answers, the client gets a 503 with Retry-After (the degraded path).
// Responses say who served and why: x-meridian-route local | forwarded | failover.
import { createMiddleware } from "hono/factory";
import { CallerStateUnavailable, ModelUnavailable } from "../errors";
import { forward, HOP_HEADER } from "../geo/forward";
import { locate, type CfLocation } from "../geo/peers";
import { readBytes } from "./body";
import { requestContext, type AppEnv } from "./context";

export const failover = createMiddleware<AppEnv>(async (c, next) => {
  const { mesh, config } = c.get("isolate");
  const self = c.get("pop");
  // Peers due for a health check are probed in the background, off this request's path.
  const probes = mesh.health.check(config.peers, (p) => mesh.peerBreakers.get(p), self);
  if (probes) requestContext(c).waitUntil(probes);
  // Set before the answer exists, where a header is cheap (after it, Hono copies the response
  // for every header set); a failover below replaces it.
  c.header("x-meridian-route", "local");
  await next();
  // A forwarded request is answered here or not at all: it is never forwarded again.
  if (c.res.status !== 503 || config.peers.length === 0 || c.req.header(HOP_HEADER) !== undefined) return;

  const reason = c.error instanceof CallerStateUnavailable ? "shard-unavailable" : c.error instanceof ModelUnavailable ? "model-unavailable" : "unavailable";
  const localError = c.error?.message ?? "unavailable";
  // The route read the body (and kept it) or failed before touching it: no copy is made up front.
  let body: Uint8Array | null;
  try {
    body = c.get("body") ?? (await readBytes(c.req.raw, config.maxBodyBytes));
  } catch {
    return; // the body was refused (too large): the local 503 stands
  }
  const url = new URL(c.req.url);
  const result = await forward(
    // Inference is a pure function of the request, so sending it twice is harmless: it counts
    // as idempotent and may be retried on a second peer.
    { method: c.req.method, path: url.pathname + url.search, headers: c.req.raw.headers, body, idempotent: true },
    mesh,
    locate(self, c.req.raw.cf as CfLocation | undefined),
    self,
  );
  if (result.ok) {
    c.res = undefined; // drop the local 503, or its headers would be merged into the peer's answer
    c.res = result.response;
    c.header("x-meridian-route", result.route);
  } else {
    // Keeps the local answer's headers (CORS, PoP, version, x-meridian-route: local).
    const tried = result.tried.length ? `tried ${result.tried.join(", ")}` : "no healthy peer";
    c.res = c.json({ error: `${localError}; no other PoP could answer (${tried})` }, 503, { "retry-after": String(result.retryAfterSeconds) });
  }
  c.header("x-meridian-via", self);
  c.header("x-meridian-reason", reason);
});

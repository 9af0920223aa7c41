// Counts every prediction request, by model, version, variant, route and outcome, with its
// whole-request latency; then lets the isolate report to the aggregators if its interval passed.
// Placed before failover, so it sees the final answer (local, forwarded or failed over).
import { createMiddleware } from "hono/factory";
import { ModelUnavailable } from "../errors";
import { DURATION, REQUESTS, UNKNOWN_MODEL, outcomeOf } from "../metrics/families";
import { requestContext, type AppEnv } from "./context";

export const countPredictions = createMiddleware<AppEnv>(async (c, next) => {
  const t0 = performance.now();
  await next();
  const { recorder } = c.get("isolate");
  const res = c.res;
  const route = res.headers.get("x-meridian-route") ?? "local";
  // A forwarded answer is labelled with what the peer says it served; a request that never got
  // a version (an unknown model) is counted apart, since a client's name is no label.
  const peer = route === "local" ? undefined : res.headers.get("x-meridian-model-version");
  const failed = c.error instanceof ModelUnavailable ? c.error.version : undefined;
  const served = peer
    ? { model: c.req.param("name") ?? UNKNOWN_MODEL, version: peer, variant: res.headers.get("x-meridian-variant") ?? "" }
    : (c.get("served") ?? (failed && { model: failed.model, version: String(failed.version), variant: "" }));
  const labels = { model: served?.model ?? UNKNOWN_MODEL, version: served?.version ?? "", variant: served?.variant ?? "", route };
  recorder.metrics.inc(REQUESTS, { ...labels, outcome: outcomeOf(res.status) });
  recorder.metrics.observe(DURATION, labels, (performance.now() - t0) / 1000);
  const report = recorder.report(c.env, c.get("pop"));
  if (report) requestContext(c).waitUntil(report);
});

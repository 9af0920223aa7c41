// GET /metrics: the fleet's series in the Prometheus text exposition format, labelled by PoP,
// from each model's MetricsDO. Behind a token (METRICS_TOKEN, or the admin token).
import { Hono } from "hono";
import { asc } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { emptySnapshot, exposition } from "../../shared/metrics";
import { bearerAuth } from "../http/auth";
import type { AppEnv } from "../http/context";
import { FAMILIES, FLEET, REGISTRY_FAMILIES, REGISTRY_SEQ, UNKNOWN_MODEL } from "../metrics/families";
import { models } from "../versions/schema";

export const metricsRoutes = new Hono<AppEnv>().get(
  "/metrics",
  bearerAuth({ tokens: (c) => [c.get("isolate").config.metricsToken, c.get("isolate").config.adminToken], realm: "metrics", setting: "METRICS_TOKEN or ADMIN_TOKEN" }),
  async (c) => {
    // This isolate's own counts go in first, so a scrape is never behind the isolate answering it.
    await c.get("isolate").recorder.report(c.env, c.get("pop"), true);
    const names = (await drizzle(c.env.DB).select({ name: models.name }).from(models).orderBy(asc(models.name))).map((m) => m.name);
    const [perModel, states] = await Promise.all([
      Promise.all([...names, UNKNOWN_MODEL, FLEET].map((n) => c.env.METRICS.get(c.env.METRICS.idFromName(n)).series())),
      Promise.all(names.map((n) => c.env.REGISTRY.get(c.env.REGISTRY.idFromName(n)).state())),
    ]);
    const sources = perModel.flat().map((s) => ({ labels: { pop: s.pop }, snapshot: s.snapshot }));
    const now = Date.now();
    const registry = emptySnapshot();
    registry.gauges = { [REGISTRY_SEQ]: Object.fromEntries(names.map((n, i) => [JSON.stringify([n]), { value: states[i]!.seq, at: now }])) };
    const text = exposition(FAMILIES, sources) + exposition(REGISTRY_FAMILIES, [{ labels: {}, snapshot: registry }]);
    return c.text(text, 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
  },
);

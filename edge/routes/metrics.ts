// GET /metrics: the fleet's series in the Prometheus text exposition format, labelled by PoP,
// from each model's MetricsDO. Behind a token (METRICS_TOKEN, or the admin token).
import { Hono } from "hono";
import { asc } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { exposition } from "../../shared/metrics";
import { bearerAuth } from "../http/auth";
import { colo, type AppEnv } from "../http/context";
import { FAMILIES, UNKNOWN_MODEL } from "../metrics/families";
import { models } from "../versions/schema";

export const metricsRoutes = new Hono<AppEnv>().get(
  "/metrics",
  bearerAuth({ tokens: (c) => [c.var.isolate.config.metricsToken, c.var.isolate.config.adminToken], realm: "metrics", setting: "METRICS_TOKEN or ADMIN_TOKEN" }),
  async (c) => {
    // This isolate's own counts go in first, so a scrape is never behind the isolate answering it.
    await c.var.isolate.recorder.report(c.env, colo(c.req.raw, c.var.isolate.config), true);
    const names = (await drizzle(c.env.DB).select({ name: models.name }).from(models).orderBy(asc(models.name))).map((m) => m.name);
    const perModel = await Promise.all([...names, UNKNOWN_MODEL].map((n) => c.env.METRICS.get(c.env.METRICS.idFromName(n)).series()));
    const sources = perModel.flat().map((s) => ({ labels: { pop: s.pop }, snapshot: s.snapshot }));
    return c.text(exposition(FAMILIES, sources), 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
  },
);

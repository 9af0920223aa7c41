// GET /dashboard: the fleet at a glance, served by the Worker itself behind the metrics or admin
// token (the Authorization header, or a cookie set by signing in on the page). The page polls
// /dashboard/data, which gathers per model: what the registry says, what every PoP serves
// (version skew, how far behind and how old its report is), the rollout with its gates, and per
// version request rate, error rate and p99 over the last ten minutes.
import { Hono, type Context } from "hono";
import { setCookie } from "hono/cookie";
import { asc } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { Rollout } from "../../shared/fleet";
import type { Env } from "../env";
import { PermissionDenied, Unauthenticated } from "../errors";
import { accepted, bearerAuth } from "../http/auth";
import type { AppEnv } from "../http/context";
import { dashboardPage, loginPage } from "../dashboard/page";
import { summarize } from "../metrics/summary";
import { models } from "../versions/schema";

const COOKIE = "meridian_dashboard";
const HISTORY_MS = 10 * 60_000;
const STEP_MS = 10_000;

const tokens = (c: Context<AppEnv>) => [c.get("isolate").config.metricsToken, c.get("isolate").config.adminToken].filter((t): t is string => Boolean(t));
const guard = bearerAuth({ tokens, realm: "dashboard", setting: "METRICS_TOKEN or ADMIN_TOKEN", cookie: COOKIE });

export const dashboardRoutes = new Hono<AppEnv>();

// Without a token the page is a sign-in form (a browser cannot send the header itself).
dashboardRoutes.get("/dashboard", async (c, next) => {
  try {
    await guard(c, async () => {});
  } catch (err) {
    if (err instanceof Unauthenticated || err instanceof PermissionDenied) return c.html(loginPage(err instanceof PermissionDenied ? "That token is not valid here." : ""), err instanceof Unauthenticated ? 401 : 403);
    throw err;
  }
  await next();
}, (c) => c.html(dashboardPage()));

dashboardRoutes.post("/dashboard/login", async (c) => {
  const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
  const token = typeof form["token"] === "string" ? form["token"].trim() : "";
  if (!token || !(await accepted(token, tokens(c)))) return c.html(loginPage("That token is not valid here."), 403);
  const secure = new URL(c.req.url).protocol === "https:";
  setCookie(c, COOKIE, token, { httpOnly: true, sameSite: "Strict", path: "/dashboard", secure, maxAge: 12 * 3600 });
  return c.redirect("/dashboard", 303);
});

dashboardRoutes.get("/dashboard/data", guard, async (c) => c.json(await fleet(c.env)));

export interface DashboardModel {
  name: string;
  serving: number | null;
  canary: { version: number; percent: number; where?: Record<string, number> } | null;
  shadow: { version: number; percent: number } | null;
  seq: number;
  latest: number | null;
  pops: Array<{ colo: string; version: number | null; canary: number | null; seq: number; behind: number; reportAgeSeconds: number; failed: string | null }>;
  rollout: Rollout | null;
  series: Array<{ version: string; variant: string; points: Array<{ t: number; rate: number; errorRate: number; p99: number | null }> }>;
}

async function fleet(env: Env): Promise<{ now: number; models: DashboardModel[] }> {
  const now = Date.now();
  const names = (await drizzle(env.DB).select({ name: models.name }).from(models).orderBy(asc(models.name))).map((m) => m.name);
  const list = await Promise.all(
    names.map(async (name): Promise<DashboardModel> => {
      const registry = env.REGISTRY.get(env.REGISTRY.idFromName(name));
      const [s, pops, rollout, timeline] = await Promise.all([
        registry.state(),
        registry.pops(),
        registry.rolloutStatus(),
        env.METRICS.get(env.METRICS.idFromName(name)).timeline(now - HISTORY_MS, STEP_MS, now),
      ]);
      const series = new Map<string, DashboardModel["series"][number]>();
      for (const w of timeline) {
        for (const f of summarize(w.pops, (w.to - w.from) / 1000)) {
          const key = `${f.version}/${f.variant}`;
          let line = series.get(key);
          if (!line) series.set(key, (line = { version: f.version, variant: f.variant, points: [] }));
          line.points.push({ t: w.to, rate: f.rate, errorRate: f.errorRate, p99: f.p99 });
        }
      }
      return {
        name,
        serving: s.serving,
        canary: s.canary,
        shadow: s.shadow ?? null,
        seq: s.seq,
        latest: s.nextVersion > 1 ? s.nextVersion - 1 : null,
        pops: pops.map((p) => ({
          colo: p.colo,
          version: p.version,
          canary: p.canary,
          seq: p.seq,
          behind: Math.max(0, s.seq - p.seq),
          reportAgeSeconds: Math.max(0, (now - Date.parse(p.at)) / 1000),
          failed: p.failed && p.failed.seq > p.seq ? `v${p.failed.version}: ${p.failed.error.slice(0, 300)}` : null,
        })),
        rollout: rollout as Rollout | null,
        series: [...series.values()],
      };
    }),
  );
  return { now, models: list };
}

// The dashboard's guard and data: a sign-in form without a token, a cookie after signing in,
// JSON errors on the data route, and the figures it gathers per model.
import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { irisRequest } from "../../test/edge/client";
import { json, popAt } from "../../test/edge/pop";
import { seed } from "../../test/edge/seed";
import type { DashboardModel } from "./dashboard";

beforeAll(() => seed(["iris"]));

describe("dashboard", () => {
  const pop = popAt("ZRH", { METRICS_FLUSH_MS: "0", METRICS_TOKEN: "metrics-secret" });

  it("shows a sign-in form without a token, and refuses a wrong one", async () => {
    const res = await pop("/dashboard");
    expect(res.status).toBe(401);
    expect(res.headers.get("content-type")).toMatch(/text\/html/);
    expect(await res.text()).toContain('name="token"');
    const wrong = await pop("/dashboard", { headers: { authorization: "Bearer nope" } });
    expect(wrong.status).toBe(403);
    const data = await pop("/dashboard/data");
    expect(data.status).toBe(401);
    expect(await data.json()).toMatchObject({ error: expect.stringMatching(/missing bearer token/) });
  });

  it("signs in with the metrics token into an HttpOnly cookie that the page and its data accept", async () => {
    const form = new URLSearchParams({ token: "metrics-secret" });
    const login = await pop("/dashboard/login", { method: "POST", body: form, headers: { "content-type": "application/x-www-form-urlencoded" }, redirect: "manual" });
    expect(login.status).toBe(303);
    const cookie = login.headers.get("set-cookie")!;
    expect(cookie).toMatch(/^meridian_dashboard=metrics-secret;/);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    const page = await pop("/dashboard", { headers: { cookie: cookie.split(";")[0]! } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("/dashboard/data");
    const bad = await pop("/dashboard/login", { method: "POST", body: new URLSearchParams({ token: "guess" }), headers: { "content-type": "application/x-www-form-urlencoded" } });
    expect(bad.status).toBe(403);
    expect(bad.headers.get("set-cookie")).toBeNull();
  });

  it("gathers per model what the registry and every PoP serve, and per-version charts", async () => {
    for (let i = 0; i < 5; i++) expect((await pop("/v2/models/iris/infer", json(irisRequest()))).status).toBe(200);
    await pop("/metrics", { headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` } }); // flushes this isolate
    const res = await pop("/dashboard/data", { headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` } });
    expect(res.status).toBe(200);
    const data = await res.json<{ now: number; models: DashboardModel[] }>();
    const iris = data.models.find((m) => m.name === "iris")!;
    expect(iris.serving).toBe(1);
    expect(iris.pops.find((p) => p.colo === "ZRH")).toMatchObject({ version: 1, behind: 0, failed: null });
    const stable = iris.series.find((s) => s.version === "1" && s.variant === "stable")!;
    expect(stable.points.reduce((n, p) => n + p.rate * 10, 0)).toBeGreaterThanOrEqual(5);
    expect(stable.points.at(-1)!.p99).toBeGreaterThan(0);
  });
});

// The fleet dashboard in a real headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core) against a seeded `wrangler dev`: sign in through the form (cookie auth), then
// a running rollout of a second iris with known traffic, shown as the edge counted it (gates,
// PoP row, per-version charts), and the same rollout shown aborted once aborted.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, startSeeded, type DevServer } from "../../dev/local";
import { IRIS_LABELS, irisSpec, irisWeights } from "../../dev/samples/iris";
import { AdminClient } from "../../shared/admin-client";
import { buildMlpFp32 } from "../../shared/onnx/mlp";
import { manifestFor } from "../../shared/onnx/manifest";
import { generateKeyPair } from "../../shared/signing";

const TOKEN = "dash-token";
const USERS = 60;
const CONCURRENCY = 4;
const MIN_REQUESTS = 100_000;
const BODY = JSON.stringify({ inputs: [{ name: "measurements", datatype: "FP32", shape: [1, 4], data: [5.1, 3.5, 1.4, 0.2] }] });
/** The page polls every 2 s and the isolate flushes every 500 ms; the rollout ticks every 15 s. */
const FIGURES_TIMEOUT_MS = 20_000;
const GATES_TIMEOUT_MS = 45_000;
/** The dashboard's chart step (edge/routes/dashboard.ts): a point's rate is its requests over 10 s. */
const STEP_S = 10;
const SHOT_TMP = join(tmpdir(), "meridian-dashboard.png");
const SHOT_DOCS = join(ROOT, "docs", "dashboard.png");

let server: DevServer;
let client: AdminClient;
let browser: Browser | undefined;
let page: Page;
const state = mkdtempSync(join(tmpdir(), "meridian-dashboard-e2e-"));
/** What the edge said it served, per `v<version> <variant>`, and the PoPs that answered. */
const served = new Map<string, number>();
const pops = new Set<string>();
let canaryUsers = 0;
let stableUsers = 0;

async function infer(user: string): Promise<{ version: string; variant: string }> {
  const res = await fetch(`${server.url}/v2/models/iris/infer`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-user-id": user },
    body: BODY,
  });
  const body = (await res.json()) as { model_version?: string };
  expect(res.status, JSON.stringify(body)).toBe(200);
  const version = res.headers.get("x-meridian-model-version") ?? "";
  const variant = res.headers.get("x-meridian-variant") ?? "";
  expect(body.model_version).toBe(version);
  const key = `v${version} ${variant}`;
  served.set(key, (served.get(key) ?? 0) + 1);
  pops.add(res.headers.get("x-meridian-pop") ?? "");
  return { version, variant };
}

beforeAll(async () => {
  const keys = await generateKeyPair();
  // Flushes every 500 ms instead of 10 s, so the counts reach the aggregator while the page polls.
  server = await startSeeded({ stateDir: state, vars: { METRICS_FLUSH_MS: "500" }, credentials: { adminToken: TOKEN, ...keys } });
  client = new AdminClient(server.url, TOKEN, { actor: "dashboard-test" });

  // A second iris (another training seed), registered as v2 but not promoted.
  const bytes = buildMlpFp32(irisSpec(irisWeights({ seed: 7 }).layers));
  const manifest = await manifestFor(bytes, { name: "iris", version: 1, quantization: "none", labels: { probabilities: [...IRIS_LABELS] } });
  await client.uploadArtifact(manifest.sha256, bytes, bytes.byteLength);
  const { version } = await client.register(manifest, keys.privateKey);
  expect(version).toBe(2);

  // Ten-minute steps and an unreachable min_requests: it stays at 50% for the whole test.
  const started = await client.rollout("iris", { version: 2, steps: [50, 100], intervalMs: 600_000, minRequests: MIN_REQUESTS });
  expect(started).toMatchObject({ state: "running", version: 2, stable: 1, step: 0 });

  // The PoP re-reads its pointer every POINTER_TTL_MS (5 s): until then everyone gets v1.
  const t0 = Date.now();
  for (let i = 0; (await infer(`warmup-${i}`)).variant !== "canary"; i++) {
    if (Date.now() - t0 > 20_000) throw new Error(`no canary answer 20 s after the rollout started: ${JSON.stringify([...served])}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  // Distinct callers: the canary takes the ones whose hash falls in its 50%.
  let next = 0;
  const worker = async () => {
    while (next < USERS) {
      const { variant } = await infer(`user-${next++}`);
      if (variant === "canary") canaryUsers++;
      else if (variant === "stable") stableUsers++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  // The isolate reports only on a prediction once METRICS_FLUSH_MS has passed, or on a scrape:
  // the scrape sends the last few hundred milliseconds' counts (the dashboard's reads do not).
  expect((await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);

  // Playwright's default handleSIGINT/SIGTERM/SIGHUP close the browser if we are stopped; with
  // the pipe transport Chromium also exits when this process dies outright.
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update"],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
}, 180_000);

afterAll(async () => {
  try {
    await browser?.close();
  } finally {
    await server?.stop();
    rmSync(state, { recursive: true, force: true });
  }
});

const iris = () => page.locator('section.model[data-model="iris"]');
const loaded = () => page.evaluate(() => Number(document.body?.dataset.loaded ?? 0));
const legend = (chart: string) => iris().locator(".chart", { has: page.locator(`svg[data-chart="${chart}"]`) }).locator(".legend span");

/** `{ "v2 canary": "0.30", … }` from a chart's legend. */
async function legendValues(chart: string): Promise<Record<string, string>> {
  const texts = await legend(chart).allTextContents();
  return Object.fromEntries(texts.map((t) => t.split(": ") as [string, string]));
}

describe("the fleet dashboard in Chromium", () => {
  it("asks for a token, refuses a wrong one, and signs in with the admin token (cookie)", async () => {
    expect(served.get("v2 canary")).toBeGreaterThan(0);
    expect(canaryUsers).toBeGreaterThan(0);
    expect(stableUsers).toBeGreaterThan(0);
    expect(canaryUsers + stableUsers).toBe(USERS);

    const first = await page.goto(`${server.url}/dashboard`);
    expect(first?.status()).toBe(401);
    expect(await page.locator('form[action="/dashboard/login"] input[name="token"]').isVisible()).toBe(true);
    expect(await page.locator("section.model").count()).toBe(0);

    await page.fill('input[name="token"]', "not-the-token");
    const [wrong] = await Promise.all([page.waitForResponse((r) => r.url().endsWith("/dashboard/login")), page.click('button[type="submit"]')]);
    expect(wrong.status()).toBe(403);
    await page.waitForLoadState();
    expect(await page.locator("p.bad").textContent()).toContain("not valid");
    expect(await page.context().cookies()).toEqual([]);

    await page.fill('input[name="token"]', TOKEN);
    const [landed] = await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).pathname === "/dashboard" && r.request().method() === "GET"),
      page.click('button[type="submit"]'),
    ]);
    expect(landed.status()).toBe(200);
    // Cookie auth only: the browser sends no Authorization header of its own.
    expect(landed.request().headers()["authorization"]).toBeUndefined();
    expect(new URL(page.url()).pathname).toBe("/dashboard");
    const cookies = await page.context().cookies();
    expect(cookies).toMatchObject([{ name: "meridian_dashboard", value: TOKEN, httpOnly: true, sameSite: "Strict", path: "/dashboard" }]);
    // The response is in but the new document may not be parsed yet (no body): wait for it.
    await page.waitForLoadState("domcontentloaded");
    await page.waitForFunction(() => Number(document.body?.dataset.loaded ?? 0) >= 1, undefined, { timeout: FIGURES_TIMEOUT_MS });
    expect(await page.locator("#status").textContent()).toMatch(/^updated \d\d:\d\d:\d\d UTC · 7 models$/);
    expect(await page.locator("section.model").count()).toBe(7);
  });

  it("shows the running rollout, its gates, the PoP and the traffic sent", async () => {
    const rollout = iris().locator('.rollout[data-rollout-state="running"]');
    await rollout.waitFor({ timeout: FIGURES_TIMEOUT_MS });
    expect(await rollout.locator("b").textContent()).toBe("Rollout v2 over v1: running");
    expect(await rollout.textContent()).toContain("phase 1/1, step 1/2 (50%)");
    const badges = await iris().locator(".badges span").allTextContents();
    expect(badges).toEqual(expect.arrayContaining(["serving v1", "canary v2 50%", "latest v2"]));
    expect(await rollout.locator(".history").textContent()).toMatch(/start\s+50%\s+everywhere: started by dashboard-test/);

    // The first gate check is 15 s after the start; its min_requests counts every canary answer.
    const canary = served.get("v2 canary")!;
    const gate = (name: string) => rollout.locator("table tr", { has: page.locator(`td:text-is("${name}")`) }).locator("td");
    await expect
      .poll(async () => (await gate("min_requests").allTextContents()).join(" | "), { timeout: GATES_TIMEOUT_MS, interval: 500 })
      .toBe(`min_requests | pending | ${canary} | ${MIN_REQUESTS} | ${canary} of ${MIN_REQUESTS} requests`);
    const gates = await rollout.locator("table tr td:first-child").allTextContents();
    expect(gates).toEqual(["min_requests", "load", "error_rate", "p99_ratio"]);
    expect((await gate("load").allTextContents()).slice(0, 2)).toEqual(["load", "pass"]);
    expect((await gate("error_rate").allTextContents()).slice(0, 4)).toEqual(["error_rate", "pass", "0.00%", "0.50%"]);
    // The p99 gate compares session.run p99s (a ratio once both sides ran) but decides by how many
    // candidate runs are slower than the limit: a few first runs of a fresh session do not fail it.
    const p99 = await gate("p99_ratio").allTextContents();
    expect([p99[0], p99[1], p99[3]]).toEqual(["p99_ratio", "pass", "1.50×"]);
    expect(p99[2]).toMatch(/^(–|\d+\.\d\d×)$/);
    expect(p99[4]).toMatch(/^session\.run p99: candidate .* runs slower than .*consistent with p99 within it|^no stable runs/);
    // Ticks before the step's end only check for failures: the history still holds the start alone.
    expect((await rollout.locator(".history").textContent())!.split("\n")).toHaveLength(1);

    // The PoP that answered the requests: serving v1, canary v2, up to date.
    expect(pops.size).toBe(1);
    const [pop] = [...pops];
    expect(pop).toBeTruthy();
    const row = await iris().locator(`tr[data-pop="${pop}"] td`).allTextContents();
    expect(row.slice(0, 5)).toEqual([pop, "v1", "v2", expect.stringMatching(/^\d+$/), "0"]);

    // Charts: a line for each (version, variant) the edge answered with, whose last point is some
    // of what was sent (the legend shows the newest 10 s window).
    await expect.poll(async () => Object.keys(await legendValues("requests / s")).sort(), { timeout: FIGURES_TIMEOUT_MS }).toEqual([...served.keys()].sort());
    for (const [series, rate] of Object.entries(await legendValues("requests / s"))) {
      const inLastWindow = Number(rate) * STEP_S;
      expect(Number.isInteger(Math.round(inLastWindow * 1000) / 1000), `${series}: ${rate}/s`).toBe(true);
      expect(inLastWindow, `${series}: ${rate}/s`).toBeGreaterThan(0);
      expect(inLastWindow, `${series}: ${rate}/s`).toBeLessThanOrEqual(served.get(series)!);
    }
    expect(Object.values(await legendValues("error rate"))).toEqual([...served.keys()].map(() => "0.00%"));
    for (const p99 of Object.values(await legendValues("p99"))) expect(p99).toMatch(/^\d+\.\d ms$/);
    // One line per series, with a dot on each of its points (a lone window is a dot alone).
    for (const chart of ["requests / s", "error rate", "p99"]) {
      const svg = iris().locator(`svg[data-chart="${chart}"]`);
      expect(await svg.locator("polyline").count()).toBe(served.size);
      const dots = await svg.locator("path").evaluateAll((ps) => ps.map((p) => p.getAttribute("d") ?? ""));
      expect(dots).toHaveLength(served.size);
      for (const d of dots) expect(d).toMatch(/^(M[\d.]+,[\d.]+h0)+$/);
    }

    // The data behind the page (here with the header instead of the cookie): over the ten
    // minutes it adds up to exactly what the edge answered, per version and variant.
    const data = (await (await fetch(`${server.url}/dashboard/data`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as {
      models: Array<{ name: string; series: Array<{ version: string; variant: string; points: Array<{ rate: number }> }> }>;
    };
    const counted = Object.fromEntries(
      data.models.find((m) => m.name === "iris")!.series.map((s) => [`v${s.version} ${s.variant}`, Math.round(s.points.reduce((a, p) => a + p.rate * STEP_S, 0))]),
    );
    expect(counted).toEqual(Object.fromEntries(served));
    // Nothing else was asked of the other models, so they have no charts.
    expect(await page.locator('section.model[data-model="spam"] svg').count()).toBe(0);
  });

  it("takes a full-page screenshot", async () => {
    await page.screenshot({ path: SHOT_TMP, fullPage: true });
    console.log(`dashboard screenshot: ${SHOT_TMP}`);
    if (process.env["DASHBOARD_SCREENSHOT"]) {
      mkdirSync(join(ROOT, "docs"), { recursive: true });
      await page.screenshot({ path: SHOT_DOCS, fullPage: true });
      console.log(`dashboard screenshot: ${SHOT_DOCS}`);
    }
  });

  it("shows the rollout aborted after the next refresh", async () => {
    const aborted = await client.abortRollout("iris");
    expect(aborted).toMatchObject({ state: "aborted", version: 2 });
    expect((await client.rolloutStatus("iris")).rollout).toMatchObject({ state: "aborted" });
    // A refresh in flight now may have read the data before the abort: the one after it did not.
    const seen = await loaded();
    await page.waitForFunction((n) => Number(document.body?.dataset.loaded ?? 0) >= n + 2, seen, { timeout: FIGURES_TIMEOUT_MS });
    const rollout = iris().locator(".rollout");
    expect(await rollout.getAttribute("data-rollout-state")).toBe("aborted");
    expect(await rollout.getAttribute("class")).toBe("rollout aborted");
    expect(await rollout.locator("b").textContent()).toBe("Rollout v2 over v1: aborted");
    expect(await rollout.locator("table").count()).toBe(0);
    expect(await rollout.locator(".history").textContent()).toMatch(/abort\s+0%\s+everywhere: aborted by dashboard-test/);
    const badges = await iris().locator(".badges span").allTextContents();
    expect(badges).toContain("serving v1");
    expect(badges.some((b) => b.startsWith("canary"))).toBe(false);
  });
});

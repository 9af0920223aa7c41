// Fleet metrics: every isolate counts its predictions and reports deltas to each model's
// MetricsDO; GET /metrics renders the totals per PoP behind a token.
import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { irisRequest } from "../../test/edge/client";
import { json, popAt, type PopFetch } from "../../test/edge/pop";
import { admin, fixture, seed } from "../../test/edge/seed";
import { MetricSet, type Snapshot } from "../../shared/metrics";
import { artifactKey } from "../versions/artifacts";
import type { WindowSeries } from "./aggregator-do";
import { FAMILIES, REQUESTS } from "./families";

const auth = (token = env.ADMIN_TOKEN) => ({ headers: { authorization: `Bearer ${token}` } });

/** The value of one series of the scrape, 0 when absent. */
function value(text: string, series: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

async function scrape(pop: PopFetch): Promise<string> {
  const res = await pop("/metrics", auth());
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.text();
}

beforeAll(() => seed(["iris"]));

describe("fleet metrics", () => {
  it("counts requests by outcome and latency per PoP, model, version, variant and route", async () => {
    const pop = popAt("ARN", { METRICS_FLUSH_MS: "0" });
    for (let i = 0; i < 7; i++) expect((await pop("/v2/models/iris/infer", json(irisRequest()))).status).toBe(200);
    for (let i = 0; i < 2; i++) expect((await pop("/v2/models/iris/infer", json({ inputs: [] }))).status).toBe(400);
    expect((await pop("/v2/models/no-such-model/infer", json(irisRequest()))).status).toBe(404);
    const text = await scrape(pop);
    const series = (outcome: string) => `meridian_inference_requests_total{pop="ARN",model="iris",version="1",variant="stable",route="local",outcome="${outcome}"}`;
    expect(value(text, series("success"))).toBe(7);
    expect(value(text, series("client_error"))).toBe(2);
    // A name no registry knows is no label: counted under _unknown.
    expect(value(text, `meridian_inference_requests_total{pop="ARN",model="_unknown",version="",variant="",route="local",outcome="client_error"}`)).toBe(1);
    expect(text).not.toContain("no-such-model");
    expect(value(text, `meridian_inference_duration_seconds_count{pop="ARN",model="iris",version="1",variant="stable",route="local"}`)).toBe(9);
    expect(value(text, `meridian_inference_compute_duration_seconds_count{pop="ARN",model="iris",version="1",variant="stable"}`)).toBe(7);
    expect(value(text, `meridian_inference_featurize_duration_seconds_count{pop="ARN",model="iris",version="1",variant="stable"}`)).toBe(7);
    expect(value(text, `meridian_model_load_wait_seconds_count{pop="ARN",model="iris",version="1"}`)).toBe(7);
    expect(text).toContain("# TYPE meridian_inference_duration_seconds histogram");
  });

  it("shows session cache events, the pointer seq a PoP serves beside the registry's, and how long the pointer took to arrive", async () => {
    const pop = popAt("WAW", { METRICS_FLUSH_MS: "0" });
    for (let i = 0; i < 3; i++) expect((await pop("/v2/models/iris/infer", json(irisRequest()))).status).toBe(200);
    const text = await scrape(pop);
    expect(value(text, `meridian_session_cache_events_total{pop="WAW",model="iris",version="1",event="hit"}`)).toBeGreaterThanOrEqual(3);
    const registrySeq = value(text, `meridian_registry_seq{model="iris"}`);
    expect(registrySeq).toBeGreaterThan(0);
    expect(value(text, `meridian_pointer_seq{pop="WAW",model="iris"}`)).toBe(registrySeq);
    expect(text).toContain("# TYPE meridian_pointer_age_seconds gauge");
    expect(text).toMatch(/meridian_pointer_propagation_seconds_count\{pop="[A-Z]+",model="iris"\} [1-9]/);
  });

  it("adds up what several isolates of one PoP counted, and totals only grow", async () => {
    const [a, b] = [popAt("OSL", { METRICS_FLUSH_MS: "0" }), popAt("OSL", { METRICS_FLUSH_MS: "0" })];
    const ok = `meridian_inference_requests_total{pop="OSL",model="iris",version="1",variant="stable",route="local",outcome="success"}`;
    for (let i = 0; i < 3; i++) await a("/v2/models/iris/infer", json(irisRequest()));
    for (let i = 0; i < 4; i++) await b("/v2/models/iris/infer", json(irisRequest()));
    const first = value(await scrape(a), ok);
    expect(first).toBe(7);
    await b("/v2/models/iris/infer", json(irisRequest()));
    expect(value(await scrape(b), ok)).toBe(8);
  });

  it("an isolate reports at most once per interval: counts wait in the isolate, and a scrape it answers sends them", async () => {
    const pop = popAt("HEL", { METRICS_FLUSH_MS: "3600000" });
    const other = popAt("HEL", { METRICS_FLUSH_MS: "0" });
    const ok = `meridian_inference_requests_total{pop="HEL",model="iris",version="1",variant="stable",route="local",outcome="success"}`;
    for (let i = 0; i < 5; i++) await pop("/v2/models/iris/infer", json(irisRequest()));
    expect(value(await scrape(other), ok)).toBe(0); // still in the first isolate
    expect(value(await scrape(pop), ok)).toBe(5);
  });

  it("counts model loads by outcome, with their durations", async () => {
    const pop = popAt("LIS", { METRICS_FLUSH_MS: "0" });
    const iris = fixture("iris");
    await admin().publish({ ...iris.manifest, name: "metered" }, iris.bytes, env.TEST_SIGNING_KEY, { promote: true });
    const broken = fixture("iris-int8");
    const m = await admin().publish({ ...broken.manifest, name: "metered-broken" }, broken.bytes, env.TEST_SIGNING_KEY, { promote: true });
    const key = artifactKey(m.sha256);
    const bytes = await (await env.ARTIFACTS.get(key))!.arrayBuffer();
    await env.ARTIFACTS.delete(key);
    try {
      expect((await pop("/v2/models/metered/infer", json(irisRequest()))).status).toBe(200);
      expect((await pop("/v2/models/metered/infer", json(irisRequest()))).status).toBe(200); // loaded once
      expect((await pop("/v2/models/metered-broken/infer", json(irisRequest()))).status).toBe(503);
    } finally {
      await env.ARTIFACTS.put(key, bytes);
    }
    const text = await scrape(pop);
    expect(value(text, `meridian_model_loads_total{pop="LIS",model="metered",version="1",outcome="success"}`)).toBe(1);
    expect(value(text, `meridian_model_load_duration_seconds_count{pop="LIS",model="metered",version="1"}`)).toBe(1);
    expect(value(text, `meridian_model_loads_total{pop="LIS",model="metered-broken",version="1",outcome="failure"}`)).toBe(1);
    expect(value(text, `meridian_inference_requests_total{pop="LIS",model="metered-broken",version="1",variant="",route="local",outcome="unavailable"}`)).toBe(1);
  });

  it("needs a token: the metrics token or the admin token", async () => {
    const pop = popAt("CPH", { METRICS_TOKEN: "scrape-me" });
    expect((await pop("/metrics")).status).toBe(401);
    expect((await pop("/metrics", auth("wrong"))).status).toBe(403);
    expect((await pop("/metrics", auth("scrape-me"))).status).toBe(200);
    expect((await pop("/metrics", auth())).status).toBe(200);
  });
});

describe("MetricsDO windows", () => {
  const delta = (n: number): Snapshot => {
    const m = new MetricSet(FAMILIES);
    m.inc(REQUESTS, { model: "w", version: "1", variant: "stable", route: "local", outcome: "success" }, n);
    return m.take();
  };
  const count = (w: WindowSeries, pop: string) => w.pops.find((p) => p.pop === pop)?.snapshot.counters[REQUESTS]?.['["w","1","stable","local","success"]'] ?? 0;

  it("adds up the slots in a window; asked again with the same start it adds only what came since, to the same sums", async () => {
    const stub = env.METRICS.get(env.METRICS.idFromName("window-test"));
    const t0 = Date.now();
    await stub.add("FRA", delta(3));
    await stub.add("AMS", delta(1));
    const first = await stub.window(t0);
    expect([count(first, "FRA"), count(first, "AMS")]).toEqual([3, 1]);
    await new Promise((r) => setTimeout(r, 1100)); // the first slot is settled now
    await stub.add("FRA", delta(5));
    const again = await stub.window(t0);
    expect(count(again, "FRA")).toBe(8);
    await stub.add("FRA", delta(2)); // lands in the current slot, after the settled ones were kept
    expect(count(await stub.window(t0), "FRA")).toBe(10);
    // A window with another start is merged afresh: the same figures.
    expect(count(await stub.window(t0 - 1), "FRA")).toBe(10);
    // And one that starts after the first adds leaves them out.
    expect(count(await stub.window(Date.now() + 1000), "FRA")).toBe(0);
  });
});

// Per-caller state in ShardDOs: atomic read-modify-write under concurrency, the rate limit,
// and a deterministic key → shard → region mapping.
import { env, listDurableObjectIds } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { REGION_HINTS } from "../../shared/pops";
import { DEFAULT_LAYOUT, parseLayout, shardFor, shardLabel, shardRing, shardStub } from "../../edge/geo/shards";
import { irisRequest, post } from "./client";
import { json, popAt } from "./pop";
import { seed } from "./seed";

beforeAll(() => seed(["iris"]));

const stubFor = (key: string) => shardStub(env, shardFor(env, key));

describe("ShardDO", () => {
  it("100 parallel increments of one key give exactly 100 (no lost update)", async () => {
    const stub = stubFor("parallel-user");
    const results = await Promise.all(Array.from({ length: 100 }, () => stub.touch("parallel-user", { limit: 1000, windowMs: 60_000 })));
    // Every touch saw the one before it: the counts are exactly 1..100, each once.
    expect(results.map((r) => r.count).sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect((await stub.get("parallel-user"))?.count).toBe(100);
  });

  it("refuses past the limit and says when to come back", async () => {
    const stub = stubFor("limited-user");
    const limit = { limit: 5, windowMs: 60_000 };
    const results = [];
    for (let i = 0; i < 7; i++) results.push(await stub.touch("limited-user", limit));
    expect(results.map((r) => r.allowed)).toEqual([true, true, true, true, true, false, false]);
    expect(results.slice(0, 5).map((r) => r.remaining)).toEqual([4, 3, 2, 1, 0]);
    const refused = results[5]!;
    // One token comes back every windowMs / limit = 12 s.
    expect(refused.retryAt - Date.now()).toBeGreaterThan(10_000);
    expect(refused.retryAt - Date.now()).toBeLessThanOrEqual(12_000);
    expect(refused.count).toBe(6); // refused requests are still counted
  });

  it("keeps the limit under concurrency: exactly `limit` of 50 parallel touches pass", async () => {
    const stub = stubFor("burst-user");
    const results = await Promise.all(Array.from({ length: 50 }, () => stub.touch("burst-user", { limit: 20, windowMs: 60_000 })));
    expect(results.filter((r) => r.allowed)).toHaveLength(20);
  });

  it("limit 0 only counts", async () => {
    const stub = stubFor("unlimited-user");
    for (let i = 0; i < 3; i++) expect((await stub.touch("unlimited-user", { limit: 0, windowMs: 60_000 })).allowed).toBe(true);
    expect((await stub.get("unlimited-user"))?.count).toBe(3);
  });
});

describe("shard ring", () => {
  it("defaults to two shards per region, each hinted to its region", () => {
    const shards = shardRing().shards();
    expect(shards).toHaveLength(REGION_HINTS.length * 2);
    for (const s of shards) expect(s.id).toMatch(new RegExp(`^${s.region}-[01]$`));
    expect(parseLayout(DEFAULT_LAYOUT)).toHaveLength(18);
    expect(parseLayout("weur:2,enam")).toEqual([
      { id: "weur-0", region: "weur" },
      { id: "weur-1", region: "weur" },
      { id: "enam-0", region: "enam" },
    ]);
    expect(() => parseLayout("mars:1")).toThrow(/mars/);
  });

  it("maps a key to the same shard every time, and the shard's object holds the key", async () => {
    const a = shardFor(env, "alice");
    expect(shardFor(env, "alice")).toEqual(a);
    expect(shardFor({ SHARD_LAYOUT: DEFAULT_LAYOUT }, "alice")).toEqual(a);
    // Keys spread over the ring.
    const used = new Set(Array.from({ length: 500 }, (_, i) => shardFor(env, `user-${i}`).id));
    expect(used.size).toBe(18);

    const res = await post("/v2/models/iris/infer", irisRequest(), { headers: { "content-type": "application/json", "x-user-id": "alice" } });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(res.headers.get("x-meridian-shard")).toBe(shardLabel(a));
    const state = await shardStub(env, a).get("alice");
    expect(state?.count).toBe(1);
    // No other shard knows alice.
    const other = shardRing().shards().find((s) => s.id !== a.id)!;
    expect(await shardStub(env, other).get("alice")).toBeNull();
  });

  it("changing one region's count moves no key of another region's shards", () => {
    const before = shardRing("weur:2,enam:2,apac:2");
    const after = shardRing("weur:2,enam:3,apac:2");
    for (let i = 0; i < 2000; i++) {
      const key = `k${i}`;
      const was = before.owner(key);
      const now = after.owner(key);
      if (now.id !== was.id) expect(now.id).toBe("enam-2");
    }
  });
});

describe("predictions with a caller key", () => {
  it("counts each caller's requests exactly under 100 parallel predictions", async () => {
    const send = () => post("/v2/models/iris/infer", irisRequest(), { headers: { "content-type": "application/json", "x-user-id": "bob" } });
    const responses = await Promise.all(Array.from({ length: 100 }, send));
    expect(responses.map((r) => r.status)).toEqual(Array(100).fill(200));
    const counts = responses.map((r) => Number(r.headers.get("x-meridian-requests"))).sort((a, b) => a - b);
    expect(counts).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(responses[0]!.headers.get("x-meridian-shard")).toBe(shardLabel(shardFor(env, "bob")));
    expect(responses[0]!.headers.get("ratelimit-limit")).toBe("600");
  });

  it("answers 429 with Retry-After past RATE_LIMIT_PER_MINUTE", async () => {
    const pop = popAt("AMS", { RATE_LIMIT_PER_MINUTE: "3" });
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 5; i++) {
      last = await pop("/v2/models/iris/infer", json(irisRequest(), { "x-user-id": "carol" }));
      statuses.push(last.status);
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    const body = await last!.json<{ error: string }>();
    expect(body.error).toMatch(/rate limit exceeded: 3 requests per minute/);
    expect(Number(last!.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(last!.headers.get("x-meridian-requests")).toBe("5");
    expect(last!.headers.get("x-meridian-shard")).toBe(shardLabel(shardFor(env, "carol")));
    // Another caller is unaffected.
    expect((await pop("/v2/models/iris/infer", json(irisRequest(), { "x-user-id": "dave" }))).status).toBe(200);
  });

  it("makes no shard call for requests without x-user-id", async () => {
    const before = (await listDurableObjectIds(env.SHARDS)).length;
    const res = await post("/v2/models/iris/infer", irisRequest());
    expect(res.status).toBe(200);
    expect(res.headers.get("x-meridian-shard")).toBeNull();
    expect(res.headers.get("x-meridian-requests")).toBeNull();
    expect((await listDurableObjectIds(env.SHARDS)).length).toBe(before);
  });
});

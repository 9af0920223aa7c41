// Per-caller state in ShardDOs: atomic read-modify-write under concurrency, the rate limit,
// home regions fixed at first contact, and a deterministic key → home → shard mapping.
import { env, listDurableObjectIds, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { REGION_HINTS, popByCode } from "../../shared/pops";
import { DEFAULT_LAYOUT, parseLayout, shardLabel, shardLayout } from "../../shared/shards";
import { DEFAULTS } from "../config";
import { shardStub } from "./shards";
import { configOf } from "../config";
import { irisRequest, post } from "../../test/edge/client";
import { json, popAt } from "../../test/edge/pop";
import { seed } from "../../test/edge/seed";

beforeAll(() => seed(["iris"]));

const stubFor = (key: string) => shardStub(env, configOf(env).shardLayout.owner(key, "weur"));
/** The shard a key lives on once its home is `home`, as a header names it. */
const labelFor = (key: string, home: Parameters<ReturnType<typeof shardLayout>["owner"]>[1]) => shardLabel(shardLayout().owner(key, home));
const predictAt = (colo: string, key: string, vars = {}) => popAt(colo, vars)("/v2/models/iris/infer", json(irisRequest(), { "x-user-id": key }));
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

  it("deletes keys idle past the TTL in its daily alarm, and keeps the rest", async () => {
    const stub = shardStub(env, { id: "expiry-test", region: "weur" });
    await stub.touch("idle-user", { limit: 0, windowMs: 60_000 });
    await stub.touch("active-user", { limit: 0, windowMs: 60_000 });
    // The first touch scheduled the pruning alarm, a day out.
    const alarm = await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm());
    expect(alarm! - Date.now()).toBeGreaterThan(86_000_000);
    // idle-user was last seen 31 days ago.
    await runInDurableObject(stub, (_instance, state) => {
      state.storage.sql.exec("UPDATE keys SET last_seen = ? WHERE key = ?", Date.now() - DEFAULTS.shardKeyTtlMs - 86_400_000, "idle-user");
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await stub.get("idle-user")).toBeNull();
    expect((await stub.get("active-user"))?.count).toBe(1);
    // Keys are left, so the next pruning is scheduled.
    expect(await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm())).not.toBeNull();
  });

  it("limit 0 only counts", async () => {
    const stub = stubFor("unlimited-user");
    for (let i = 0; i < 3; i++) expect((await stub.touch("unlimited-user", { limit: 0, windowMs: 60_000 })).allowed).toBe(true);
    expect((await stub.get("unlimited-user"))?.count).toBe(3);
  });
});

describe("shard layout", () => {
  it("defaults to two shards per region, each hinted to its region", () => {
    const layout = shardLayout();
    expect(layout.shards).toHaveLength(REGION_HINTS.length * 2);
    for (const s of layout.shards) expect(s.id).toMatch(new RegExp(`^${s.region}-[01]$`));
    expect(layout.regions().sort()).toEqual([...REGION_HINTS].sort());
    expect(parseLayout(DEFAULT_LAYOUT)).toHaveLength(18);
    expect(parseLayout("weur:2,enam")).toEqual([
      { id: "weur-0", region: "weur" },
      { id: "weur-1", region: "weur" },
      { id: "enam-0", region: "enam" },
    ]);
    expect(() => parseLayout("mars:1")).toThrow(/mars/);
  });

  it("keys spread over their home region's shards only, the same way every time", () => {
    const layout = shardLayout();
    for (const home of REGION_HINTS) {
      const used = new Set(Array.from({ length: 200 }, (_, i) => layout.owner(`user-${i}`, home)));
      expect([...used].map((s) => s.id).sort()).toEqual([`${home}-0`, `${home}-1`]);
    }
    expect(layout.owner("alice", "apac")).toEqual(shardLayout(DEFAULT_LAYOUT).owner("alice", "apac"));
  });

  it("a new key's home: the PoP's region, else the nearest region that is up and holds shards", () => {
    const layout = shardLayout();
    expect(layout.homeFor(popByCode("SYD")!)).toBe("oc");
    expect(layout.homeFor(popByCode("FRA")!, (r) => r !== "weur")).toBe("eeur");
    expect(layout.homeFor(popByCode("FRA")!, () => false)).toBeUndefined();
    expect(layout.homeFor(undefined, (r) => r !== "wnam")).toBe("enam"); // nowhere known: layout order
    // A region with no shards in the layout: the nearest one that has some.
    expect(shardLayout("weur:2,enam:2").homeFor(popByCode("JNB")!)).toBe("weur");
    expect(shardLayout("weur:2,enam:2").homeFor(popByCode("GRU")!)).toBe("enam");
    // A home whose region lost its shards maps onto the nearest remaining region's ring.
    expect(shardLayout("weur:2,enam:2").owner("k", "eeur").region).toBe("weur");
  });

  it("changing one region's count moves no key of another region", () => {
    const before = shardLayout("weur:2,enam:2,apac:2");
    const after = shardLayout("weur:2,enam:3,apac:2");
    for (let i = 0; i < 2000; i++) {
      for (const home of ["weur", "enam", "apac"] as const) {
        const was = before.owner(`k${i}`, home);
        const now = after.owner(`k${i}`, home);
        if (now.id !== was.id) expect(now.id).toBe("enam-2");
      }
    }
  });
});

describe("home regions", () => {
  it("a key first seen in Europe lives on a weur shard, and only there", async () => {
    const res = await predictAt("FRA", "alice");
    expect(res.status, await res.clone().text()).toBe(200);
    expect(res.headers.get("x-meridian-shard")).toBe(labelFor("alice", "weur"));
    const owner = configOf(env).shardLayout.owner("alice", "weur");
    expect((await shardStub(env, owner).get("alice"))?.count).toBe(1);
    for (const other of configOf(env).shardLayout.shards.filter((s) => s.id !== owner.id)) {
      expect(await shardStub(env, other).get("alice"), other.id).toBeNull();
    }
  });

  it("the home is fixed at first contact: the caller's state follows them to other PoPs", async () => {
    expect((await predictAt("SYD", "traveller")).headers.get("x-meridian-shard")).toBe(labelFor("traveller", "oc"));
    for (const [i, colo] of ["FRA", "IAD", "SIN", "SYD"].entries()) {
      const res = await predictAt(colo, "traveller");
      expect(res.headers.get("x-meridian-shard"), colo).toBe(labelFor("traveller", "oc"));
      expect(res.headers.get("x-meridian-requests")).toBe(String(i + 2));
    }
  });

  it("concurrent first contacts on three continents agree on one home; no request is lost", async () => {
    const colos = ["FRA", "SIN", "GRU"];
    const responses = await Promise.all(Array.from({ length: 30 }, (_, i) => predictAt(colos[i % 3]!, "everywhere")));
    expect(responses.map((r) => r.status)).toEqual(Array(30).fill(200));
    expect(new Set(responses.map((r) => r.headers.get("x-meridian-shard"))).size).toBe(1);
    const counts = responses.map((r) => Number(r.headers.get("x-meridian-requests"))).sort((a, b) => a - b);
    expect(counts).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
  });

  it("a PoP whose own region is down homes new keys in the nearest region up", async () => {
    const res = await predictAt("FRA", "new-in-frankfurt", { DOWN_REGIONS: "weur" });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(res.headers.get("x-meridian-shard")).toBe(labelFor("new-in-frankfurt", "eeur"));
  });

  it("a home unused for the TTL is deleted by its alarm; a later claim starts afresh", async () => {
    const stub = env.HOMES.get(env.HOMES.idFromName("expiring-home"));
    expect(await stub.claim("weur")).toBe("weur");
    expect(await stub.claim("oc")).toBe("weur"); // the first claim wins
    expect(await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm())).toBeGreaterThan(Date.now() + DEFAULTS.shardKeyTtlMs - 60_000);
    // Still in use: the alarm only moves on.
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await stub.claim("oc")).toBe("weur");
    // Unused for longer than the TTL: deleted.
    await runInDurableObject(stub, (_instance, state) => {
      state.storage.sql.exec("UPDATE home SET last_seen = ?", Date.now() - DEFAULTS.shardKeyTtlMs - 1000);
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await stub.claim("oc")).toBe("oc");
  });

  it("a pinned home (a key with feature values) outlives the TTL; a home from before pinning gains the column", async () => {
    const stub = env.HOMES.get(env.HOMES.idFromName("pinned-home"));
    expect(await stub.claim("weur")).toBe("weur");
    expect(await stub.claim("oc", true)).toBe("weur");
    expect(await stub.claim("oc")).toBe("weur"); // a later plain claim does not unpin it
    await runInDurableObject(stub, (_instance, state) => {
      state.storage.sql.exec("UPDATE home SET last_seen = ?", Date.now() - DEFAULTS.shardKeyTtlMs - 1000);
    });
    await runDurableObjectAlarm(stub);
    expect(await stub.lookup()).toBe("weur");

    const old = env.HOMES.get(env.HOMES.idFromName("home-before-pinning"));
    await runInDurableObject(old, (_instance, state) => {
      state.storage.sql.exec("CREATE TABLE home (region TEXT NOT NULL, claimed_at INTEGER NOT NULL, last_seen INTEGER NOT NULL)");
      state.storage.sql.exec("INSERT INTO home VALUES ('apac', 1, 1)");
    });
    expect(await old.claim("weur", true)).toBe("apac");
    await runInDurableObject(old, (_instance, state) => state.storage.sql.exec("UPDATE home SET last_seen = 1"));
    await runDurableObjectAlarm(old);
    expect(await old.lookup()).toBe("apac");
  });

  it("with every region down here, caller state is unavailable: 503 with Retry-After", async () => {
    const res = await predictAt("FRA", "nowhere", { DOWN_REGIONS: REGION_HINTS.join(",") });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("5");
    expect((await res.json<{ error: string }>()).error).toMatch(/caller state is unavailable: no region is up to hold it/);
  });
});

describe("predictions with a caller key", () => {
  it("counts each caller's requests exactly under 100 parallel predictions", async () => {
    const send = () => post("/v2/models/iris/infer", irisRequest(), { headers: { "content-type": "application/json", "x-user-id": "bob" } });
    const responses = await Promise.all(Array.from({ length: 100 }, send));
    expect(responses.map((r) => r.status)).toEqual(Array(100).fill(200));
    const counts = responses.map((r) => Number(r.headers.get("x-meridian-requests"))).sort((a, b) => a - b);
    expect(counts).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(new Set(responses.map((r) => r.headers.get("x-meridian-shard"))).size).toBe(1);
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
    expect(last!.headers.get("x-meridian-shard")).toBe(labelFor("carol", "weur")); // AMS is in weur
    // Another caller is unaffected.
    expect((await pop("/v2/models/iris/infer", json(irisRequest(), { "x-user-id": "dave" }))).status).toBe(200);
  });

  it("makes no shard or home call for requests without x-user-id", async () => {
    const before = (await listDurableObjectIds(env.SHARDS)).length;
    const homes = (await listDurableObjectIds(env.HOMES)).length;
    const res = await post("/v2/models/iris/infer", irisRequest());
    expect(res.status).toBe(200);
    expect(res.headers.get("x-meridian-shard")).toBeNull();
    expect(res.headers.get("x-meridian-requests")).toBeNull();
    expect((await listDurableObjectIds(env.SHARDS)).length).toBe(before);
    expect((await listDurableObjectIds(env.HOMES)).length).toBe(homes);
  });
});

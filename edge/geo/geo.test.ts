// Geography: the circuit breaker and retry budget (fake clock), nearest-healthy-peer routing,
// and failover between PoPs with injected faults (a peer that errors, hangs, or is slow).
import { env } from "cloudflare:test";
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import type { Env } from "../env";
import { popByCode } from "../../shared/pops";
import { DEFAULTS } from "../config";
import { CircuitBreaker, RetryBudget, withRetries } from "./breaker";
import { HOP_HEADER } from "./forward";
import { locate, parsePeers, rankPeers } from "./peers";
import { irisRequest } from "../../test/edge/client";
import { json, popAt } from "../../test/edge/pop";
import { admin, fixture, seed } from "../../test/edge/seed";

describe("circuit breaker", () => {
  const clock = () => {
    let t = 1_000;
    return { now: () => t, advance: (ms: number) => void (t += ms) };
  };

  it("opens after K failures within the window, half-opens after the cooldown, closes on success", () => {
    const c = clock();
    const b = new CircuitBreaker({ failures: 3, windowMs: 1_000, cooldownMs: 5_000 }, c.now);
    b.failure();
    b.failure();
    expect(b.state).toBe("closed");
    b.failure();
    expect(b.state).toBe("open");
    expect(b.allow()).toBe(false);
    expect(b.retryInMs()).toBe(5_000);
    c.advance(4_999);
    expect(b.allow()).toBe(false);
    c.advance(1);
    expect(b.state).toBe("half-open");
    expect(b.allow()).toBe(true); // the probe
    expect(b.allow()).toBe(false); // only one at a time
    expect(b.available()).toBe(false);
    b.success();
    expect(b.state).toBe("closed");
    expect(b.allow()).toBe(true);
  });

  it("reopens when the probe fails, with a fresh cooldown", () => {
    const c = clock();
    const b = new CircuitBreaker({ failures: 1, windowMs: 1_000, cooldownMs: 100 }, c.now);
    b.failure();
    c.advance(100);
    expect(b.allow()).toBe(true);
    b.failure();
    expect(b.state).toBe("open");
    c.advance(99);
    expect(b.state).toBe("open");
    c.advance(1);
    expect(b.state).toBe("half-open");
  });

  it("a health check closes only a breaker a health check opened", () => {
    const c = clock();
    const opts = { failures: 1, windowMs: 1_000, cooldownMs: 5_000 };
    const byProbe = new CircuitBreaker(opts, c.now);
    byProbe.trip();
    byProbe.recover();
    expect(byProbe.state).toBe("closed");
    // Live traffic opened it; a probe then finds it not ready, then ready (a flap): still open.
    const byTraffic = new CircuitBreaker(opts, c.now);
    byTraffic.failure();
    byTraffic.trip();
    byTraffic.recover();
    expect(byTraffic.state).toBe("open");
    // Opened by a probe, then a live half-open call failed: live traffic owns it now.
    const both = new CircuitBreaker(opts, c.now);
    both.trip();
    c.advance(5_000);
    expect(both.allow()).toBe(true);
    both.failure();
    both.recover();
    expect(both.state).toBe("open");
  });

  it("forgets failures older than the window", () => {
    const c = clock();
    const b = new CircuitBreaker({ failures: 3, windowMs: 1_000, cooldownMs: 100 }, c.now);
    b.failure();
    b.failure();
    c.advance(1_000);
    b.failure();
    expect(b.state).toBe("closed");
    b.failure();
    b.failure();
    expect(b.state).toBe("open");
  });

  it("a success in between resets the count", () => {
    const b = new CircuitBreaker({ failures: 2, windowMs: 1_000, cooldownMs: 100 }, () => 0);
    b.failure();
    b.success();
    b.failure();
    expect(b.state).toBe("closed");
  });
});

describe("retries", () => {
  it("retry budget: floor + 10% of calls per window", () => {
    let t = 0;
    const budget = new RetryBudget({ ratio: 0.1, floor: 2, windowMs: 1_000 }, () => t);
    for (let i = 0; i < 30; i++) budget.call();
    const granted = Array.from({ length: 10 }, () => budget.tryRetry()).filter(Boolean).length;
    expect(granted).toBe(5); // 2 + 0.1 × 30
    t += 1_000;
    expect(budget.tryRetry()).toBe(true); // a new window
  });

  it("retries idempotent calls until success, within attempts", async () => {
    const budget = new RetryBudget(DEFAULTS.retryBudget);
    let n = 0;
    const result = await withRetries(async () => (++n < 3 ? "fail" : "ok"), { attempts: 5, budget, idempotent: true, retryable: (r) => r === "fail" });
    expect([result, n]).toEqual(["ok", 3]);
    n = 0;
    await expect(withRetries(async () => { n++; throw new Error("down"); }, { attempts: 3, budget, idempotent: true })).rejects.toThrow("down");
    expect(n).toBe(3);
  });

  it("never retries a call that is not idempotent", async () => {
    let n = 0;
    const result = await withRetries(async () => (n++, "fail"), { attempts: 5, budget: new RetryBudget(DEFAULTS.retryBudget), idempotent: false, retryable: () => true });
    expect([result, n]).toEqual(["fail", 1]);
  });

  it("stops when the budget is spent", async () => {
    const budget = new RetryBudget({ ratio: 0, floor: 1, windowMs: 60_000 });
    let n = 0;
    await withRetries(async () => (n++, "fail"), { attempts: 5, budget, idempotent: true, retryable: () => true });
    expect(n).toBe(2); // the first attempt and the one retry the budget allows
  });
});

const PEERS = [
  { colo: "IAD", url: "http://iad.peer" },
  { colo: "LHR", url: "http://lhr.peer" },
  { colo: "AMS", url: "http://ams.peer" },
  { colo: "SIN", url: "http://sin.peer" },
];

describe("router", () => {
  const peers = parsePeers(JSON.stringify(PEERS));

  it("reads PEERS with coordinates from the catalogue, or given ones", () => {
    expect(peers.find((p) => p.colo === "AMS")).toMatchObject({ lat: popByCode("AMS")!.lat, lon: popByCode("AMS")!.lon, region: "weur" });
    expect(parsePeers(JSON.stringify([{ colo: "x1", url: "http://x/", lat: 1, lon: 2 }]))).toEqual([{ colo: "X1", url: "http://x", lat: 1, lon: 2, region: undefined }]);
    expect(() => parsePeers(JSON.stringify([{ colo: "ZZZ", url: "http://z" }]))).toThrow(/ZZZ/);
    expect(() => parsePeers(JSON.stringify([{ colo: "AMS", url: "not a url" }]))).toThrow(/url/);
    expect(parsePeers(undefined)).toEqual([]);
  });

  it("picks the nearest peer by great-circle distance and skips unhealthy ones", () => {
    const paris = { lat: 48.8566, lon: 2.3522 };
    expect(rankPeers(paris, "CDG", peers).map((p) => p.colo)).toEqual(["LHR", "AMS", "IAD", "SIN"]);
    expect(rankPeers(paris, "CDG", peers, (p) => p.colo !== "LHR")[0]?.colo).toBe("AMS");
    expect(rankPeers({ lat: -33.87, lon: 151.21 }, "SYD", peers)[0]?.colo).toBe("SIN");
    expect(rankPeers({ lat: 40.71, lon: -74.0 }, "JFK", peers)[0]?.colo).toBe("IAD");
    expect(rankPeers(paris, "CDG", peers, () => false)).toEqual([]);
  });

  it("never picks this PoP itself", () => {
    expect(rankPeers(popByCode("AMS"), "ams", peers).map((p) => p.colo)).toEqual(["LHR", "IAD", "SIN"]);
  });

  it("measures from this PoP, else the client's coordinates, else its country, else its continent", () => {
    expect(locate("FRA", { latitude: "1", longitude: "2" })).toMatchObject({ lat: popByCode("FRA")!.lat });
    expect(locate("local", { latitude: "-33.9", longitude: "151.2", continent: "OC" })).toEqual({ lat: -33.9, lon: 151.2 });
    expect(locate("local", { country: "JP", continent: "AS" })).toMatchObject({ country: "JP" });
    // The US spans two regions: its continent's hub, not an arbitrary US PoP.
    expect(locate("local", { country: "US", continent: "NA" })).toMatchObject({ code: "IAD" });
    expect(locate("local", { country: "XX", continent: "SA" })).toMatchObject({ code: "GRU" });
    expect(locate("local", { continent: "SA" })).toMatchObject({ code: "GRU" });
    expect(locate("local", undefined)).toBeUndefined();
  });
});

// --- Failover between PoPs ---------------------------------------------------------------------
// This PoP (FRA) plays against fake peers reached through fetch, which the test replaces: each
// peer answers, fails with a 500, never answers, or answers late. "ghost" is a model FRA cannot
// load (its SIGNING_PUBLIC_KEYS trust no key), so FRA answers 503 and fails over.

type Behaviour = "ok" | "error" | "hang" | { delayMs: number };
const behaviour = new Map<string, Behaviour>();
const calls: Array<{ colo: string; hop: string | null; body: string; user: string | null }> = [];
const realPeers = new Map<string, (req: Request) => Promise<Response>>();
/** How each peer answers health probes (GET /v2/health/ready); "ok" unless set. */
const health = new Map<string, "ok" | "unready" | "hang">();
const probes: string[] = [];

function fakePeers(): void {
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const req = new Request(input, init);
    const colo = new URL(req.url).hostname.split(".")[0]!.toUpperCase();
    if (new URL(req.url).pathname === "/v2/health/ready") {
      probes.push(colo);
      const h = health.get(colo) ?? "ok";
      if (h === "hang") await new Promise((_, reject) => init?.signal?.addEventListener("abort", () => reject(init.signal!.reason)));
      return h === "ok" ? Response.json({ ready: true }) : Response.json({ error: "not ready" }, { status: 503 });
    }
    const body = await req.clone().text();
    calls.push({ colo, hop: req.headers.get(HOP_HEADER), body, user: req.headers.get("x-user-id") });
    const real = realPeers.get(colo);
    if (real) return real(req);
    const b = behaviour.get(colo) ?? "ok";
    if (b === "error") return Response.json({ error: "boom" }, { status: 500 });
    if (b === "hang" || typeof b === "object") {
      const signal = init?.signal;
      await new Promise<void>((resolve, reject) => {
        const timer = typeof b === "object" ? setTimeout(resolve, b.delayMs) : undefined;
        signal?.addEventListener("abort", () => {
          if (timer) clearTimeout(timer);
          reject(signal.reason);
        });
      });
    }
    const id = (JSON.parse(body) as { id?: string }).id;
    return Response.json(
      { model_name: "ghost", model_version: "1", id, outputs: [] },
      { headers: { "x-meridian-pop": colo, "x-meridian-route": "local" } },
    );
  });
}

/** Fresh fake peers for each test. */
function resetPeers(): void {
  behaviour.clear();
  realPeers.clear();
  health.clear();
  calls.length = 0;
  probes.length = 0;
  fakePeers();
}

async function seedGhost(): Promise<void> {
  await seed(["iris"]);
  const base = fixture("iris");
  if (!(await admin().model("ghost"))) await admin().publish({ ...base.manifest, name: "ghost" }, base.bytes, env.TEST_SIGNING_KEY, { promote: true });
}

const FAST = { BREAKER_FAILURES: "3", BREAKER_COOLDOWN_MS: "300", PEER_TIMEOUT_MS: "150" };
/** A PoP with active health checks off unless asked for: these tests drive breakers by traffic alone. */
const at = (colo: string, vars: Partial<Env> = {}) => popAt(colo, { HEALTH_INTERVAL_MS: "0", ...vars });
const peersJson = (...colos: string[]) => JSON.stringify(PEERS.filter((p) => colos.includes(p.colo)));
const cannotLoad = { SIGNING_PUBLIC_KEYS: "" };
const ask = (headers: Record<string, string> = {}) => json(irisRequest(undefined, { id: "req-1" }), headers);
const coloOf = (res: Response) => [res.headers.get("x-meridian-pop"), res.headers.get("x-meridian-route")];

describe("failover", () => {
  beforeAll(seedGhost);
  beforeEach(resetPeers);
  afterEach(() => vi.restoreAllMocks());

  it("serves locally when it can, without calling any peer", async () => {
    const fra = at("FRA", { PEERS: peersJson("AMS", "LHR") });
    const res = await fra("/v2/models/iris/infer", ask());
    expect(res.status, await res.clone().text()).toBe(200);
    expect(coloOf(res)).toEqual(["FRA", "local"]);
    expect(calls).toEqual([]);
  });

  it("does not forward client errors (a 404 stays a 404)", async () => {
    const fra = at("FRA", { PEERS: peersJson("AMS", "LHR") });
    const res = await fra("/v2/models/nope/infer", ask());
    expect(res.status).toBe(404);
    expect(calls).toEqual([]);
  });

  it("forwards to the nearest healthy peer when the model cannot be loaded here", async () => {
    const fra = at("FRA", { ...cannotLoad, PEERS: JSON.stringify(PEERS) });
    const res = await fra("/v2/models/ghost/infer", ask());
    const body = await res.json<{ id: string }>();
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(coloOf(res)).toEqual(["AMS", "forwarded"]); // AMS is nearer to FRA than LHR
    expect(res.headers.get("x-meridian-via")).toBe("FRA");
    expect(res.headers.get("x-meridian-reason")).toBe("model-unavailable");
    expect(body.id).toBe("req-1");
    expect(calls.map((c) => [c.colo, c.hop])).toEqual([["AMS", "FRA"]]);
    expect(JSON.parse(calls[0]!.body)).toEqual(irisRequest(undefined, { id: "req-1" }));
  });

  it("forwards when the caller's shard region is marked down here", async () => {
    // erin's first contact was in Washington, so her state lives in enam, which FRA sees as down.
    expect((await at("IAD")("/v2/models/iris/infer", ask({ "x-user-id": "erin" }))).status).toBe(200);
    const fra = at("FRA", { DOWN_REGIONS: "enam", PEERS: peersJson("AMS", "LHR") });
    const res = await fra("/v2/models/iris/infer", ask({ "x-user-id": "erin" }));
    expect(res.status, await res.clone().text()).toBe(200);
    expect(coloOf(res)).toEqual(["AMS", "forwarded"]);
    expect(res.headers.get("x-meridian-reason")).toBe("shard-unavailable");
    expect(calls.map((c) => [c.colo, c.user])).toEqual([["AMS", "erin"]]);
  });

  it("a peer that errors: requests fail over; its breaker opens, then closes once it recovers", async () => {
    const fra = at("FRA", { ...cannotLoad, ...FAST, PEERS: peersJson("AMS", "LHR", "IAD") });
    behaviour.set("AMS", "error");
    // K = 3 failures: each request tries AMS, fails, and retries on LHR.
    for (let i = 0; i < 3; i++) {
      const res = await fra("/v2/models/ghost/infer", ask());
      expect(res.status).toBe(200);
      expect(coloOf(res)).toEqual(["LHR", "failover"]);
    }
    expect(calls.map((c) => c.colo)).toEqual(["AMS", "LHR", "AMS", "LHR", "AMS", "LHR"]);
    // Open: AMS is not even tried.
    calls.length = 0;
    const skipped = await fra("/v2/models/ghost/infer", ask());
    expect(coloOf(skipped)).toEqual(["LHR", "failover"]);
    expect(calls.map((c) => c.colo)).toEqual(["LHR"]);
    // The fleet metrics show it: AMS's breaker open as seen from FRA, and the failed-over requests.
    const scrape = await (await fra("/metrics", { headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` } })).text();
    expect(scrape).toContain('meridian_peer_breaker_state{pop="FRA",kind="peer",peer="AMS"} 2');
    const failedOver = scrape.split("\n").filter((l) => l.startsWith("meridian_inference_requests_total{pop=\"FRA\"") && l.includes('route="failover"'));
    expect(failedOver.reduce((n, l) => n + Number(l.split(" ").at(-1)), 0)).toBe(4);
    // AMS recovers; after the cooldown one probe goes through, succeeds, and the breaker closes.
    behaviour.set("AMS", "ok");
    await new Promise((r) => setTimeout(r, 320));
    calls.length = 0;
    for (let i = 0; i < 3; i++) expect(coloOf(await fra("/v2/models/ghost/infer", ask()))).toEqual(["AMS", "forwarded"]);
    expect(calls.map((c) => c.colo)).toEqual(["AMS", "AMS", "AMS"]);
  });

  it("a failed probe reopens the breaker", async () => {
    const fra = at("FRA", { ...cannotLoad, ...FAST, PEERS: peersJson("AMS", "LHR") });
    behaviour.set("AMS", "error");
    for (let i = 0; i < 3; i++) await fra("/v2/models/ghost/infer", ask());
    await new Promise((r) => setTimeout(r, 320));
    calls.length = 0;
    expect(coloOf(await fra("/v2/models/ghost/infer", ask()))).toEqual(["LHR", "failover"]); // probe to AMS failed
    expect(coloOf(await fra("/v2/models/ghost/infer", ask()))).toEqual(["LHR", "failover"]); // open again: skipped
    expect(calls.map((c) => c.colo)).toEqual(["AMS", "LHR", "LHR"]);
  });

  it("a peer that never answers times out and the next one serves", async () => {
    const fra = at("FRA", { ...cannotLoad, ...FAST, PEERS: peersJson("AMS", "LHR") });
    behaviour.set("AMS", "hang");
    const t0 = Date.now();
    const res = await fra("/v2/models/ghost/infer", ask());
    expect(res.status).toBe(200);
    expect(coloOf(res)).toEqual(["LHR", "failover"]);
    expect(Date.now() - t0).toBeLessThan(1_000);
  });

  it("a slow peer: within the timeout it serves, beyond it the next one does", async () => {
    const fra = at("FRA", { ...cannotLoad, ...FAST, PEERS: peersJson("AMS", "LHR") });
    behaviour.set("AMS", { delayMs: 30 });
    expect(coloOf(await fra("/v2/models/ghost/infer", ask()))).toEqual(["AMS", "forwarded"]);
    behaviour.set("AMS", { delayMs: 400 });
    expect(coloOf(await fra("/v2/models/ghost/infer", ask()))).toEqual(["LHR", "failover"]);
  });

  it("skips peers in a region marked down", async () => {
    const fra = at("FRA", { ...cannotLoad, DOWN_REGIONS: "weur", PEERS: peersJson("AMS", "LHR", "IAD") });
    const res = await fra("/v2/models/ghost/infer", ask());
    expect(coloOf(res)).toEqual(["IAD", "failover"]);
    expect(calls.map((c) => c.colo)).toEqual(["IAD"]);
  });

  it("no peer can answer: 503 with Retry-After (the degraded path)", async () => {
    const fra = at("FRA", { ...cannotLoad, ...FAST, PEERS: peersJson("AMS", "LHR") });
    behaviour.set("AMS", "error");
    behaviour.set("LHR", "error");
    const res = await fra("/v2/models/ghost/infer", ask());
    const body = await res.json<{ error: string }>();
    expect(res.status).toBe(503);
    expect(body.error).toMatch(/cannot be served.*tried AMS, LHR/);
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(coloOf(res)).toEqual(["FRA", "local"]);
  });

  it("a forwarded request is never forwarded again", async () => {
    // Sent with the hop header, FRA answers itself even though it has peers.
    const fra = at("FRA", { ...cannotLoad, PEERS: peersJson("AMS", "LHR") });
    const hopped = await fra("/v2/models/ghost/infer", ask({ [HOP_HEADER]: "CDG" }));
    expect(hopped.status).toBe(503);
    expect(hopped.headers.get("x-meridian-route")).toBe("local");
    expect(calls).toEqual([]);

    // A real second PoP that cannot serve either, and lists FRA as its peer: no ping-pong.
    realPeers.set("AMS", (req) => at("AMS", { ...cannotLoad, PEERS: JSON.stringify([{ colo: "FRA", url: "http://fra.peer" }]) })(new URL(req.url).pathname, req));
    const fraToAms = at("FRA", { ...cannotLoad, PEERS: peersJson("AMS") });
    const res = await fraToAms("/v2/models/ghost/infer", ask());
    expect(res.status).toBe(503);
    expect(calls.map((c) => [c.colo, c.hop])).toEqual([["AMS", "FRA"]]);
  });
});

describe("active health checks", () => {
  beforeAll(seedGhost);
  beforeEach(resetPeers);
  afterEach(() => vi.restoreAllMocks());

  /** Any prediction request starts the due probes; a 404 keeps it local, and the test waits for them. */
  const touch = (fra: ReturnType<typeof popAt>) => fra("/v2/models/nope/infer", ask());

  it("a peer that reports not ready is skipped before any request is sent to it", async () => {
    const fra = popAt("FRA", { ...cannotLoad, ...FAST, HEALTH_INTERVAL_MS: "60000", PEERS: peersJson("AMS", "LHR") });
    health.set("AMS", "unready");
    expect((await touch(fra)).status).toBe(404);
    expect(probes.sort()).toEqual(["AMS", "LHR"]);
    const res = await fra("/v2/models/ghost/infer", ask());
    expect(coloOf(res)).toEqual(["LHR", "failover"]);
    expect(calls.map((c) => c.colo)).toEqual(["LHR"]); // AMS never saw a client request

    const ready = await fra("/v2/health/ready");
    const body = await ready.json<{ peers: { breakers: Record<string, string>; probes: Record<string, { ready: boolean; error?: string }> } }>();
    expect(body.peers.breakers.AMS).toBe("open");
    expect(body.peers.probes.AMS).toMatchObject({ ready: false, error: "HTTP 503" });
    expect(body.peers.probes.LHR).toMatchObject({ ready: true });
  });

  it("probes each peer at most once per interval, off the request path", async () => {
    const slow = popAt("FRA", { ...cannotLoad, HEALTH_INTERVAL_MS: "60000", PEERS: peersJson("AMS", "LHR") });
    for (let i = 0; i < 5; i++) await touch(slow);
    expect(probes).toHaveLength(2);
    probes.length = 0;
    const fast = popAt("FRA", { ...cannotLoad, HEALTH_INTERVAL_MS: "50", PEERS: peersJson("AMS", "LHR") });
    await touch(fast);
    await new Promise((r) => setTimeout(r, 60));
    await touch(fast);
    expect(probes).toHaveLength(4);
  });

  it("a peer that recovers is used again as soon as a probe finds it ready", async () => {
    const fra = popAt("FRA", { ...cannotLoad, BREAKER_COOLDOWN_MS: "60000", HEALTH_INTERVAL_MS: "100", PEERS: peersJson("AMS", "LHR") });
    health.set("AMS", "unready");
    await touch(fra);
    expect(coloOf(await fra("/v2/models/ghost/infer", ask()))).toEqual(["LHR", "failover"]);
    health.set("AMS", "ok");
    await new Promise((r) => setTimeout(r, 120));
    await touch(fra); // the probe closes AMS's breaker long before its 60 s cooldown
    expect(coloOf(await fra("/v2/models/ghost/infer", ask()))).toEqual(["AMS", "forwarded"]);
  });

  it("never runs two probes of one peer at once, even with an interval shorter than the timeout", async () => {
    const fra = popAt("FRA", { ...cannotLoad, HEALTH_INTERVAL_MS: "10", PEER_TIMEOUT_MS: "300", PEERS: peersJson("AMS") });
    health.set("AMS", "hang");
    const first = touch(fra); // its probe hangs until the timeout
    await new Promise((r) => setTimeout(r, 50));
    await fra("/v2/models/nope/infer", ask()); // interval passed, probe still in flight: no second one
    await first;
    expect(probes).toEqual(["AMS"]);
  });

  it("a ready answer does not let back a peer that live traffic found failing", async () => {
    const fra = popAt("FRA", { ...cannotLoad, ...FAST, BREAKER_COOLDOWN_MS: "60000", HEALTH_INTERVAL_MS: "50", PEERS: peersJson("AMS", "LHR") });
    behaviour.set("AMS", "error"); // its predictions fail while its readiness says ready
    for (let i = 0; i < 3; i++) await fra("/v2/models/ghost/infer", ask()); // K = 3: AMS's breaker opens
    await new Promise((r) => setTimeout(r, 60));
    await touch(fra); // probes again: AMS answers ready
    calls.length = 0;
    expect(coloOf(await fra("/v2/models/ghost/infer", ask()))).toEqual(["LHR", "failover"]);
    expect(calls.map((c) => c.colo)).toEqual(["LHR"]);
  });

  it("a probe that gets no answer within the timeout counts as not ready", async () => {
    const fra = popAt("FRA", { ...cannotLoad, PEER_TIMEOUT_MS: "150", HEALTH_INTERVAL_MS: "60000", PEERS: peersJson("AMS", "LHR") });
    health.set("AMS", "hang");
    const t0 = Date.now();
    await touch(fra);
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(coloOf(await fra("/v2/models/ghost/infer", ask()))).toEqual(["LHR", "failover"]);
    expect(calls.map((c) => c.colo)).toEqual(["LHR"]);
  });
});

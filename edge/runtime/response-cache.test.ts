// The response cache inside workerd: identical requests are answered without running the model
// (JSON and binary alike), a new version never sees an old version's entries, pinned and canary
// requests get their own version's answers, the PoP-wide copy (Cache API) is found by a fresh
// isolate cache, and hits and misses are counted.
import { env } from "cloudflare:test";
import { beforeAll, describe, expect, inject, it } from "vitest";
import type { OutputTensor } from "../../shared/oip";
import { IRIS_ROWS, get, inferBinary, outputBytes } from "../../test/edge/client";
import { admin, fixture, seed } from "../../test/edge/seed";
import { ort } from "./ort";
import { ResponseCache, cacheKey } from "./response-cache";

beforeAll(() => seed([]));

const rows = (r: number[][]) => ({ name: "measurements", datatype: "FP32" as const, shape: [r.length, 4], values: Float32Array.from(r.flat()) });
const cacheOf = (res: Response) => res.headers.get("x-meridian-cache");

async function publishCached(name: string, bytes?: Uint8Array): Promise<number> {
  const base = fixture("iris");
  const m = await admin().publish({ ...base.manifest, name, ...(bytes ? { sha256: await sha256(bytes), size: bytes.byteLength } : {}), serving: { cache: { enabled: true } } }, bytes ?? base.bytes, env.TEST_SIGNING_KEY, { promote: false });
  return m.version;
}

async function sha256(bytes: Uint8Array): Promise<string> {
  return Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
}

describe("response cache", () => {
  it("answers an identical request from the isolate, JSON or binary alike; other inputs and opting out run the model", async () => {
    await admin().promote("iris-cached", await publishCached("iris-cached"), null);
    const path = "/v2/models/iris-cached/infer";
    const first = await inferBinary(path, [rows(IRIS_ROWS)]);
    expect(cacheOf(first.res)).toBe("miss");
    expect(first.res.headers.get("x-meridian-batch-rows")).toBeNull();
    const again = await inferBinary(path, [rows(IRIS_ROWS)], { json: true });
    expect(cacheOf(again.res)).toBe("hit-isolate");
    expect(outputBytes(again.result, "probabilities")).toEqual(outputBytes(first.result, "probabilities"));
    expect(cacheOf((await inferBinary(path, [rows([IRIS_ROWS[0]!])])).res)).toBe("miss");
    expect(cacheOf((await inferBinary(path, [rows(IRIS_ROWS)], { parameters: { cache: false } })).res)).toBe("bypass");
    // The same model without the setting never caches, unless a request asks.
    await admin().publish({ ...fixture("iris").manifest, name: "iris-plain" }, fixture("iris").bytes, env.TEST_SIGNING_KEY, { promote: true });
    expect(cacheOf((await inferBinary("/v2/models/iris-plain/infer", [rows(IRIS_ROWS)])).res)).toBe("bypass");
    await inferBinary("/v2/models/iris-plain/infer", [rows(IRIS_ROWS)], { parameters: { cache: true } });
    expect(cacheOf((await inferBinary("/v2/models/iris-plain/infer", [rows(IRIS_ROWS)], { parameters: { cache: true } })).res)).toBe("hit-isolate");
    const bad = await inferBinary(path, [rows(IRIS_ROWS)], { parameters: { cache: "yes" } }).catch((e: Error) => e.message);
    expect(bad).toMatch(/400 .*parameter \\"cache\\" must be true or false/);
  });

  it("never answers a version from another's entries: a promote, a pinned version and a canary each get their own", async () => {
    const name = "iris-versions";
    const v1 = await publishCached(name);
    await admin().promote(name, v1, null);
    const v2 = await publishCached(name, Uint8Array.from(atob(inject("irisV2")), (c) => c.charCodeAt(0)));
    const path = `/v2/models/${name}/infer`;
    const one = await inferBinary(path, [rows(IRIS_ROWS)]);
    expect(cacheOf((await inferBinary(path, [rows(IRIS_ROWS)])).res)).toBe("hit-isolate");

    await admin().canary(name, v2, 100, v1);
    const canary = await inferBinary(path, [rows(IRIS_ROWS)], { headers: { "x-user-id": "caller-1" } });
    expect(canary.res.headers.get("x-meridian-variant")).toBe("canary");
    expect(cacheOf(canary.res)).toBe("miss");
    expect(outputBytes(canary.result, "probabilities")).not.toEqual(outputBytes(one.result, "probabilities"));

    await admin().promote(name, v2, v1);
    const two = await inferBinary(path, [rows(IRIS_ROWS)]);
    expect(two.res.headers.get("x-meridian-model-version")).toBe(String(v2));
    expect(cacheOf(two.res)).toBe("hit-isolate"); // v2's own entry, from its canary
    expect(outputBytes(two.result, "probabilities")).toEqual(outputBytes(canary.result, "probabilities"));

    const pinned = await inferBinary(`/v2/models/${name}/versions/${v1}/infer`, [rows(IRIS_ROWS)]);
    expect(cacheOf(pinned.res)).toBe("hit-isolate");
    expect(outputBytes(pinned.result, "probabilities")).toEqual(outputBytes(one.result, "probabilities"));
  });

  it("keeps a PoP-wide copy in the Workers Cache API that a fresh isolate's cache finds", async () => {
    const feeds = { x: new ort.Tensor("float32", Float32Array.from([1, 2, 3]), [1, 3]) };
    const key = await cacheKey("ab".repeat(32), feeds, ["y"]);
    expect(key).toBe(await cacheKey("ab".repeat(32), { x: new ort.Tensor("float32", Float32Array.from([1, 2, 3]), [1, 3]) }, ["y"]));
    expect(key).not.toBe(await cacheKey("cd".repeat(32), feeds, ["y"]));
    expect(key).not.toBe(await cacheKey("ab".repeat(32), feeds, ["z"]));
    const outputs: OutputTensor[] = [
      { name: "y", datatype: "FP32", shape: [1, 2], values: Float32Array.from([0.25, 0.75]) },
      { name: "label", datatype: "INT64", shape: [1], values: BigInt64Array.from([1n]) },
    ];
    const pending: Promise<unknown>[] = [];
    new ResponseCache(1 << 20, caches.default).put(key, outputs, { ttlSeconds: 60, maxEntryBytes: 1 << 10, waitUntil: (p) => pending.push(p) });
    await Promise.all(pending);
    const fresh = new ResponseCache(1 << 20, caches.default);
    const hit = await fresh.get(key);
    expect(hit?.outcome).toBe("hit-pop");
    expect(hit!.outputs.map((o) => [o.name, o.shape, Array.from(o.values as ArrayLike<unknown>)])).toEqual([
      ["y", [1, 2], [0.25, 0.75]],
      ["label", [1], [1n]],
    ]);
    expect((await fresh.get(key))?.outcome).toBe("hit-isolate");
    expect(await new ResponseCache(1 << 20, null).get(key)).toBeNull();
  });

  it("bounds the isolate's entries by bytes, least recently used out first", async () => {
    const cache = new ResponseCache(100, null);
    const entry = (n: number): OutputTensor[] => [{ name: "y", datatype: "FP32", shape: [n], values: new Float32Array(n) }];
    const put = (k: string, n: number) => cache.put(k, entry(n), { ttlSeconds: 1, maxEntryBytes: 1000, waitUntil: () => {} });
    put("a", 10); // 40 bytes
    put("b", 10);
    await cache.get("a"); // a is now the most recent
    put("c", 10); // 120 > 100: b goes
    expect(cache.stats()).toMatchObject({ entries: 2, bytes: 80 });
    expect(await cache.get("b")).toBeNull();
    expect(await cache.get("a")).not.toBeNull();
    put("big", 200); // larger than the whole budget: not kept
    expect(await cache.get("big")).toBeNull();
  });

  it("counts hits and misses per model and version in /metrics", async () => {
    const res = await get("/metrics", { headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` } });
    const text = await res.text();
    const count = (result: string) => Number(new RegExp(`meridian_response_cache_total\\{[^}]*model="iris-cached"[^}]*result="${result}"[^}]*\\} (\\d+)`).exec(text)?.[1] ?? 0);
    expect(count("miss")).toBe(2);
    expect(count("hit-isolate")).toBe(1);
    expect(count("bypass")).toBe(1);
  });
});

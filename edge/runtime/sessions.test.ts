// The session cache: one load per key under concurrency, LRU by bytes, leases that outlive eviction.
import { describe, expect, it } from "vitest";
import "../index"; // wires ort to its .wasm, as the Worker does
import { ort, ortModuleOf, startRuntime } from "./ort";
import { DirectSession, type Run } from "./ort-direct";
import { SessionCache, type LoadedSession } from "./sessions";
import { fixture } from "../../test/edge/seed";

function loader(name: string, counter: { n: number }) {
  return async (): Promise<LoadedSession> => {
    counter.n++;
    const { bytes } = fixture(name);
    await startRuntime();
    const session = await ort.InferenceSession.create(bytes);
    const direct = DirectSession.of(ortModuleOf(), session);
    const run: Run = direct?.run ?? ((feeds, names) => session.run(feeds, [...names]));
    const release = async () => {
      direct?.dispose();
      await session.release();
    };
    return { key: name, run, release, featurizer: null, batcher: null, warmup: { requests: 0, ms: 0 }, bytes: bytes.byteLength, backend: "wasm", loadMs: 0 };
  };
}

async function runIris({ run }: LoadedSession): Promise<number> {
  const out = await run({ measurements: new ort.Tensor("float32", new Float32Array([5.1, 3.5, 1.4, 0.2]), [1, 4]) }, ["label"]);
  return Number(out.label!.data[0]);
}

describe("session cache", () => {
  it("shares one load between concurrent first requests", async () => {
    const cache = new SessionCache(1 << 20);
    const counter = { n: 0 };
    const leases = await Promise.all(Array.from({ length: 8 }, () => cache.acquire("iris", loader("iris", counter))));
    expect(counter.n).toBe(1);
    expect(new Set(leases.map((l) => l.loaded)).size).toBe(1);
    leases.forEach((l) => l.release());
    await cache.acquire("iris", loader("iris", counter)).then((l) => l.release());
    expect(counter.n).toBe(1);
  });

  it("evicts the least recently used session when over its byte budget", async () => {
    const iris = fixture("iris").bytes.byteLength;
    const int8 = fixture("iris-int8").bytes.byteLength;
    const cache = new SessionCache(iris + int8 + 10); // room for both, not three
    const counter = { n: 0 };
    for (const key of ["iris", "iris-int8"]) (await cache.acquire(key, loader(key, counter))).release();
    (await cache.acquire("iris", loader("iris", counter))).release(); // iris is now most recent
    (await cache.acquire("dtypes", loader("dtypes", counter))).release();
    expect(cache.has("iris")).toBe(true);
    expect(cache.has("iris-int8")).toBe(false);
    expect(cache.stats().bytes).toBeLessThanOrEqual(iris + int8 + 10);
  });

  it("keeps an evicted session usable until its lease ends", async () => {
    const cache = new SessionCache(1 << 20);
    const lease = await cache.acquire("iris", loader("iris", { n: 0 }));
    cache.evict("iris");
    expect(cache.has("iris")).toBe(false);
    expect(await runIris(lease.loaded)).toBe(0);
    lease.release();
    await expect(runIris(lease.loaded)).rejects.toThrow();
  });

  it("retries a failed load on the next request", async () => {
    const cache = new SessionCache(1 << 20);
    let calls = 0;
    const flaky = async (): Promise<LoadedSession> => {
      if (calls++ === 0) throw new Error("R2 unavailable");
      return loader("iris", { n: 0 })();
    };
    await expect(cache.acquire("iris", flaky)).rejects.toThrow("R2 unavailable");
    const lease = await cache.acquire("iris", flaky);
    expect(await runIris(lease.loaded)).toBe(0);
    lease.release();
  });
});

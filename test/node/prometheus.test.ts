// A real Prometheus (Debian's `prometheus`) scraping a seeded `wrangler dev`: after a known load,
// what it stored is exactly what was sent, labelled with the PoP that answered, and its latency
// histogram agrees with what the client measured.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSeeded, type DevServer } from "../../dev/local";
import { startPrometheus, type PrometheusServer } from "../../dev/prometheus";
import { LATENCY_BUCKETS } from "../../shared/metrics";
import { generateKeyPair } from "../../shared/signing";

const TOKEN = "prometheus-test-token";
const N = 300;
const CONCURRENCY = 4;
const BODY = JSON.stringify({ inputs: [{ name: "measurements", datatype: "FP32", shape: [1, 4], data: [5.1, 3.5, 1.4, 0.2] }] });
/** workerd's clock counts whole milliseconds: one request can read up to 1 ms more than it took. */
const SERVER_TICK_S = 0.001;

let server: DevServer;
let prom: PrometheusServer;
const state = mkdtempSync(join(tmpdir(), "meridian-prometheus-e2e-"));

beforeAll(async () => {
  const keys = await generateKeyPair();
  // Flushes every 500 ms instead of 10 s, so the counts reach the aggregator while we poll.
  server = await startSeeded({ stateDir: state, vars: { METRICS_FLUSH_MS: "500" }, credentials: { adminToken: TOKEN, ...keys } });
  prom = await startPrometheus({ targetUrl: server.url, token: TOKEN, scrapeIntervalS: 1 });
}, 120_000);

afterAll(async () => {
  await prom?.stop();
  await server?.stop();
  rmSync(state, { recursive: true, force: true });
});

/** The value of rank ceil(q·n) in ascending order: the rank histogram_quantile looks for. */
function quantile(sorted: number[], q: number): number {
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
}

/** The upper bound of the LATENCY_BUCKETS bucket holding v (+Inf above the last). */
const bucketTop = (v: number) => LATENCY_BUCKETS.find((b) => v <= b) ?? Infinity;

const IRIS_BUCKETS = 'sum by (le) (meridian_inference_duration_seconds_bucket{model="iris"})';

describe("Prometheus scraping the edge", () => {
  it("stores exactly the requests sent, labelled by PoP, with a p99 consistent with the client's", async () => {
    const before = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(before.status).toBe(200);
    // A fresh state dir: no iris prediction counted yet, so the sums below are this load's alone.
    expect(await before.text()).not.toMatch(/^meridian_inference_requests_total\{[^}]*model="iris"/m);

    const latencies: number[] = [];
    const pops = new Set<string>();
    let sent = 0;
    const client = async () => {
      while (sent < N) {
        sent++;
        const t0 = performance.now();
        const res = await fetch(`${server.url}/v2/models/iris/infer`, { method: "POST", headers: { "content-type": "application/json" }, body: BODY });
        await res.arrayBuffer();
        latencies.push((performance.now() - t0) / 1000);
        expect(res.status).toBe(200);
        pops.add(res.headers.get("x-meridian-pop") ?? "");
      }
    };
    const tLoad = performance.now();
    await Promise.all(Array.from({ length: CONCURRENCY }, client));
    const loadMs = performance.now() - tLoad;
    expect(latencies).toHaveLength(N);

    // Exactly N, not "at least": a lost delta or one added twice both fail. Prometheus scrapes
    // every second, and each scrape flushes the isolate that answers it.
    const tWait = performance.now();
    let total: number | undefined;
    while ((total = await prom.query('sum(meridian_inference_requests_total{model="iris"})')) !== N) {
      if (performance.now() - tWait > 30_000) {
        throw new Error(
          `Prometheus has ${total} iris requests after 30 s, ${N} sent (if someone edited edge/ meanwhile, wrangler dev ` +
            `reloaded and the old isolate's unflushed counts are gone: run again)`,
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    const waitedMs = performance.now() - tWait;
    // Counter and histogram come from the same scrape.
    expect(await prom.query('sum(meridian_inference_duration_seconds_count{model="iris"})')).toBe(N);

    // The PoP label is there, and it is the PoP that answered the client.
    const byPop = await prom.samples('sum by (pop) (meridian_inference_requests_total{model="iris"})');
    expect(pops.size).toBe(1);
    expect(byPop.map((s) => s.metric.pop)).toEqual([...pops]);
    expect([...pops][0]).toBeTruthy();

    const sorted = [...latencies].sort((a, b) => a - b);
    const clientP50 = quantile(sorted, 0.5);
    const clientP99 = quantile(sorted, 0.99);
    const clientSum = latencies.reduce((a, b) => a + b, 0);
    const serverP50 = (await prom.query(`histogram_quantile(0.5, ${IRIS_BUCKETS})`))!;
    const serverP99 = (await prom.query(`histogram_quantile(0.99, ${IRIS_BUCKETS})`))!;
    const serverSum = (await prom.query('sum(meridian_inference_duration_seconds_sum{model="iris"})'))!;
    const figures = { count: total, loadMs, waitedMs, clientP50, clientP99, clientSum, serverP50, serverP99, serverSum };
    console.log(`prometheus.test figures: ${JSON.stringify(figures)}`);

    // Upper bound. Each request's server time lies inside its client time (no network, proxy or
    // client overhead), up to one tick of workerd's millisecond clock. Pairwise smaller values
    // have smaller order statistics, so the server's true p99 (same rank, same requests) is at
    // most clientP99 + 1 tick, and falls in that value's bucket or a lower one. histogram_quantile
    // only interpolates inside the bucket, so its answer is at most that bucket's upper bound.
    expect(serverP99, JSON.stringify(figures)).toBeLessThanOrEqual(bucketTop(clientP99 + SERVER_TICK_S));
    // The same pairwise bound, summed over all N (the histogram's _sum is exact, not bucketed).
    expect(serverSum, JSON.stringify(figures)).toBeLessThanOrEqual(clientSum + N * SERVER_TICK_S);

    // Lower bound. Nothing bounds a server time from below by its client time (the overhead
    // around the Worker, queueing behind the other clients included, can be most of it), so these
    // only catch gross errors, a stopped clock or a wrong unit: the slowest 1% must be above the
    // lowest bucket (at least 4 of 300 requests read 1 ms or more), and not 100 times faster
    // than the client's median request.
    expect(serverP99, JSON.stringify(figures)).toBeGreaterThan(LATENCY_BUCKETS[0]!);
    expect(serverP99, JSON.stringify(figures)).toBeGreaterThan(clientP50 / 100);
  });
});

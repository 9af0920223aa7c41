// shared/metrics: deltas merge into the same totals in any order, the exposition is what a real
// promtool accepts, and quantiles follow Prometheus's histogram_quantile.
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { LATENCY_BUCKETS, MetricSet, MetricsError, emptySnapshot, exposition, mergeInto, quantile, type MetricSpec } from "./metrics";

const SPECS: MetricSpec[] = [
  { name: "meridian_inference_requests_total", help: "Inference requests by outcome.", type: "counter", labels: ["model", "version", "outcome"] },
  { name: "meridian_inference_duration_seconds", help: "Whole-request latency.", type: "histogram", labels: ["model", "version"] },
];
const REQ = SPECS[0]!.name;
const DUR = SPECS[1]!.name;

function counted(values: number[]): MetricSet {
  const m = new MetricSet(SPECS);
  for (const v of values) {
    m.inc(REQ, { model: "iris", version: "1", outcome: v > 0.1 ? "server_error" : "success" });
    m.observe(DUR, { model: "iris", version: "1" }, v);
  }
  return m;
}

describe("MetricSet", () => {
  it("deltas taken from isolates add up to the totals of one set, in any order", () => {
    // Multiples of 2^-11: their sums are exact in any order, so totals compare with toEqual.
    const values = Array.from({ length: 300 }, (_, i) => ((i * 7919) % 1000) / 2048);
    const whole = counted(values).snapshot();
    const parts = [values.slice(0, 100), values.slice(100, 250), values.slice(250)].map((v) => counted(v).take());
    for (const order of [[0, 1, 2], [2, 0, 1], [1, 2, 0]]) {
      const total = emptySnapshot();
      for (const i of order) mergeInto(total, parts[i]!);
      expect(total).toEqual(whole);
    }
  });

  it("take() hands over what was counted and starts afresh", () => {
    const m = counted([0.001, 0.2]);
    expect(m.take().counters[REQ]).toEqual({ '["iris","1","success"]': 1, '["iris","1","server_error"]': 1 });
    expect(m.empty).toBe(true);
    m.inc(REQ, { model: "iris", version: "2", outcome: "success" });
    expect(Object.keys(m.take().counters[REQ]!)).toEqual(['["iris","2","success"]']);
  });

  it("gauges merge by keeping the later value, whatever order the reports arrive in", () => {
    const specs: MetricSpec[] = [{ name: "meridian_pointer_seq", help: "Seq served.", type: "gauge", labels: ["model"] }];
    const early = new MetricSet(specs);
    const late = new MetricSet(specs);
    early.set("meridian_pointer_seq", { model: "iris" }, 3, 1000);
    late.set("meridian_pointer_seq", { model: "iris" }, 5, 2000);
    for (const order of [[early, late], [late, early]]) {
      const total = emptySnapshot();
      for (const m of order) mergeInto(total, m.snapshot());
      expect(total.gauges!["meridian_pointer_seq"]!['["iris"]']).toEqual({ value: 5, at: 2000 });
    }
    expect(exposition(specs, [{ labels: { pop: "FRA" }, snapshot: late.snapshot() }])).toContain('meridian_pointer_seq{pop="FRA",model="iris"} 5');
  });

  it("refuses a metric it was not given, or of the other type", () => {
    const m = new MetricSet(SPECS);
    expect(() => m.inc("nope_total", {})).toThrow(MetricsError);
    expect(() => m.observe(REQ, {}, 1)).toThrow(/no histogram named/);
  });

  it("puts a value on a bucket's upper bound into that bucket (le is inclusive)", () => {
    const m = new MetricSet(SPECS);
    m.observe(DUR, { model: "m", version: "1" }, 0.006);
    m.observe(DUR, { model: "m", version: "1" }, 99);
    const h = m.snapshot().histograms[DUR]!['["m","1"]']!;
    expect(h.counts[LATENCY_BUCKETS.indexOf(0.006)]).toBe(1);
    expect(h.counts.at(-1)).toBe(1);
    expect(h.count).toBe(2);
  });
});

describe("exposition", () => {
  const text = () => {
    const fra = counted([0.0004, 0.003, 0.003, 0.04, 0.7]).snapshot();
    const iad = counted([0.002]).snapshot();
    return exposition(SPECS, [
      { labels: { pop: "FRA" }, snapshot: fra },
      { labels: { pop: 'I"A\\D\n' }, snapshot: iad },
    ]);
  };

  it("renders counters, cumulative buckets, sum and count per source", () => {
    const out = text();
    expect(out).toContain('meridian_inference_requests_total{pop="FRA",model="iris",version="1",outcome="success"} 4');
    expect(out).toContain('meridian_inference_duration_seconds_bucket{pop="FRA",model="iris",version="1",le="0.006"} 3');
    expect(out).toContain('meridian_inference_duration_seconds_bucket{pop="FRA",model="iris",version="1",le="+Inf"} 5');
    expect(out).toContain('meridian_inference_duration_seconds_count{pop="FRA",model="iris",version="1"} 5');
    expect(out).toContain('pop="I\\"A\\\\D\\n"');
  });

  it("is accepted by promtool check metrics (the Debian prometheus package)", () => {
    const run = spawnSync("promtool", ["check", "metrics"], { input: text(), encoding: "utf8" });
    if (run.error) throw new Error(`promtool is needed (apt-get install prometheus): ${run.error.message}`);
    expect(run.status, `${run.stdout}${run.stderr}`).toBe(0);
    expect(`${run.stdout}${run.stderr}`.trim()).toBe("");
  });
});

describe("quantile", () => {
  it("interpolates inside the bucket, as histogram_quantile does", () => {
    const m = new MetricSet(SPECS);
    for (let i = 0; i < 100; i++) m.observe(DUR, { model: "m", version: "1" }, i < 50 ? 0.0007 : 0.02);
    const h = m.snapshot().histograms[DUR]!['["m","1"]']!;
    // 50 in (0.0005, 0.001], 50 in (0.015, 0.025]
    expect(quantile(0.25, h)).toBeCloseTo(0.0005 + 0.0005 * 0.5, 12);
    expect(quantile(0.99, h)).toBeCloseTo(0.015 + 0.01 * (49 / 50), 12);
    expect(quantile(0.5, { counts: new Array(LATENCY_BUCKETS.length + 1).fill(0), sum: 0, count: 0 })).toBeNaN();
  });
});

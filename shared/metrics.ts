// Metric series kept as plain numbers, so that what an isolate counted since its last report (a
// delta) and what an aggregator holds (the totals) merge in any order: counters and histograms
// with fixed bucket bounds by addition, gauges by keeping the latest value. Rendered in the
// Prometheus text exposition format. Pure.

/**
 * Latency bounds in seconds: 0.1 ms (a small model's session.run) to 10 s, about 1.5× apart
 * where requests fall: a rollout's p99 gate counts requests in buckets wholly above its limit, so
 * the steps bound how small a slowdown it can see.
 */
export const LATENCY_BUCKETS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0015, 0.0025, 0.004, 0.006, 0.01, 0.015, 0.025, 0.04, 0.06, 0.1, 0.15, 0.25, 0.4, 0.6, 1, 2.5, 5, 10,
];

export interface MetricSpec {
  /** Prometheus conventions: `_total` for counters, the unit (`_seconds`) for histograms. */
  name: string;
  help: string;
  type: "counter" | "histogram" | "gauge";
  /** Label names, in the order series keys list their values. */
  labels: readonly string[];
  /** Upper bounds of a histogram's buckets (+Inf is implied). */
  buckets?: readonly number[];
}

export type Labels = Record<string, string>;

export interface HistogramValue {
  /** Per bucket, not cumulative; one more than the bounds (the last is +Inf). */
  counts: number[];
  sum: number;
  count: number;
}

/** A gauge's value and when it was set (ms since the epoch): of two, the later one wins. */
export interface GaugeValue {
  value: number;
  at: number;
}

/** Series by metric name, then by series key (the label values, in the spec's order). */
export interface Snapshot {
  counters: Record<string, Record<string, number>>;
  histograms: Record<string, Record<string, HistogramValue>>;
  /** Absent in snapshots stored before gauges existed. */
  gauges?: Record<string, Record<string, GaugeValue>>;
}

export class MetricsError extends Error {
  override name = "MetricsError";
}

export const emptySnapshot = (): Snapshot => ({ counters: {}, histograms: {}, gauges: {} });

export class MetricSet {
  private readonly specs: Map<string, MetricSpec>;
  private data = emptySnapshot();

  constructor(
    specs: readonly MetricSpec[],
    /** A disabled set counts nothing: every call returns at once. */
    private readonly enabled = true,
  ) {
    this.specs = new Map(specs.map((s) => [s.name, s]));
  }

  inc(name: string, labels: Labels, by = 1): void {
    if (!this.enabled) return;
    const spec = this.spec(name, "counter");
    const series = (this.data.counters[name] ??= {});
    const key = seriesKey(spec, labels);
    series[key] = (series[key] ?? 0) + by;
  }

  observe(name: string, labels: Labels, value: number): void {
    if (!this.enabled) return;
    const spec = this.spec(name, "histogram");
    const bounds = spec.buckets ?? LATENCY_BUCKETS;
    const series = (this.data.histograms[name] ??= {});
    const key = seriesKey(spec, labels);
    const h = (series[key] ??= { counts: new Array(bounds.length + 1).fill(0), sum: 0, count: 0 });
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    h.counts[i]!++;
    h.sum += value;
    h.count++;
  }

  set(name: string, labels: Labels, value: number, at = Date.now()): void {
    if (!this.enabled) return;
    const spec = this.spec(name, "gauge");
    const gauges = (this.data.gauges ??= {});
    (gauges[name] ??= {})[seriesKey(spec, labels)] = { value, at };
  }

  /** Adds a delta (or another set's totals) in. */
  merge(delta: Snapshot): void {
    mergeInto(this.data, delta);
  }

  /** What was counted since the last take(), which starts afresh. */
  take(): Snapshot {
    const taken = this.data;
    this.data = emptySnapshot();
    return taken;
  }

  snapshot(): Snapshot {
    return structuredClone(this.data);
  }

  get empty(): boolean {
    const { counters, histograms, gauges = {} } = this.data;
    return Object.keys(counters).length === 0 && Object.keys(histograms).length === 0 && Object.keys(gauges).length === 0;
  }

  private spec(name: string, type: MetricSpec["type"]): MetricSpec {
    const spec = this.specs.get(name);
    if (!spec || spec.type !== type) throw new MetricsError(`no ${type} named ${name}`);
    return spec;
  }
}

export function mergeInto(into: Snapshot, delta: Snapshot): void {
  for (const [name, series] of Object.entries(delta.counters)) {
    const target = (into.counters[name] ??= {});
    for (const [key, v] of Object.entries(series)) target[key] = (target[key] ?? 0) + v;
  }
  for (const [name, series] of Object.entries(delta.histograms)) {
    const target = (into.histograms[name] ??= {});
    for (const [key, h] of Object.entries(series)) {
      const t = target[key];
      if (!t) {
        target[key] = { counts: [...h.counts], sum: h.sum, count: h.count };
        continue;
      }
      if (t.counts.length !== h.counts.length) throw new MetricsError(`${name}: bucket counts differ (${t.counts.length} vs ${h.counts.length})`);
      h.counts.forEach((c, i) => (t.counts[i]! += c));
      t.sum += h.sum;
      t.count += h.count;
    }
  }
  for (const [name, series] of Object.entries(delta.gauges ?? {})) {
    const target = ((into.gauges ??= {})[name] ??= {});
    for (const [key, g] of Object.entries(series)) {
      if (!target[key] || target[key].at <= g.at) target[key] = { ...g };
    }
  }
}

/** The counters and histograms of a snapshot, without its gauges (what time windows add up). */
export function withoutGauges(s: Snapshot): Snapshot {
  return { counters: s.counters, histograms: s.histograms, gauges: {} };
}

/** The series key of a label set: its values in the spec's label order (missing ones empty). */
export function seriesKey(spec: MetricSpec, labels: Labels): string {
  return JSON.stringify(spec.labels.map((l) => labels[l] ?? ""));
}

export function labelsOf(spec: MetricSpec, key: string): Labels {
  const values = JSON.parse(key) as string[];
  return Object.fromEntries(spec.labels.map((l, i) => [l, values[i] ?? ""]));
}

/**
 * The Prometheus text exposition (version 0.0.4) of several sources' totals, each with labels of
 * its own (`pop`, say) put before the series' labels. Every metric of `specs` gets its HELP and
 * TYPE lines, so a scrape always shows the same families.
 */
export function exposition(specs: readonly MetricSpec[], sources: ReadonlyArray<{ labels: Labels; snapshot: Snapshot }>): string {
  const lines: string[] = [];
  for (const spec of specs) {
    lines.push(`# HELP ${spec.name} ${escapeHelp(spec.help)}`, `# TYPE ${spec.name} ${spec.type}`);
    for (const { labels: extra, snapshot } of sources) {
      if (spec.type !== "histogram") {
        const values = spec.type === "counter" ? (snapshot.counters[spec.name] ?? {}) : (snapshot.gauges?.[spec.name] ?? {});
        for (const [key, v] of Object.entries(values)) {
          lines.push(`${spec.name}${labelText({ ...extra, ...labelsOf(spec, key) })} ${number(typeof v === "number" ? v : v.value)}`);
        }
        continue;
      }
      const bounds = spec.buckets ?? LATENCY_BUCKETS;
      for (const [key, h] of Object.entries(snapshot.histograms[spec.name] ?? {})) {
        const labels = { ...extra, ...labelsOf(spec, key) };
        let cumulative = 0;
        bounds.forEach((le, i) => {
          cumulative += h.counts[i] ?? 0;
          lines.push(`${spec.name}_bucket${labelText({ ...labels, le: number(le) })} ${cumulative}`);
        });
        lines.push(`${spec.name}_bucket${labelText({ ...labels, le: "+Inf" })} ${h.count}`);
        lines.push(`${spec.name}_sum${labelText(labels)} ${number(h.sum)}`);
        lines.push(`${spec.name}_count${labelText(labels)} ${h.count}`);
      }
    }
  }
  return `${lines.join("\n")}\n`;
}

/**
 * The q-quantile of a histogram, interpolated linearly inside its bucket as Prometheus's
 * histogram_quantile does; NaN without observations.
 */
export function quantile(q: number, h: HistogramValue, bounds: readonly number[] = LATENCY_BUCKETS): number {
  if (h.count === 0) return NaN;
  const rank = q * h.count;
  let below = 0;
  for (let i = 0; i < h.counts.length; i++) {
    const c = h.counts[i]!;
    if (below + c >= rank && c > 0) {
      if (i === bounds.length) return bounds[bounds.length - 1]!; // in +Inf: the highest finite bound
      const lower = i === 0 ? 0 : bounds[i - 1]!;
      return lower + (bounds[i]! - lower) * ((rank - below) / c);
    }
    below += c;
  }
  return bounds[bounds.length - 1]!;
}

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

const escapeLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
const escapeHelp = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
const number = (n: number) => (Number.isFinite(n) ? String(n) : n > 0 ? "+Inf" : n < 0 ? "-Inf" : "NaN");

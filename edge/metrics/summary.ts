// A time window's series of one model boiled down to what an operator and a rollout gate read:
// per version and variant (and PoP, if asked), requests, rate, outcomes and latency quantiles
// from the merged histograms, and the shadow's agreement. Pure.
import { LATENCY_BUCKETS, labelsOf, quantile, type HistogramValue } from "../../shared/metrics";
import type { PopSeries } from "./aggregator-do";
import type { Figures, Outcome } from "../../shared/fleet";
import { COMPUTE, DURATION, FAMILIES, REQUESTS, SHADOW_COMPARISONS } from "./families";


export interface SummaryOptions {
  /** Only the PoPs this accepts. */
  where?: (pop: string) => boolean;
  byPop?: boolean;
}

const spec = (name: string) => FAMILIES.find((f) => f.name === name)!;
const OUTCOMES: Outcome[] = ["success", "client_error", "server_error", "rate_limited", "unavailable"];

/**
 * Only requests a version ran itself (route "local") describe it: a forwarded request is counted
 * at the PoP that forwarded it and again, as local, at the peer that ran it.
 */
export function summarize(series: PopSeries[], windowSeconds: number, opts: SummaryOptions = {}): Figures[] {
  const groups = new Map<string, { figures: Figures; latency: HistogramValue | null; compute: HistogramValue | null }>();
  const group = (version: string, variant: string, pop: string) => {
    const key = JSON.stringify([version, variant, opts.byPop ? pop : ""]);
    let g = groups.get(key);
    if (!g) {
      const figures = emptyFigures(version, variant);
      if (opts.byPop) figures.pop = pop;
      groups.set(key, (g = { figures, latency: null, compute: null }));
    }
    return g;
  };
  for (const { pop, snapshot } of series) {
    if (opts.where && !opts.where(pop)) continue;
    for (const [key, n] of Object.entries(snapshot.counters[REQUESTS] ?? {})) {
      const l = labelsOf(spec(REQUESTS), key);
      const g = group(l.version!, l.variant!, pop);
      if (l.route !== "local") {
        g.figures.forwarded += n;
        continue;
      }
      g.figures.requests += n;
      g.figures.outcomes[l.outcome as Outcome] = (g.figures.outcomes[l.outcome as Outcome] ?? 0) + n;
    }
    for (const [key, h] of Object.entries(snapshot.histograms[DURATION] ?? {})) {
      const l = labelsOf(spec(DURATION), key);
      if (l.route !== "local") continue;
      const g = group(l.version!, l.variant!, pop);
      merge((g.latency ??= { counts: new Array(h.counts.length).fill(0), sum: 0, count: 0 }), h);
    }
    for (const [key, h] of Object.entries(snapshot.histograms[COMPUTE] ?? {})) {
      const l = labelsOf(spec(COMPUTE), key);
      const g = group(l.version!, l.variant!, pop);
      merge((g.compute ??= { counts: new Array(h.counts.length).fill(0), sum: 0, count: 0 }), h);
    }
    for (const [key, n] of Object.entries(snapshot.counters[SHADOW_COMPARISONS] ?? {})) {
      const l = labelsOf(spec(SHADOW_COMPARISONS), key);
      const f = group(l.version!, "shadow", pop).figures;
      f.agreement ??= { agree: 0, disagree: 0, rate: null };
      if (l.result === "agree") f.agreement.agree += n;
      else f.agreement.disagree += n;
    }
  }
  const out: Figures[] = [];
  for (const { figures: f, latency, compute } of groups.values()) {
    if (f.requests === 0 && f.forwarded === 0) continue;
    f.rate = windowSeconds > 0 ? f.requests / windowSeconds : 0;
    if (f.requests > 0) {
      f.errorRate = (f.outcomes.server_error + f.outcomes.unavailable) / f.requests;
      f.clientErrorRate = f.outcomes.client_error / f.requests;
    }
    if (latency) f.latency = latency.counts;
    if (compute) {
      f.compute = compute.counts;
      if (compute.count > 0) f.computeP99 = quantile(0.99, compute, LATENCY_BUCKETS);
    }
    if (latency && latency.count > 0) {
      f.p50 = quantile(0.5, latency, LATENCY_BUCKETS);
      f.p95 = quantile(0.95, latency, LATENCY_BUCKETS);
      f.p99 = quantile(0.99, latency, LATENCY_BUCKETS);
    }
    if (f.agreement) {
      const n = f.agreement.agree + f.agreement.disagree;
      f.agreement.rate = n > 0 ? f.agreement.agree / n : null;
    }
    out.push(f);
  }
  return out.sort((a, b) => Number(a.version) - Number(b.version) || a.variant.localeCompare(b.variant) || (a.pop ?? "").localeCompare(b.pop ?? ""));
}

/** A version's figures before anything is counted. */
export function emptyFigures(version: string, variant: string): Figures {
  return {
    version,
    variant,
    requests: 0,
    rate: 0,
    outcomes: Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>,
    errorRate: 0,
    clientErrorRate: 0,
    p50: null,
    p95: null,
    p99: null,
    latency: [],
    computeP99: null,
    compute: [],
    forwarded: 0,
  };
}

function merge(into: HistogramValue, h: HistogramValue): void {
  h.counts.forEach((c, i) => (into.counts[i] = (into.counts[i] ?? 0) + c));
  into.sum += h.sum;
  into.count += h.count;
}

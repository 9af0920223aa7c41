// What one isolate has counted since it last reported, and the report itself: once per
// METRICS_FLUSH_MS at most, one delta per model to that model's MetricsDO, in the background. A
// request that comes before the interval is over leaves one deferred report behind it, so the
// last counts of a burst arrive within the interval too, not with the next request. A report
// that fails is added back, so nothing counted is lost, only late. Gauges are sampled just
// before a report (`sample`), so they cost nothing per request.
import { MetricSet, emptySnapshot, type Snapshot } from "../../shared/metrics";
import type { Env } from "../env";
import { FAMILIES, FLEET } from "./families";

const byModelLabel = new Set(FAMILIES.filter((f) => f.labels[0] === "model").map((f) => f.name));

/** A deferred report must fit in the time a Worker keeps running after its answer (waitUntil). */
const MAX_DEFER_MS = 25_000;

export class Recorder {
  readonly metrics: MetricSet;
  private lastReport = Date.now();
  private deferred: Promise<void> | undefined;

  constructor(
    private readonly flushMs: number,
    enabled: boolean,
    /** Sets the gauges (pointer seq and age, breaker states) from the isolate's state. */
    private readonly sample: (metrics: MetricSet) => void = () => {},
  ) {
    this.metrics = new MetricSet(FAMILIES, enabled);
  }

  /**
   * Sends what was counted when the interval has passed (or `force`); before that, schedules one
   * report for when it will have. Resolves when sent: hand it to waitUntil.
   */
  report(env: Pick<Env, "METRICS">, pop: string, force = false): Promise<void> | undefined {
    const now = Date.now();
    const wait = this.lastReport + this.flushMs - now;
    if (!force && wait > 0) {
      if (this.deferred || this.metrics.empty || wait > MAX_DEFER_MS) return undefined;
      this.deferred = new Promise<void>((resolve) => setTimeout(resolve, wait)).then(() => {
        this.deferred = undefined;
        return this.report(env, pop);
      });
      return this.deferred;
    }
    this.sample(this.metrics);
    if (this.metrics.empty) return undefined;
    this.lastReport = now;
    const sends = [...byModel(this.metrics.take())].map(([model, delta]) =>
      env.METRICS.get(env.METRICS.idFromName(model))
        .add(pop, delta)
        .catch(() => this.metrics.merge(delta)),
    );
    return Promise.all(sends).then(() => undefined);
  }
}

/** A delta splits into one per model (a family's first label), the rest going to FLEET. */
function byModel(snapshot: Snapshot): Map<string, Snapshot> {
  const out = new Map<string, Snapshot>();
  const part = (name: string, key: string) => {
    const model = byModelLabel.has(name) ? ((JSON.parse(key) as string[])[0] ?? "") : FLEET;
    let s = out.get(model);
    if (!s) out.set(model, (s = emptySnapshot()));
    return s;
  };
  for (const [name, series] of Object.entries(snapshot.counters)) {
    for (const [key, v] of Object.entries(series)) (part(name, key).counters[name] ??= {})[key] = v;
  }
  for (const [name, series] of Object.entries(snapshot.histograms)) {
    for (const [key, h] of Object.entries(series)) (part(name, key).histograms[name] ??= {})[key] = h;
  }
  for (const [name, series] of Object.entries(snapshot.gauges ?? {})) {
    for (const [key, g] of Object.entries(series)) ((part(name, key).gauges ??= {})[name] ??= {})[key] = g;
  }
  return out;
}

// What one isolate has counted since it last reported, and the report itself: once per
// METRICS_FLUSH_MS at most, one delta per model to that model's MetricsDO, in the background. A
// report that fails is added back, so nothing counted is lost, only late.
import { MetricSet, emptySnapshot, type Snapshot } from "../../shared/metrics";
import type { Env } from "../env";
import { FAMILIES } from "./families";

export class Recorder {
  readonly metrics = new MetricSet(FAMILIES);
  private lastReport = Date.now();

  constructor(private readonly flushMs: number) {}

  /** Sends what was counted, when the interval has passed (or `force`); resolves when sent. */
  report(env: Pick<Env, "METRICS">, pop: string, force = false): Promise<void> | undefined {
    const now = Date.now();
    if (this.metrics.empty || (!force && now - this.lastReport < this.flushMs)) return undefined;
    this.lastReport = now;
    const sends = [...byModel(this.metrics.take())].map(([model, delta]) =>
      env.METRICS.get(env.METRICS.idFromName(model))
        .add(pop, delta)
        .catch(() => this.metrics.merge(delta)),
    );
    return Promise.all(sends).then(() => undefined);
  }
}

/** Every family's first label is the model: a delta splits into one per model. */
function byModel(snapshot: Snapshot): Map<string, Snapshot> {
  const out = new Map<string, Snapshot>();
  const part = (key: string) => {
    const model = (JSON.parse(key) as string[])[0] ?? "";
    let s = out.get(model);
    if (!s) out.set(model, (s = emptySnapshot()));
    return s;
  };
  for (const [name, series] of Object.entries(snapshot.counters)) {
    for (const [key, v] of Object.entries(series)) (part(key).counters[name] ??= {})[key] = v;
  }
  for (const [name, series] of Object.entries(snapshot.histograms)) {
    for (const [key, h] of Object.entries(series)) (part(key).histograms[name] ??= {})[key] = h;
  }
  return out;
}

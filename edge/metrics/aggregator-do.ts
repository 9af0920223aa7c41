// MetricsDO: one per model, the fleet's totals of that model's series, per PoP. Isolates send it
// what they counted since their last report (deltas, once per isolate and interval, so the write
// rate follows the number of isolates, not the traffic); it adds them to each PoP's totals, which
// therefore only grow, as Prometheus counters must.
import { DurableObject } from "cloudflare:workers";
import { emptySnapshot, mergeInto, type Snapshot } from "../../shared/metrics";

export interface PopSeries {
  pop: string;
  snapshot: Snapshot;
}

export class MetricsDO extends DurableObject {
  /** Adds one isolate's delta to its PoP's totals (storage calls of one DO do not interleave). */
  async add(pop: string, delta: Snapshot): Promise<void> {
    const key = `pop:${pop}`;
    const totals = (await this.ctx.storage.get<Snapshot>(key)) ?? emptySnapshot();
    mergeInto(totals, delta);
    await this.ctx.storage.put(key, totals);
  }

  async series(): Promise<PopSeries[]> {
    const map = await this.ctx.storage.list<Snapshot>({ prefix: "pop:" });
    return [...map].map(([key, snapshot]) => ({ pop: key.slice(4), snapshot }));
  }
}

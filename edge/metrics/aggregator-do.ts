// MetricsDO: one per model (and one, "_fleet", for series of no model), the fleet's totals of
// that model's series, per PoP. Isolates send it what they counted since their last report
// (deltas, once per isolate and interval, so the write rate follows the number of isolates, not
// the traffic); it adds them to each PoP's totals, which therefore only grow, as Prometheus
// counters must. Beside the totals it keeps each delta's counts in one-second slots for an hour:
// what a time window (`meridian metrics --window`, a rollout step, the dashboard) adds up.
import { DurableObject } from "cloudflare:workers";
import { LATENCY_BUCKETS, emptySnapshot, mergeInto, withoutGauges, type Snapshot } from "../../shared/metrics";

export interface PopSeries {
  pop: string;
  snapshot: Snapshot;
}

/** A window's counts from `from` (inclusive) to `to`, per PoP (ms since the epoch). */
export interface WindowSeries {
  from: number;
  to: number;
  pops: PopSeries[];
}

const SLOT_MS = 1000;
export const RETENTION_MS = 3_600_000;
const PRUNE_EVERY_MS = 60_000;

// Keys carry the layout of the series (LAYOUT): snapshots of another bucket layout cannot merge,
// so a new layout starts afresh (Prometheus sees a counter reset). Slot keys sort by time:
// "w<layout>:" + zero-padded slot start + ":" + pop.
const LAYOUT = `${LATENCY_BUCKETS.length}`;
const TOTALS = `pop${LAYOUT}:`;
const SLOTS = `w${LAYOUT}:`;
const slotKey = (at: number, pop: string) => `${SLOTS}${String(at).padStart(15, "0")}:${pop}`;
const slotTime = (key: string) => Number(key.slice(SLOTS.length, SLOTS.length + 15));
const slotPop = (key: string) => key.slice(SLOTS.length + 16);
const slotStart = (at: number) => Math.floor(at / SLOT_MS) * SLOT_MS;

function addSlots(perPop: Map<string, Snapshot>, slots: Map<string, Snapshot>): void {
  for (const [key, s] of slots) {
    const pop = slotPop(key);
    let into = perPop.get(pop);
    if (!into) perPop.set(pop, (into = emptySnapshot()));
    mergeInto(into, s);
  }
}

export class MetricsDO extends DurableObject {
  private prunedAt = 0;
  /** The last window's merge of its settled slots: `from` its start, `until` the first slot not in it. */
  private settled: { from: number; until: number; perPop: Map<string, Snapshot> } | undefined;

  /** Adds one isolate's delta to its PoP's totals and to the current slot (storage calls of one DO do not interleave). */
  async add(pop: string, delta: Snapshot): Promise<void> {
    const now = Date.now();
    const key = `${TOTALS}${pop}`;
    const slot = slotKey(slotStart(now), pop);
    const stored = await this.ctx.storage.get<Snapshot>([key, slot]);
    const totals = stored.get(key) ?? emptySnapshot();
    const recent = stored.get(slot) ?? emptySnapshot();
    mergeInto(totals, delta);
    mergeInto(recent, withoutGauges(delta));
    await this.ctx.storage.put({ [key]: totals, [slot]: recent });
    if (now - this.prunedAt > PRUNE_EVERY_MS) await this.prune(now);
  }

  async series(): Promise<PopSeries[]> {
    const map = await this.ctx.storage.list<Snapshot>({ prefix: TOTALS });
    return [...map].map(([key, snapshot]) => ({ pop: key.slice(TOTALS.length), snapshot }));
  }

  /**
   * What arrived from `from` to `to` (default now), per PoP; at most RETENTION_MS back. A rollout
   * asks for the same start every tick, so the slots that can no longer change (those before the
   * current second) stay merged, and each call adds only what came since.
   */
  async window(from: number, to = Date.now()): Promise<WindowSeries> {
    const start = Math.max(from, to - RETENTION_MS);
    const settled = Math.max(slotStart(start), Math.min(slotStart(to), slotStart(Date.now())));
    const c = this.settled;
    const reuse = c !== undefined && c.from === start && c.until <= settled;
    const merged = reuse ? c.perPop : new Map<string, Snapshot>();
    addSlots(merged, await this.slotsBetween(reuse ? c.until : slotStart(start), settled));
    this.settled = { from: start, until: settled, perPop: merged };
    const perPop = new Map([...merged].map(([pop, snapshot]) => [pop, structuredClone(snapshot)]));
    addSlots(perPop, await this.slotsBetween(settled, to + 1));
    return { from: start, to, pops: [...perPop].map(([pop, snapshot]) => ({ pop, snapshot })) };
  }

  /** Consecutive windows of `stepMs` ending now, oldest first (the dashboard's charts). */
  async timeline(from: number, stepMs: number, to = Date.now()): Promise<WindowSeries[]> {
    const step = Math.max(SLOT_MS, stepMs);
    const start = Math.max(from, to - RETENTION_MS);
    const windows: WindowSeries[] = [];
    for (let t = to - Math.ceil((to - start) / step) * step; t < to; t += step) windows.push({ from: t, to: t + step, pops: [] });
    const first = windows[0]?.from ?? to;
    for (const [key, s] of await this.slots(first, to)) {
      const at = slotTime(key);
      const w = windows[Math.min(windows.length - 1, Math.floor((at - first) / step))];
      if (!w) continue;
      const pop = slotPop(key);
      let into = w.pops.find((p) => p.pop === pop);
      if (!into) w.pops.push((into = { pop, snapshot: emptySnapshot() }));
      mergeInto(into.snapshot, s);
    }
    return windows;
  }

  private async slots(from: number, to: number): Promise<Map<string, Snapshot>> {
    // A slot holds what arrived during its second, so the one `from` falls in counts whole.
    return this.slotsBetween(slotStart(from), to + 1);
  }

  /** Slots starting at or after `start` and before `end`. */
  private async slotsBetween(start: number, end: number): Promise<Map<string, Snapshot>> {
    if (end <= start) return new Map();
    return this.ctx.storage.list<Snapshot>({ start: slotKey(start, ""), end: slotKey(end, "") });
  }

  private async prune(now: number): Promise<void> {
    this.prunedAt = now;
    const old = [...(await this.ctx.storage.list({ start: SLOTS, end: slotKey(now - RETENTION_MS, ""), limit: 1024 })).keys()];
    for (let i = 0; i < old.length; i += 128) await this.ctx.storage.delete(old.slice(i, i + 128)); // 128 keys per call at most
  }
}

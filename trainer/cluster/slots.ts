// Partition slots (`train --partitions`): which worker takes which partition's jobs. A worker
// holds a slot under a lease in Redis (the slot key holds its id, PX the lease) and consumes the
// partition's queue only while it holds the slot, so each partition's shards are read by one
// worker. Every tick it renews its slots and claims free ones, in one script, up to its fair
// share, ceil(P / live workers) (live: workers connected to the main queue, so a killed worker
// stops counting at once). A slot whose holder died is free once its lease lapses, and the
// next worker to tick takes it; a worker over its share (one joined) hands its highest slots
// back once their consumer stopped, and the newcomer claims them.
import type { Redis } from "ioredis";
import type { Keys } from "./protocol";

/**
 * KEYS: the run's slot keys, partition 0 first. ARGV: worker id, lease ms, most slots to hold.
 * Renews the slots this worker holds, then claims free ones (lowest first) while it holds fewer
 * than the most. Returns the partitions it holds.
 */
const CLAIM_SLOTS_LUA = `
local held = {}
for i, k in ipairs(KEYS) do
  if redis.call('GET', k) == ARGV[1] then
    redis.call('PEXPIRE', k, ARGV[2])
    held[#held + 1] = i - 1
  end
end
for i, k in ipairs(KEYS) do
  if #held >= tonumber(ARGV[3]) then break end
  if redis.call('SET', k, ARGV[1], 'NX', 'PX', ARGV[2]) then held[#held + 1] = i - 1 end
end
return held`;

/** KEYS: slot. ARGV: worker id. Frees the slot only if this worker holds it. */
const RELEASE_SLOT_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

export type SlotOptions = {
  redis: Redis;
  keys: Keys;
  /** This worker's id (the value of the slot keys it holds). */
  id: string;
  /** Slot lease: a dead holder's slots are free this long after its last renewal. */
  leaseMs: number;
  /** Workers connected now (the fair share's divisor). */
  liveWorkers(): Promise<number>;
  /** Start consuming partition p's queue of a run, and stop (resolves once its job in progress finished). */
  start(runId: string, p: number): void;
  stop(runId: string, p: number): Promise<void>;
  log: (event: string, data: Record<string, unknown>) => void;
};

const slotName = (runId: string, p: number): string => `${runId}/${p}`;

export class PartitionSlots {
  /** Slots held (by slotName), and those being handed back. */
  private readonly held = new Map<string, { runId: string; p: number }>();
  private readonly releasing = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  /** The tick in progress, if any (a slow one is not queued behind: the next interval skips). */
  private ticking: Promise<void> | undefined;

  constructor(private readonly o: SlotOptions) {}

  /** Ticks every min(1 s, lease / 3) until close(). */
  run(): void {
    const every = Math.min(1000, Math.max(50, this.o.leaseMs / 3));
    this.timer = setInterval(() => {
      this.ticking ??= this.tick()
        .catch((err: unknown) => this.o.log("worker_error", { message: `partition slots: ${err instanceof Error ? err.message : String(err)}` }))
        .finally(() => (this.ticking = undefined));
    }, every);
    this.timer.unref();
  }

  /** One round: for every partitioned run, renew, claim up to the fair share, hand back the excess. */
  async tick(): Promise<void> {
    const { redis, keys } = this.o;
    const live = Math.max(1, await this.o.liveWorkers());
    const active = new Set<string>();
    for (const runId of await redis.smembers(keys.partitioned)) {
      const raw = await redis.get(keys.partitions(runId));
      if (raw === null) {
        await redis.srem(keys.partitioned, runId); // the run ended (or its coordinator is long gone)
        continue;
      }
      active.add(runId);
      const P = Number(raw);
      const share = Math.ceil(P / live);
      const slotKeys = Array.from({ length: P }, (_, p) => keys.slot(runId, p));
      const now = (await redis.eval(CLAIM_SLOTS_LUA, P, ...slotKeys, this.o.id, this.o.leaseMs, share)) as number[];
      for (const p of now) {
        if (this.held.has(slotName(runId, p))) continue;
        this.held.set(slotName(runId, p), { runId, p });
        this.o.log("partition_slot", { runId, partition: p, held: true });
        this.o.start(runId, p);
      }
      // Lost (our lease lapsed and another worker took the slot): stop consuming at once.
      for (const { p } of this.mine(runId)) if (!now.includes(p)) void this.release(runId, p);
      // Over the share (a worker joined): hand back the highest slots, each once its consumer stopped.
      const kept = now.filter((p) => !this.releasing.has(slotName(runId, p))).sort((a, b) => b - a);
      for (const p of kept.slice(0, Math.max(0, kept.length - share))) void this.release(runId, p);
    }
    // Runs that ended: stop their consumers.
    for (const { runId, p } of this.held.values()) if (!active.has(runId)) void this.release(runId, p);
  }

  private mine(runId: string): { runId: string; p: number }[] {
    return [...this.held.values()].filter((s) => s.runId === runId);
  }

  /** Stops the partition's consumer, then frees its slot (if still ours) for another worker. Never rejects. */
  private release(runId: string, p: number): Promise<void> {
    const name = slotName(runId, p);
    const busy = this.releasing.get(name);
    if (busy || !this.held.has(name)) return busy ?? Promise.resolve();
    const done = (async () => {
      try {
        await this.o.stop(runId, p);
        await this.o.redis.eval(RELEASE_SLOT_LUA, 1, this.o.keys.slot(runId, p), this.o.id);
        this.o.log("partition_slot", { runId, partition: p, held: false });
      } catch (err) {
        this.o.log("worker_error", { message: `releasing partition ${p} of run ${runId}: ${err instanceof Error ? err.message : String(err)}` });
      } finally {
        this.held.delete(name);
        this.releasing.delete(name);
      }
    })();
    this.releasing.set(name, done);
    return done;
  }

  /** Stops ticking, stops every consumer and frees every slot (others need not wait for the leases). */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.ticking;
    await Promise.all([...this.held.values()].map(({ runId, p }) => this.release(runId, p)));
  }
}

// Partition slots (`train --partitions`): which worker takes which partition's jobs. A worker
// holds a slot under a lease in Redis (the slot key holds its id, PX the lease) and consumes the
// partition's queue only while it holds the slot, so each partition's shards are read by one
// worker. Every tick, in one script, it beats (a sorted set of live workers by last beat), renews
// its slots and claims free ones up to its fair share, ceil(P / workers that beat within a lease).
// A worker that dies or hangs stops beating and renewing: after one lease it no longer counts and
// its slots are free, so the survivors' shares grow and the next of them to tick takes them. A
// worker over its share (one joined, a replacement say) hands its highest slots back once their
// consumer stopped, and the newcomer claims them. Workers beat from their start, so at a run's
// start every live worker already counts and none claims more than its share.
import type { Redis } from "ioredis";
import type { Keys } from "./protocol";

/**
 * KEYS: the live-workers set, then the run's slot keys, partition 0 first (none: only beat).
 * ARGV: worker id, lease ms. Beats, drops workers silent for a lease, renews this worker's slots,
 * then claims free ones (lowest first) up to its share. Returns {share, partitions held…}.
 */
const CLAIM_SLOTS_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - lease)
redis.call('PEXPIRE', KEYS[1], 2 * lease)
local share = math.ceil((#KEYS - 1) / redis.call('ZCARD', KEYS[1]))
local out = {share}
for i = 2, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[i], lease)
    out[#out + 1] = i - 2
  end
end
for i = 2, #KEYS do
  if #out - 1 >= share then break end
  if redis.call('SET', KEYS[i], ARGV[1], 'NX', 'PX', lease) then out[#out + 1] = i - 2 end
end
return out`;

/** KEYS: slot. ARGV: worker id. Frees the slot only if this worker holds it. */
const RELEASE_SLOT_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

export type SlotOptions = {
  redis: Redis;
  keys: Keys;
  /** This worker's id (the value of the slot keys it holds). */
  id: string;
  /** Slot lease: a dead holder's slots are free (and it no longer counts) this long after its last tick. */
  leaseMs: number;
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

  /** Ticks now (so this worker counts before it takes any job), then every min(1 s, lease / 3) until close(). */
  async run(): Promise<void> {
    await this.tick();
    const every = Math.min(1000, Math.max(50, this.o.leaseMs / 3));
    this.timer = setInterval(() => {
      this.ticking ??= this.tick()
        .catch((err: unknown) => this.o.log("worker_error", { message: `partition slots: ${err instanceof Error ? err.message : String(err)}` }))
        .finally(() => (this.ticking = undefined));
    }, every);
    this.timer.unref();
  }

  /** One round: beat; for every partitioned run, renew, claim up to the fair share, hand back the excess. */
  async tick(): Promise<void> {
    const { redis, keys } = this.o;
    const claim = async (slotKeys: string[]): Promise<{ share: number; now: number[] }> => {
      const [share, ...now] = (await redis.eval(CLAIM_SLOTS_LUA, 1 + slotKeys.length, keys.slotWorkers, ...slotKeys, this.o.id, this.o.leaseMs)) as number[];
      return { share: share!, now };
    };
    const active = new Set<string>();
    for (const runId of await redis.smembers(keys.partitioned)) {
      const raw = await redis.get(keys.partitions(runId));
      if (raw === null) {
        await redis.srem(keys.partitioned, runId); // the run ended (or its coordinator is long gone)
        continue;
      }
      active.add(runId);
      const { share, now } = await claim(Array.from({ length: Number(raw) }, (_, p) => keys.slot(runId, p)));
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
    if (active.size === 0) await claim([]); // a beat: this worker counts before any run starts
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

  /** Stops ticking, stops every consumer, frees every slot and stops counting (others need not wait for the leases). */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.ticking;
    await Promise.all([...this.held.values()].map(({ runId, p }) => this.release(runId, p)));
    await this.o.redis.zrem(this.o.keys.slotWorkers, this.o.id).catch(() => {});
  }
}

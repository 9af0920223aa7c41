// Partition slots against a real redis-server: fair shares among the workers that tick, a silent
// (dead or hung) holder's slots taken over after its lease, a newcomer given the excess back, and
// everything freed when the run ends.
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRedis, type TestRedis } from "../../dev/redis";
import { keysFor } from "./protocol";
import { PartitionSlots } from "./slots";

let server: TestRedis;
let redis: Redis;
beforeAll(async () => {
  server = await startRedis();
  redis = new Redis(server.url);
});
afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

/** A worker's slots (ticked by hand); `consuming`: the partitions it would consume now. */
function member(id: string, prefix: string, leaseMs = 400) {
  const consuming = new Set<number>();
  const slots = new PartitionSlots({
    redis,
    keys: keysFor(prefix),
    id,
    leaseMs,
    start: (_runId, p) => void consuming.add(p),
    stop: async (_runId, p) => void consuming.delete(p),
    log: () => {},
  });
  return { slots, consuming };
}

const sorted = (s: Set<number>) => [...s].sort((a, b) => a - b);

describe("PartitionSlots", () => {
  it("shares, a silent holder's slots taken after its lease, hand-back to a newcomer, release at the run's end", async () => {
    const prefix = `${server.prefix}-slots`;
    const keys = keysFor(prefix);
    const a = member("a", prefix);
    const b = member("b", prefix);
    // Both tick before the run exists (workers do from their start): both count from its first tick.
    await a.slots.tick();
    await b.slots.tick();
    await redis.multi().set(keys.partitions("r1"), 4).sadd(keys.partitioned, "r1").exec();
    await a.slots.tick();
    await b.slots.tick();
    expect(sorted(a.consuming)).toEqual([0, 1]); // ceil(4 / 2)
    expect(sorted(b.consuming)).toEqual([2, 3]);
    expect(await redis.get(keys.slot("r1", 2))).toBe("b");

    // b goes silent (killed, or hung): until its lease lapses its slots stay its own …
    await a.slots.tick();
    expect(sorted(a.consuming)).toEqual([0, 1]);
    // … then b no longer counts, a's share is all four, and a takes them.
    await new Promise((r) => setTimeout(r, 500));
    await a.slots.tick();
    expect(sorted(a.consuming)).toEqual([0, 1, 2, 3]);

    // A replacement joins: a hands back its highest slots, the newcomer claims them.
    const c = member("c", prefix);
    await c.slots.tick();
    expect(c.consuming.size).toBe(0); // nothing free yet
    await a.slots.tick();
    await new Promise((r) => setTimeout(r, 50)); // the hand-back runs behind the tick
    expect(sorted(a.consuming)).toEqual([0, 1]);
    await c.slots.tick();
    expect(sorted(c.consuming)).toEqual([2, 3]);

    // The run ends (its registration is gone): consumers stop and the slots are freed.
    await redis.del(keys.partitions("r1"));
    await a.slots.tick();
    await c.slots.close();
    await a.slots.close();
    expect(a.consuming.size + c.consuming.size).toBe(0);
    expect(await redis.exists(keys.slot("r1", 0), keys.slot("r1", 1), keys.slot("r1", 2), keys.slot("r1", 3))).toBe(0);
    expect(await redis.smembers(keys.partitioned)).toEqual([]);
    await b.slots.close();
  });
});

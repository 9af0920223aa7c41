// The shard ring: which ShardDO owns a key, and where that object is placed. Every PoP builds
// the same ring from the same SHARD_LAYOUT, so a key maps to one object world-wide.
import { HashRing, type Shard } from "../../shared/hashring";
import { REGIONS, REGION_HINTS, type RegionHint } from "../../shared/pops";
import type { Env } from "../env";
import type { ShardDO } from "./shard-do";

/** Two shards per region by default: a hot key still spreads the region's load over two objects. */
export const DEFAULT_LAYOUT = REGIONS.map((r) => `${r.hint}:2`).join(",");

/**
 * "weur:2,enam:1" → shards weur-0, weur-1, enam-0, each hinted to its region. Ids name the
 * region so that changing another region's count moves no key of this one.
 */
export function parseLayout(layout: string): Shard[] {
  const shards: Shard[] = [];
  for (const part of layout.split(",").map((p) => p.trim()).filter(Boolean)) {
    const m = /^([a-z]+)(?::(\d+))?$/.exec(part);
    const hint = m?.[1] as RegionHint | undefined;
    if (!m || !hint || !REGION_HINTS.includes(hint)) throw new Error(`SHARD_LAYOUT: "${part}" is not <region>[:<count>] with a region in ${REGION_HINTS.join(", ")}`);
    const count = m[2] === undefined ? 1 : Number(m[2]);
    for (let i = 0; i < count; i++) shards.push({ id: `${hint}-${i}`, region: hint });
  }
  if (shards.length === 0) throw new Error("SHARD_LAYOUT names no shard");
  return shards;
}

// Built once per isolate (per layout string): a ring of 18 shards × 512 vnodes takes a few ms.
const rings = new Map<string, HashRing>();

export function shardRing(layout: string = DEFAULT_LAYOUT): HashRing {
  let ring = rings.get(layout);
  if (!ring) rings.set(layout, (ring = new HashRing(parseLayout(layout))));
  return ring;
}

export function shardFor(env: Pick<Env, "SHARD_LAYOUT">, key: string): Shard {
  return shardRing(env.SHARD_LAYOUT || DEFAULT_LAYOUT).owner(key);
}

/** The shard's object; the hint only matters the first time the object is created. */
export function shardStub(env: Pick<Env, "SHARDS">, shard: Shard): DurableObjectStub<ShardDO> {
  return env.SHARDS.get(env.SHARDS.idFromName(shard.id), { locationHint: shard.region });
}

/** Header value naming a shard and its region, e.g. "weur-1@weur". */
export const shardLabel = (shard: Shard) => `${shard.id}@${shard.region}`;

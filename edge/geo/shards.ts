// The caller's shard object: its home region (edge/geo/homes.ts) picks the ring, the ring picks
// the shard (shared/shards.ts), and the ShardDO is created with its region's location hint.
import type { Shard } from "../../shared/hashring";
import { DEFAULT_LAYOUT, shardLayout, type ShardLayout } from "../../shared/shards";
import type { Env } from "../env";
import type { ShardDO } from "./shard-do";

export function layoutOf(env: Pick<Env, "SHARD_LAYOUT">): ShardLayout {
  return shardLayout(env.SHARD_LAYOUT || DEFAULT_LAYOUT);
}

/** The shard's object; the hint only matters the first time the object is created. */
export function shardStub(env: Pick<Env, "SHARDS">, shard: Shard): DurableObjectStub<ShardDO> {
  return env.SHARDS.get(env.SHARDS.idFromName(shard.id), { locationHint: shard.region });
}

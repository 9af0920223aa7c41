// The caller's shard object: its home region (callers/homes.ts) picks the ring, the ring picks
// the shard (shared/shards.ts), and the ShardDO is created with its region's location hint.
import type { Shard } from "../../shared/hashring";
import type { Env } from "../env";
import type { ShardDO } from "./shard-do";

/** The shard's object; the hint only matters the first time the object is created. */
export function shardStub(env: Pick<Env, "SHARDS">, shard: Shard): DurableObjectStub<ShardDO> {
  return env.SHARDS.get(env.SHARDS.idFromName(shard.id), { locationHint: shard.region });
}

// Home regions: a caller key's state lives in the region nearest where it was first seen. One
// HomeDO per key records that region; it is created with the same location hint, so it sits
// near its caller too. The first claim wins and never changes, so a home can be cached forever:
// each isolate keeps the homes it has looked up, and only a key new to the isolate pays a call.
import { DurableObject } from "cloudflare:workers";
import type { RegionHint } from "../../shared/pops";
import type { Env } from "../env";

export class HomeDO extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec("CREATE TABLE IF NOT EXISTS home (region TEXT NOT NULL, claimed_at INTEGER NOT NULL)");
  }

  /** This key's home: the one recorded, else `region`, recorded now (synchronous, so atomic). */
  claim(region: RegionHint): RegionHint {
    const row = this.sql.exec<{ region: RegionHint }>("SELECT region FROM home").toArray()[0];
    if (row) return row.region;
    this.sql.exec("INSERT INTO home (region, claimed_at) VALUES (?, ?)", region, Date.now());
    return region;
  }
}

const MAX_CACHED = 10_000; // keys are at most 256 characters: a few MB at most
const cache = new Map<string, RegionHint>(); // insertion order: oldest first

/** The key's home region; `claim` is what a key seen for the first time gets. */
export async function homeOf(env: Pick<Env, "HOMES">, key: string, claim: RegionHint): Promise<RegionHint> {
  const cached = cache.get(key);
  if (cached) return cached;
  const home = await env.HOMES.get(env.HOMES.idFromName(key), { locationHint: claim }).claim(claim);
  if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value!);
  cache.set(key, home);
  return home;
}

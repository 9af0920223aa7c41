// Home regions: a caller key's state lives in the region nearest where it was first seen. One
// HomeDO per key records that region; it is created with the same location hint, so it sits
// near its caller too. The first claim wins and never changes while the key is in use, so a home
// can be cached: each isolate keeps the homes it has looked up, and only a key new to the isolate
// pays a call. A home unused for as long as a shard keeps an idle key (SHARD_KEY_TTL_MS) is
// deleted with it: a caller back after that starts afresh, wherever they are then. A key given
// feature values is pinned: its home is kept for good, as its values are (they live in the home
// region's shard, and a new home elsewhere would not see them).
import { DurableObject } from "cloudflare:workers";
import type { RegionHint } from "../../shared/pops";
import { configOf, type Vars } from "../config";
import { SharedWork } from "../shared-work";

export class HomeDO extends DurableObject<Vars> {
  private readonly sql: SqlStorage;
  /** Whether this instance has made sure the home table has the pinned column. */
  private pinnedColumn = false;

  constructor(ctx: DurableObjectState, env: Vars) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
  }

  /**
   * This key's home: the one recorded, else `region`, recorded now (synchronous, so atomic).
   * `pin`: the key has feature values, so its home never expires.
   */
  async claim(region: RegionHint, pin = false): Promise<RegionHint> {
    const now = Date.now();
    // Here rather than in the constructor: after an expiry (deleteAll) the object holds nothing.
    this.sql.exec("CREATE TABLE IF NOT EXISTS home (region TEXT NOT NULL, claimed_at INTEGER NOT NULL, last_seen INTEGER NOT NULL, pinned INTEGER NOT NULL DEFAULT 0)");
    // Homes recorded before pinning existed lack the column: looked at once per instance (a table
    // made after that, even after an expiry, is made with it).
    if (!this.pinnedColumn && !this.sql.exec<{ name: string }>("PRAGMA table_info(home)").toArray().some((c) => c.name === "pinned")) this.sql.exec("ALTER TABLE home ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0");
    this.pinnedColumn = true;
    const row = this.sql.exec<{ region: RegionHint }>("SELECT region FROM home").toArray()[0];
    if (row) this.sql.exec("UPDATE home SET last_seen = ?, pinned = max(pinned, ?)", now, pin ? 1 : 0);
    else this.sql.exec("INSERT INTO home (region, claimed_at, last_seen, pinned) VALUES (?, ?, ?, ?)", region, now, now, pin ? 1 : 0);
    // Expiry is checked after the claim is recorded; failing to schedule it must not fail the claim.
    await this.ctx.storage.setAlarm(now + this.ttl()).catch(() => undefined);
    return row?.region ?? region;
  }

  /** This key's home if it has one (a read that must not give a new key a home); null otherwise. */
  async lookup(): Promise<RegionHint | null> {
    const exists = this.sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'home'").toArray().length > 0;
    const row = exists ? this.sql.exec<{ region: RegionHint }>("SELECT region FROM home").toArray()[0] : undefined;
    if (!row) return null;
    // A key read keeps its home as a claim does.
    this.sql.exec("UPDATE home SET last_seen = ?", Date.now());
    return row.region;
  }

  /** Deletes the record once the key has gone unused for the TTL (each claim pushed the alarm back), unless pinned. */
  override async alarm(): Promise<void> {
    const exists = this.sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'home'").toArray().length > 0;
    const row = exists ? this.sql.exec<{ last_seen: number; pinned?: number }>("SELECT * FROM home").toArray()[0] : undefined;
    if (row?.pinned) return;
    if (row && Date.now() - row.last_seen < this.ttl()) await this.ctx.storage.setAlarm(row.last_seen + this.ttl());
    else await this.ctx.storage.deleteAll();
  }

  private ttl(): number {
    return configOf(this.env).shardKeyTtlMs;
  }
}

const MAX_CACHED = 10_000; // keys are at most 256 characters: a few MB at most
const cache = new Map<string, RegionHint>(); // insertion order: oldest first
const looking = new Map<string, SharedWork<RegionHint>>(); // one lookup per key at a time

/** The key's home if this isolate has looked it up before (no call). */
export const cachedHome = (key: string): RegionHint | undefined => cache.get(key);

/** The key's home region if it has one, without giving it one; `near` only places a new (empty) object. */
export async function knownHomeOf(homes: DurableObjectNamespace<HomeDO>, key: string, near: RegionHint): Promise<RegionHint | null> {
  const cached = cache.get(key);
  if (cached) return cached;
  const home = await homes.get(homes.idFromName(key), { locationHint: near }).lookup();
  if (home) {
    if (!cache.has(key) && cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value!);
    cache.set(key, home);
  }
  return home;
}

const pinned = new Set<string>(); // keys this isolate has pinned (bounded as the cache)

/** Whether this isolate has pinned the key's home (a feature write then needs no call). */
export const isPinned = (key: string): boolean => pinned.has(key);

/**
 * The key's home region; `claim` is what a key seen for the first time gets. `pin` (a write of
 * feature values) pins the home once per isolate, even when the home is cached.
 */
export function homeOf(homes: DurableObjectNamespace<HomeDO>, key: string, claim: RegionHint, pin = false): Promise<RegionHint> {
  if (pin && !pinned.has(key)) {
    return homes
      .get(homes.idFromName(key), { locationHint: claim })
      .claim(claim, true)
      .then((home) => {
        if (pinned.size >= MAX_CACHED) pinned.delete(pinned.values().next().value!);
        pinned.add(key);
        if (!cache.has(key) && cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value!);
        cache.set(key, home);
        return home;
      });
  }
  const cached = cache.get(key);
  if (cached) return Promise.resolve(cached);
  const pending = looking.get(key);
  if (pending) return pending.join();
  const work = homes
    .get(homes.idFromName(key), { locationHint: claim })
    .claim(claim)
    .then((home) => {
      if (!cache.has(key) && cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value!);
      cache.set(key, home);
      return home;
    })
    .finally(() => looking.delete(key));
  looking.set(key, new SharedWork(work));
  return work;
}

// ReplicaDO: a copy, in one region, of feature values whose home shard is in another, for views
// with consistency "bounded". One object per (home shard, region), created with the region's
// location hint. It keeps the entities read through it, each view's values with the time the copy
// was taken (fetched_at: the moment the request to the home shard was sent, so the copy holds
// every write the home acknowledged before it). A read gets the copy only while it is younger
// than the bound it is asked for; an older or missing copy is fetched from the home shard within
// the read (then the answer is as fresh as a strong read). In the background (its alarm), it
// fetches again, in one call to the home shard, the copies that are older than half their bound
// and still being read, so hot entities are answered here without a hop to the home region.
import { DurableObject } from "cloudflare:workers";
import type { StoredFeatures } from "../../shared/feature-inputs";
import type { Shard } from "../../shared/hashring";
import type { ShardDO } from "../callers/shard-do";
import type { Vars } from "../config";

interface Bindings extends Vars {
  SHARDS: DurableObjectNamespace<ShardDO>;
}

/** What a replica answered: the values, and how old the oldest copy it used was (0: fetched now). */
export interface ReplicaRead {
  features: StoredFeatures;
  /** "replica": every view from a copy within the bound; "home": fetched from the home shard in this read. */
  source: "replica" | "home";
  ageMs: number;
}

/** Copies not read for this long are dropped rather than refreshed. */
const IDLE_MS = 60_000;
/** The alarm never runs more often than this, whatever the bounds. */
const MIN_REFRESH_MS = 50;

type CopyRow = { view: string; fetched_at: number; values_json: string; bound_ms: number };

export class ReplicaDO extends DurableObject<Bindings> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Bindings) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    // One row per (entity, view): its values as the home held them at fetched_at.
    this.sql.exec(`CREATE TABLE IF NOT EXISTS copies (
      entity TEXT NOT NULL,
      view TEXT NOT NULL,
      values_json TEXT NOT NULL,
      fetched_at INTEGER NOT NULL,
      last_read INTEGER NOT NULL,
      bound_ms INTEGER NOT NULL,
      PRIMARY KEY (entity, view)
    ) WITHOUT ROWID`);
    this.sql.exec("CREATE TABLE IF NOT EXISTS home (id TEXT NOT NULL, region TEXT NOT NULL)");
  }

  /** The entity's values of these views, never older than `maxStalenessMs`. */
  async read(home: Shard, entity: string, views: string[], maxStalenessMs: number): Promise<ReplicaRead> {
    this.remember(home);
    const now = Date.now();
    const copies = this.sql
      .exec<CopyRow>(`SELECT view, fetched_at, values_json, bound_ms FROM copies WHERE entity = ? AND view IN (${views.map(() => "?").join(", ")})`, entity, ...views)
      .toArray();
    const fresh = copies.length === views.length && copies.every((c) => now - c.fetched_at <= maxStalenessMs);
    if (fresh) {
      this.sql.exec(`UPDATE copies SET last_read = ? WHERE entity = ? AND view IN (${views.map(() => "?").join(", ")})`, now, entity, ...views);
      const features: StoredFeatures = {};
      for (const c of copies) {
        const values = JSON.parse(c.values_json) as StoredFeatures[string];
        if (Object.keys(values).length > 0) features[c.view] = values;
      }
      return { features, source: "replica", ageMs: Math.max(...copies.map((c) => now - c.fetched_at)) };
    }
    const fetchedAt = Date.now();
    const features = await this.shard(home).readFeatures(entity, views);
    this.store(entity, views, features, fetchedAt, maxStalenessMs, Date.now());
    await this.schedule(maxStalenessMs);
    return { features, source: "home", ageMs: 0 };
  }

  /** Refreshes the copies still being read that are past half their bound; drops idle ones. */
  override async alarm(): Promise<void> {
    const now = Date.now();
    this.sql.exec("DELETE FROM copies WHERE last_read < ?", now - IDLE_MS);
    const home = this.sql.exec<{ id: string; region: Shard["region"] }>("SELECT id, region FROM home").toArray()[0];
    const due = this.sql.exec<{ entity: string; view: string; bound_ms: number }>("SELECT entity, view, bound_ms FROM copies WHERE fetched_at + bound_ms / 2 <= ?", now).toArray();
    if (home && due.length > 0) {
      const byEntity = new Map<string, string[]>();
      for (const d of due) byEntity.set(d.entity, [...(byEntity.get(d.entity) ?? []), d.view]);
      const fetchedAt = Date.now();
      const read = await this.shard(home).readMany([...byEntity].map(([entity, views]) => ({ entity, views })));
      for (const { entity, views, features } of read) {
        const bound = due.find((d) => d.entity === entity)!.bound_ms;
        this.store(entity, views, features, fetchedAt, bound, null);
      }
    }
    const next = this.sql.exec<{ at: number | null }>("SELECT MIN(fetched_at + bound_ms / 2) AS at FROM copies").toArray()[0]?.at;
    if (next !== null && next !== undefined) await this.ctx.storage.setAlarm(Math.max(next, Date.now() + MIN_REFRESH_MS));
  }

  /** When each view's copy of the entity was taken (tests, diagnostics). */
  copiesOf(entity: string): Record<string, number> {
    return Object.fromEntries(this.sql.exec<{ view: string; fetched_at: number }>("SELECT view, fetched_at FROM copies WHERE entity = ?", entity).toArray().map((r) => [r.view, r.fetched_at]));
  }

  private store(entity: string, views: string[], features: StoredFeatures, fetchedAt: number, boundMs: number, readAt: number | null): void {
    for (const view of views) {
      // A refresh that raced a newer fetch keeps the newer copy.
      this.sql.exec(
        `INSERT INTO copies (entity, view, values_json, fetched_at, last_read, bound_ms) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT(entity, view) DO UPDATE SET values_json = excluded.values_json, fetched_at = excluded.fetched_at,
           bound_ms = MIN(copies.bound_ms, excluded.bound_ms), last_read = MAX(copies.last_read, excluded.last_read)
         WHERE excluded.fetched_at > copies.fetched_at`,
        entity,
        view,
        JSON.stringify(features[view] ?? {}),
        fetchedAt,
        readAt ?? 0,
        boundMs,
      );
    }
  }

  private remember(home: Shard): void {
    if (this.sql.exec("SELECT 1 FROM home").toArray().length === 0) this.sql.exec("INSERT INTO home (id, region) VALUES (?, ?)", home.id, home.region);
  }

  private async schedule(boundMs: number): Promise<void> {
    const at = Date.now() + Math.max(MIN_REFRESH_MS, Math.floor(boundMs / 2));
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
  }

  private shard(home: Shard): DurableObjectStub<ShardDO> {
    return this.env.SHARDS.get(this.env.SHARDS.idFromName(home.id), { locationHint: home.region });
  }
}

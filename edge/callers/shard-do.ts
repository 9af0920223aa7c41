// ShardDO: one per shard of the hash ring, SQLite-backed, holding per-key state (request
// counters and a token-bucket rate limit). The object is the only writer of its keys and each
// method runs its read-modify-write synchronously (SQL calls do not yield), so no two calls for
// a key interleave: every touch sees the result of the one before it (linearizable).
// Keys idle for longer than SHARD_KEY_TTL_MS are deleted by a daily alarm, so a shard's storage
// follows its active callers rather than everyone it has ever seen.
// The shard also holds its keys' feature values (one row per entity, view and feature, with the
// event time it was written for): a touch can return them in the same call that counts the
// caller. Writes are last-writer-wins by event time (see putFeatures); feature rows are not
// pruned with the counters (an entity that never calls still has features).
import { DurableObject } from "cloudflare:workers";
import type { FeatureRow } from "../../shared/feature-rows";
import type { Scalar, StoredFeatures } from "../../shared/feature-inputs";
import { configOf, type Vars } from "../config";

const DAY_MS = 86_400_000;

export interface RateLimit {
  /** Requests allowed per window; 0 (or less) turns the limit off and only counts. */
  limit: number;
  windowMs: number;
}

export interface Touch {
  /** Requests seen for this key, this one included (refused ones too). */
  count: number;
  allowed: boolean;
  /** Requests that would be allowed right now after this one. */
  remaining: number;
  /** Epoch ms when the next request would be allowed (now, when one still is). */
  retryAt: number;
  /** Epoch ms when the bucket is full again. */
  resetAt: number;
}

export interface KeyState {
  count: number;
  firstSeen: number;
  lastSeen: number;
  /** Tokens left as of lastSeen. */
  tokens: number;
}

/** What one written row did: values stored, and values not stored because a newer one was there. */
export interface RowWrite {
  applied: number;
  superseded: number;
}

type Row = { count: number; first_seen: number; last_seen: number; tokens: number; tokens_at: number };

export class ShardDO extends DurableObject<Vars> {
  private readonly sql: SqlStorage;
  /** Whether this instance has made sure the pruning alarm is scheduled. */
  private alarmChecked = false;

  constructor(ctx: DurableObjectState, env: Vars) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`CREATE TABLE IF NOT EXISTS keys (
      key TEXT PRIMARY KEY,
      count INTEGER NOT NULL,
      first_seen INTEGER NOT NULL,
      last_seen INTEGER NOT NULL,
      tokens REAL NOT NULL,
      tokens_at INTEGER NOT NULL
    )`);
    this.sql.exec("CREATE INDEX IF NOT EXISTS keys_last_seen ON keys (last_seen)");
    // value: the feature's elements as a JSON array; event_time and written_at in epoch ms.
    this.sql.exec(`CREATE TABLE IF NOT EXISTS features (
      entity TEXT NOT NULL,
      view TEXT NOT NULL,
      feature TEXT NOT NULL,
      value TEXT NOT NULL,
      event_time INTEGER NOT NULL,
      written_at INTEGER NOT NULL,
      PRIMARY KEY (entity, view, feature)
    ) WITHOUT ROWID`);
  }

  /** Deletes keys idle for longer than the TTL; runs daily while the shard holds any key. */
  override async alarm(): Promise<void> {
    this.prune(Date.now());
    if (this.sql.exec("SELECT 1 FROM keys LIMIT 1").toArray().length > 0) await this.ctx.storage.setAlarm(Date.now() + DAY_MS);
    else this.alarmChecked = false; // empty: the next touch schedules it again
  }

  /** Deletes the keys last seen before now − TTL; returns how many. */
  prune(now: number): number {
    const ttl = configOf(this.env).shardKeyTtlMs;
    return this.sql.exec("DELETE FROM keys WHERE last_seen < ?", now - ttl).rowsWritten;
  }

  /**
   * Counts a request for `key` and takes a token from its bucket if one is left; with `views`,
   * also returns the key's stored values of those feature views, read in the same synchronous
   * step (so they are as of this touch: every write the shard acknowledged before it is seen).
   */
  async touch(key: string, limit: RateLimit, views?: string[]): Promise<Touch & { features?: StoredFeatures }> {
    const touched = this.touchNow(key, limit); // synchronous: the read-modify-write is atomic
    const result = views ? { ...touched, features: this.readNow(key, views) } : touched;
    if (!this.alarmChecked) {
      // The touch is already counted: a failure here must not fail it (a retry elsewhere would count it twice).
      try {
        if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now() + DAY_MS);
        this.alarmChecked = true;
      } catch (err) {
        console.error("ShardDO: could not schedule the pruning alarm:", err instanceof Error ? err.message : String(err));
      }
    }
    return result;
  }

  private touchNow(key: string, { limit, windowMs }: RateLimit): Touch {
    const now = Date.now();
    const row = this.row(key);
    const unlimited = !(limit > 0);
    const rate = unlimited ? 0 : limit / windowMs; // tokens per ms
    let tokens = unlimited ? 0 : row ? Math.min(limit, row.tokens + (now - row.tokens_at) * rate) : limit;
    const allowed = unlimited || tokens >= 1;
    if (allowed && !unlimited) tokens -= 1;
    const count = (row?.count ?? 0) + 1;
    this.sql.exec(
      `INSERT INTO keys (key, count, first_seen, last_seen, tokens, tokens_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT(key) DO UPDATE SET count = excluded.count, last_seen = excluded.last_seen,
         tokens = excluded.tokens, tokens_at = excluded.tokens_at`,
      key,
      count,
      row?.first_seen ?? now,
      now,
      tokens,
      now,
    );
    if (unlimited) return { count, allowed, remaining: Number.MAX_SAFE_INTEGER, retryAt: now, resetAt: now };
    return {
      count,
      allowed,
      remaining: Math.floor(tokens),
      retryAt: tokens >= 1 ? now : now + Math.ceil((1 - tokens) / rate),
      resetAt: now + Math.ceil((limit - tokens) / rate),
    };
  }

  /** The entity's stored values of these views, without counting a request (anonymous callers). */
  readFeatures(entity: string, views: string[]): StoredFeatures {
    return this.readNow(entity, views);
  }

  /** Several entities' values at once (a regional replica refreshing its copies in one call). */
  readMany(reads: Array<{ entity: string; views: string[] }>): Array<{ entity: string; views: string[]; features: StoredFeatures }> {
    return reads.map(({ entity, views }) => ({ entity, views, features: this.readNow(entity, views) }));
  }

  /**
   * Stores rows of one view. Each row is applied in its own transaction (all of its values or
   * none); each value replaces the stored one only when its event_time is later, or equal with a
   * larger JSON encoding of the value: the final state is the same whatever order rows (and
   * replays) arrive in, and a replay of a stored row changes nothing.
   */
  putFeatures(view: string, rows: FeatureRow[]): RowWrite[] {
    const now = Date.now();
    return rows.map((row) =>
      this.ctx.storage.transactionSync(() => {
        let applied = 0;
        for (const [feature, value] of Object.entries(row.values)) {
          applied += this.sql.exec(
            `INSERT INTO features (entity, view, feature, value, event_time, written_at) VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT(entity, view, feature) DO UPDATE SET value = excluded.value, event_time = excluded.event_time, written_at = excluded.written_at
             WHERE excluded.event_time > features.event_time OR (excluded.event_time = features.event_time AND excluded.value > features.value)`,
            row.entity,
            view,
            feature,
            JSON.stringify(value),
            row.eventTime,
            now,
          ).rowsWritten;
        }
        return { applied, superseded: Object.keys(row.values).length - applied };
      }),
    );
  }

  private readNow(entity: string, views: string[]): StoredFeatures {
    const out: StoredFeatures = {};
    if (views.length === 0) return out;
    const rows = this.sql
      .exec<{ view: string; feature: string; value: string; event_time: number }>(
        `SELECT view, feature, value, event_time FROM features WHERE entity = ? AND view IN (${views.map(() => "?").join(", ")})`,
        entity,
        ...views,
      )
      .toArray();
    for (const r of rows) (out[r.view] ??= {})[r.feature] = { value: JSON.parse(r.value) as Scalar[], eventTime: r.event_time };
    return out;
  }

  /** The key's state without counting a request. */
  get(key: string): KeyState | null {
    const row = this.row(key);
    return row ? { count: row.count, firstSeen: row.first_seen, lastSeen: row.last_seen, tokens: row.tokens } : null;
  }

  private row(key: string): Row | undefined {
    return this.sql.exec<Row>("SELECT count, first_seen, last_seen, tokens, tokens_at FROM keys WHERE key = ?", key).toArray()[0];
  }
}

// Bindings and vars the Worker is configured with (wrangler.toml), and the per-request context.
import type { HomeDO } from "./geo/homes";
import type { ShardDO } from "./geo/shard-do";
import type { ModelManager } from "./versions/manager";
import type { RegistryDO } from "./versions/registry-do";

export interface Env {
  ARTIFACTS: R2Bucket;
  POINTERS: KVNamespace;
  DB: D1Database;
  REGISTRY: DurableObjectNamespace<RegistryDO>;
  /** One ShardDO per shard of the ring: per-caller counters and rate limits. */
  SHARDS: DurableObjectNamespace<ShardDO>;
  /** One HomeDO per caller key: the region its state lives in, fixed at first contact. */
  HOMES: DurableObjectNamespace<HomeDO>;
  /** Bearer token for /admin routes (a secret; admin routes answer 503 until it is set). */
  ADMIN_TOKEN?: string;
  /** Comma-separated base64 Ed25519 public keys whose signatures the edge accepts. */
  SIGNING_PUBLIC_KEYS?: string;
  /** Local runs only: the PoP this instance plays (production uses request.cf.colo). */
  POP_COLO?: string;
  MAX_BODY_BYTES?: string;
  MAX_ARTIFACT_BYTES?: string;
  SESSION_CACHE_BYTES?: string;
  POINTER_TTL_MS?: string;
  /** Requests per minute per x-user-id (0 turns the limit off, counters stay). */
  RATE_LIMIT_PER_MINUTE?: string;
  /** Shards per region, "weur:2,enam:2,..."; every PoP must use the same (default: 2 per region). */
  SHARD_LAYOUT?: string;
  /** Peer PoPs this one may forward to: JSON [{"colo":"AMS","url":"http://...","lat"?,"lon"?}]. */
  PEERS?: string;
  /** A caller key's row in its ShardDO is deleted after this long without a request (ms; default 30 days). */
  SHARD_KEY_TTL_MS?: string;
  /** Comma-separated region hints treated as down (no peer or shard there is used). */
  DOWN_REGIONS?: string;
  /** A peer or shard that has not answered in this long has failed (ms). */
  PEER_TIMEOUT_MS?: string;
  /** Circuit breakers: K failures within the window open one; it probes again after the cooldown. */
  BREAKER_FAILURES?: string;
  BREAKER_WINDOW_MS?: string;
  BREAKER_COOLDOWN_MS?: string;
  /** Each isolate probes every peer's /v2/health/ready this often (ms; 0 turns probing off). */
  HEALTH_INTERVAL_MS?: string;
}

export type AppEnv = {
  Bindings: Env;
  Variables: { models: ModelManager };
};

export function intVar(value: string | undefined, fallback: number): number {
  const n = value === undefined ? NaN : Number(value);
  return Number.isSafeInteger(n) && n >= 0 ? n : fallback;
}

export function publicKeys(env: Env): string[] {
  return (env.SIGNING_PUBLIC_KEYS ?? "")
    .split(",")
    .map((k) => k.trim())
    .filter(Boolean);
}

// The Worker's configuration: parsed from its vars and secrets once per Env, with every default
// here. Nothing else reads `env.*` strings. A malformed value falls back to its default (a typo
// in a var must not take serving down); a malformed PEERS or DOWN_REGIONS entry is logged.
import { REGION_HINTS, type RegionHint } from "../shared/pops";
import { DEFAULT_LAYOUT, shardLayout, type ShardLayout } from "../shared/shards";
import type { BreakerOptions, BudgetOptions } from "./geo/breaker";
import { parsePeers, type Peer } from "./geo/peers";

const DAY_MS = 86_400_000;

export const DEFAULTS = {
  maxBodyBytes: 4 << 20,
  maxArtifactBytes: 32 << 20,
  // bench:ceiling (bench/results/ceiling.json): the largest fp32 model whose swap (two sessions)
  // and a request in flight fit one 128 MB isolate; 8.4 to 9.0 MiB over three runs, the lowest
  // rounded down.
  maxModelBytes: 8 << 20,
  sessionCacheBytes: 64 << 20,
  responseCacheBytes: 8 << 20,
  pointerTtlMs: 5_000,
  newVersionWaitMs: 100,
  metricsFlushMs: 10_000,
  metricsEnabled: true,
  rateLimitPerMinute: 600,
  shardKeyTtlMs: 30 * DAY_MS,
  // Each entity new to the isolate costs a HomeDO call, a subrequest (Workers Paid: 10,000 per request).
  featureBatchRows: 1_000,
  peerTimeoutMs: 2_000,
  healthIntervalMs: 10_000,
  breaker: { failures: 5, windowMs: 10_000, cooldownMs: 5_000 } satisfies BreakerOptions,
  retryBudget: { ratio: 0.1, floor: 10, windowMs: 10_000 } satisfies BudgetOptions,
} as const;

export interface Config {
  /** Request bodies above this get a 413. */
  maxBodyBytes: number;
  maxArtifactBytes: number;
  /** The largest model a PoP serves: pushes above it are refused (see shared/limits.ts). */
  maxModelBytes: number;
  /** Isolate-wide budget of loaded sessions (artifact bytes, LRU). */
  sessionCacheBytes: number;
  /** Isolate-wide budget of cached answers (bytes of output tensors, LRU). */
  responseCacheBytes: number;
  /** How long an isolate trusts its cached serving pointer. */
  pointerTtlMs: number;
  /** How long the request that discovers a new pointer waits for the new version to load. */
  newVersionWaitMs: number;
  /** Per caller (x-user-id); 0 turns the limit off, the counters stay. */
  rateLimitPerMinute: number;
  shardLayout: ShardLayout;
  /** A caller key idle this long is deleted from its shard and home. */
  shardKeyTtlMs: number;
  /** Rows one PUT /admin/features/{view} may carry (MAX_BODY_BYTES bounds its bytes too). */
  featureBatchRows: number;
  peers: Peer[];
  downRegions: ReadonlySet<RegionHint>;
  peerTimeoutMs: number;
  breaker: BreakerOptions;
  retryBudget: BudgetOptions;
  /** 0 turns active health checks off. */
  healthIntervalMs: number;
  adminToken: string | null;
  /** Bearer token for GET /metrics besides the admin token (a scraper need not be an admin). */
  metricsToken: string | null;
  /** Each isolate reports its counts to the aggregators at most this often (0: after every request). */
  metricsFlushMs: number;
  /** Off: nothing is counted (what bench:rollout compares the hot path against). */
  metricsEnabled: boolean;
  signingKeys: string[];
  /** Local runs only: the PoP this instance plays (production uses request.cf.colo). */
  popColo: string | null;
}

/** The Worker's vars and secrets (wrangler.toml [vars], `wrangler secret put`): strings, all optional. */
export interface Vars {
  /** Bearer token for /admin routes (a secret; admin routes answer 503 until it is set). */
  ADMIN_TOKEN?: string;
  /** Bearer token for GET /metrics (a secret; the admin token works too). */
  METRICS_TOKEN?: string;
  METRICS_FLUSH_MS?: string;
  /** "false" turns fleet metrics off in this Worker (default on); rollouts then see no traffic from it. */
  METRICS_ENABLED?: string;
  /** Comma-separated base64 Ed25519 public keys whose signatures the edge accepts. */
  SIGNING_PUBLIC_KEYS?: string;
  POP_COLO?: string;
  MAX_BODY_BYTES?: string;
  MAX_ARTIFACT_BYTES?: string;
  MAX_MODEL_BYTES?: string;
  SESSION_CACHE_BYTES?: string;
  RESPONSE_CACHE_BYTES?: string;
  POINTER_TTL_MS?: string;
  NEW_VERSION_WAIT_MS?: string;
  RATE_LIMIT_PER_MINUTE?: string;
  /** Shards per region, "weur:2,enam:2,..."; every PoP must use the same (default: 2 per region). */
  SHARD_LAYOUT?: string;
  SHARD_KEY_TTL_MS?: string;
  FEATURE_BATCH_ROWS?: string;
  /** Peer PoPs this one may forward to: JSON [{"colo":"AMS","url":"http://...","lat"?,"lon"?}]. */
  PEERS?: string;
  /** Comma-separated region hints treated as down (no peer or shard there is used). */
  DOWN_REGIONS?: string;
  PEER_TIMEOUT_MS?: string;
  /** Circuit breakers: K failures within the window open one; it probes again after the cooldown. */
  BREAKER_FAILURES?: string;
  BREAKER_WINDOW_MS?: string;
  BREAKER_COOLDOWN_MS?: string;
  HEALTH_INTERVAL_MS?: string;
}

const parsed = new WeakMap<Vars, Config>();

/** The config of this Env, parsed the first time it is asked for. */
export function configOf(env: Vars): Config {
  let config = parsed.get(env);
  if (!config) parsed.set(env, (config = parseConfig(env)));
  return config;
}

export function parseConfig(env: Vars): Config {
  const d = DEFAULTS;
  return {
    maxBodyBytes: positive(env.MAX_BODY_BYTES, d.maxBodyBytes),
    maxArtifactBytes: positive(env.MAX_ARTIFACT_BYTES, d.maxArtifactBytes),
    maxModelBytes: positive(env.MAX_MODEL_BYTES, d.maxModelBytes),
    sessionCacheBytes: positive(env.SESSION_CACHE_BYTES, d.sessionCacheBytes),
    responseCacheBytes: positive(env.RESPONSE_CACHE_BYTES, d.responseCacheBytes),
    pointerTtlMs: count(env.POINTER_TTL_MS, d.pointerTtlMs),
    newVersionWaitMs: count(env.NEW_VERSION_WAIT_MS, d.newVersionWaitMs),
    rateLimitPerMinute: count(env.RATE_LIMIT_PER_MINUTE, d.rateLimitPerMinute),
    shardLayout: shardLayout(env.SHARD_LAYOUT || DEFAULT_LAYOUT),
    shardKeyTtlMs: positive(env.SHARD_KEY_TTL_MS, d.shardKeyTtlMs),
    featureBatchRows: positive(env.FEATURE_BATCH_ROWS, d.featureBatchRows),
    peers: peers(env.PEERS),
    downRegions: regions(env.DOWN_REGIONS),
    peerTimeoutMs: positive(env.PEER_TIMEOUT_MS, d.peerTimeoutMs),
    breaker: {
      failures: positive(env.BREAKER_FAILURES, d.breaker.failures),
      windowMs: count(env.BREAKER_WINDOW_MS, d.breaker.windowMs),
      cooldownMs: count(env.BREAKER_COOLDOWN_MS, d.breaker.cooldownMs),
    },
    retryBudget: { ...d.retryBudget },
    healthIntervalMs: count(env.HEALTH_INTERVAL_MS, d.healthIntervalMs),
    adminToken: env.ADMIN_TOKEN || null,
    metricsToken: env.METRICS_TOKEN || null,
    metricsFlushMs: count(env.METRICS_FLUSH_MS, d.metricsFlushMs),
    metricsEnabled: env.METRICS_ENABLED === undefined || env.METRICS_ENABLED === "" ? d.metricsEnabled : !/^(false|off|0|no)$/i.test(env.METRICS_ENABLED.trim()),
    signingKeys: (env.SIGNING_PUBLIC_KEYS ?? "")
      .split(",")
      .map((k) => k.trim())
      .filter(Boolean),
    popColo: env.POP_COLO || null,
  };
}

/** A non-negative integer, else the default. */
function count(value: string | undefined, fallback: number): number {
  const n = value === undefined || value.trim() === "" ? NaN : Number(value);
  return Number.isSafeInteger(n) && n >= 0 ? n : fallback;
}

/** A positive integer, else the default (0 would mean "nothing fits"). */
function positive(value: string | undefined, fallback: number): number {
  return count(value, fallback) || fallback;
}

function peers(json: string | undefined): Peer[] {
  try {
    return parsePeers(json);
  } catch (err) {
    // A bad PEERS disables forwarding; it must not take local serving down with it.
    console.error("ignoring PEERS:", err instanceof Error ? err.message : String(err));
    return [];
  }
}

function regions(list: string | undefined): Set<RegionHint> {
  const out = new Set<RegionHint>();
  for (const r of (list ?? "").split(",").map((s) => s.trim()).filter(Boolean)) {
    if ((REGION_HINTS as readonly string[]).includes(r)) out.add(r as RegionHint);
    else console.error(`ignoring DOWN_REGIONS entry "${r}": not one of ${REGION_HINTS.join(", ")}`);
  }
  return out;
}

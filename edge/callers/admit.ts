// Admission of a prediction by its caller: counts the request and applies the rate limit in the
// caller's shard (one atomic touch), before any inference work. The shard is in the caller's home
// region (fixed at first contact, so normally the region of the PoP they reach). Callers without
// x-user-id skip it entirely, so anonymous traffic pays no shard round trip.
// A model with feature views also needs its entity's stored values: they come back from the same
// touch when the entity is the caller (the usual case: x-user-id names both), from one read of
// the entity's shard when the caller is anonymous, and from two calls in parallel only when the
// request names an entity other than its caller.
import type { Shard } from "../../shared/hashring";
import type { StoredFeatures } from "../../shared/feature-inputs";
import { shardLabel } from "../../shared/shards";
import type { RegionHint } from "../../shared/pops";
import type { Env } from "../env";
import { CallerStateUnavailable, InvalidInput, RateLimited } from "../errors";
import { locate, type CfLocation } from "../geo/peers";
import type { Mesh } from "../geo/mesh";
import { cachedHome, homeOf, isPinned, knownHomeOf } from "./homes";
import type { ShardDO } from "./shard-do";
import { shardStub } from "./shards";

export const CALLER_HEADER = "x-user-id";
const WINDOW_MS = 60_000;
const MAX_KEY_LENGTH = 256;

export interface Caller {
  key: string | undefined;
  /** The PoP the request reached and its request.cf, where a new key's home is claimed. */
  colo: string;
  /** Read only for a key this isolate has not seen: workerd parses request.cf anew on every access. */
  cf: () => CfLocation | undefined;
}

/** Feature views whose stored values for `entity` the prediction needs. */
export interface FeatureReads {
  entity: string;
  views: string[];
}

export interface Admission {
  /** The headers to add to the answer (none for anonymous callers). */
  headers: Record<string, string>;
  /** The entity's stored values, when reads were asked for (views with none are absent). */
  features: StoredFeatures | null;
}

export type Bindings = Pick<Env, "SHARDS" | "HOMES">;

/** Counts the caller and reads the entity's features, in one shard call when they are the same key. */
export async function admit(env: Bindings, mesh: Mesh, caller: Caller, reads?: FeatureReads): Promise<Admission> {
  const { key } = caller;
  if (key !== undefined && key.length > MAX_KEY_LENGTH) throw new InvalidInput(`${CALLER_HEADER} is longer than ${MAX_KEY_LENGTH} characters`);
  if (reads && reads.entity.length > MAX_KEY_LENGTH) throw new InvalidInput(`entity_id is longer than ${MAX_KEY_LENGTH} characters`);
  if (!key) return { headers: {}, features: reads ? await readAtHome(env, mesh, caller, reads) : null };
  if (reads && reads.entity !== key) {
    const [counted, features] = await Promise.all([admit(env, mesh, caller), readAtHome(env, mesh, caller, reads)]);
    return { headers: counted.headers, features };
  }
  const limit = mesh.config.rateLimitPerMinute;
  const shard = await placeKey(env, mesh, caller, key);
  const touch = await callShard(env, mesh, shard, (stub) => stub.touch(key, { limit, windowMs: WINDOW_MS }, reads?.views));
  const label = shardLabel(shard);
  if (!touch.allowed) {
    throw new RateLimited(
      `rate limit exceeded: ${limit} requests per minute for this ${CALLER_HEADER}`,
      { limit, count: touch.count, shard: label },
      (touch.retryAt - Date.now()) / 1000,
    );
  }
  const headers: Record<string, string> = { "x-meridian-shard": label, "x-meridian-requests": String(touch.count) };
  if (limit > 0) {
    headers["ratelimit-limit"] = String(limit);
    headers["ratelimit-remaining"] = String(touch.remaining);
  }
  return { headers, features: reads ? (touch.features ?? {}) : null };
}

/** A key's shard: its home region's ring owner (a key new to the world gets a home here, see home()). */
/** A key's shard, giving it a home if it has none; `pin` (a feature write) keeps that home for good. */
export async function placeKey(env: Bindings, mesh: Mesh, caller: Omit<Caller, "key">, key: string, pin = false): Promise<Shard> {
  return mesh.config.shardLayout.owner(key, await home(env, mesh, caller, key, true, pin));
}

/** A key's shard if it has a home; null for a key never seen (it has no state anywhere, and gets no home from a read). */
export async function findKey(env: Bindings, mesh: Mesh, caller: Omit<Caller, "key">, key: string): Promise<Shard | null> {
  const region = await home(env, mesh, caller, key, false);
  return region ? mesh.config.shardLayout.owner(key, region) : null;
}

/** The entity's stored values from its home shard, without counting anyone; none for an entity never seen. */
export async function readAtHome(env: Bindings, mesh: Mesh, caller: Omit<Caller, "key">, reads: FeatureReads): Promise<StoredFeatures> {
  const shard = await findKey(env, mesh, caller, reads.entity);
  return shard ? callShard(env, mesh, shard, (stub) => stub.readFeatures(reads.entity, reads.views)) : {};
}

/**
 * One call to a shard through its breaker and within the peer timeout; a down region, an open
 * breaker, a failure or no answer in time is a CallerStateUnavailable naming the shard.
 */
export async function callShard<T>(env: Bindings, mesh: Mesh, shard: Shard, call: (stub: DurableObjectStub<ShardDO>) => Promise<T>): Promise<T> {
  const { config } = mesh;
  const label = shardLabel(shard);
  const unavailable = (reason: string, retryAfterSeconds: number) =>
    new CallerStateUnavailable(`state shard ${label} is unavailable: ${reason}`, retryAfterSeconds, label);
  if (config.downRegions.has(shard.region)) throw unavailable(`region ${shard.region} is marked down`, 5);
  const breaker = mesh.shardBreakers.get(shard.id);
  if (!breaker.allow()) throw unavailable("its circuit breaker is open", breaker.retryInMs() / 1000);
  try {
    const result = await withTimeout(call(shardStub(env, shard)), config.peerTimeoutMs);
    breaker.success();
    return result;
  } catch (err) {
    breaker.failure();
    throw unavailable(err instanceof Error ? err.message : String(err), 1);
  }
}

/** The caller's home region; a key new to the world gets the region of this PoP (or the nearest one up). */
function home(env: Bindings, mesh: Mesh, caller: Omit<Caller, "key">, key: string, claim?: true, pin?: boolean): Promise<RegionHint>;
/** With `claim: false`: the key's home if it has one, else null (nothing is recorded). */
function home(env: Bindings, mesh: Mesh, caller: Omit<Caller, "key">, key: string, claim: false): Promise<RegionHint | null>;
async function home(env: Bindings, mesh: Mesh, caller: Omit<Caller, "key">, key: string, claim = true, pin = false): Promise<RegionHint | null> {
  const known = cachedHome(key);
  if (known && !(pin && !isPinned(key))) return known;
  const { config } = mesh;
  // A catalogue PoP (by colo, else by country) brings its region; bare coordinates do not. A
  // known home being pinned is claimed with its own region.
  const here = known ?? config.shardLayout.homeFor(locate(caller.colo, caller.cf()), (r) => !config.downRegions.has(r));
  if (!here) throw new CallerStateUnavailable("caller state is unavailable: no region is up to hold it", 5);
  // Home records of new keys are created near this PoP: one breaker for those lookups here.
  const breaker = mesh.shardBreakers.get(`home@${here}`);
  const unavailable = (reason: string, retryAfterSeconds: number) =>
    new CallerStateUnavailable(`the caller's home record is unavailable: ${reason}`, retryAfterSeconds);
  if (!breaker.allow()) throw unavailable("its circuit breaker is open", breaker.retryInMs() / 1000);
  try {
    const region = await withTimeout(claim ? homeOf(env.HOMES, key, here, pin) : knownHomeOf(env.HOMES, key, here), config.peerTimeoutMs);
    breaker.success();
    return region;
  } catch (err) {
    breaker.failure();
    throw unavailable(err instanceof Error ? err.message : String(err), 1);
  }
}

/** A shard that does not answer in time counts as failed rather than holding the request. */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

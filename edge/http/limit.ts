// Per-caller state for a prediction: counts the request and applies the rate limit in the
// caller's shard (one atomic touch), before any inference work. The shard is in the caller's home
// region (fixed at first contact, so normally the region of the PoP they reach). Callers without
// x-user-id skip it entirely, so anonymous traffic pays no shard round trip.
import type { Context } from "hono";
import type { Shard } from "../../shared/hashring";
import type { RegionHint } from "../../shared/pops";
import { shardLabel } from "../../shared/shards";
import { intVar, type AppEnv } from "../env";
import { cachedHome, homeOf } from "../geo/homes";
import { locate, type CfLocation } from "../geo/router";
import type { Touch } from "../geo/shard-do";
import { layoutOf, shardStub } from "../geo/shards";
import { geoState, type GeoState } from "../geo/state";
import { badRequest, HttpError } from "./errors";
import { colo } from "./pop";

export const CALLER_HEADER = "x-user-id";
const WINDOW_MS = 60_000;
const MAX_KEY_LENGTH = 256;

/** This PoP cannot reach the caller's state (its home or its shard); a peer may (see the failover middleware). */
export class ShardUnavailableError extends HttpError {
  constructor(what: Shard | string, reason: string, retryAfterSeconds: number) {
    const label = typeof what === "string" ? what : `state shard ${shardLabel(what)}`;
    super(503, `${label} is unavailable: ${reason}`, {
      "retry-after": String(retryAfterSeconds),
      ...(typeof what === "string" ? {} : { "x-meridian-shard": shardLabel(what) }),
    });
    this.name = "ShardUnavailableError";
  }
}

export async function admit(c: Context<AppEnv>): Promise<void> {
  const key = c.req.header(CALLER_HEADER);
  if (!key) return;
  if (key.length > MAX_KEY_LENGTH) throw badRequest(`${CALLER_HEADER} is longer than ${MAX_KEY_LENGTH} characters`);
  const limit = intVar(c.env.RATE_LIMIT_PER_MINUTE, 600);
  const state = geoState(c.env);
  const layout = layoutOf(c.env);
  const shard = layout.owner(key, await home(c, key, state));
  if (state.down.has(shard.region)) throw new ShardUnavailableError(shard, `region ${shard.region} is marked down`, 5);
  const breaker = state.shardBreakers.get(shard.id);
  if (!breaker.allow()) throw new ShardUnavailableError(shard, "its circuit breaker is open", Math.max(1, Math.ceil(breaker.retryInMs() / 1000)));

  let touch: Touch;
  try {
    touch = await withTimeout(shardStub(c.env, shard).touch(key, { limit, windowMs: WINDOW_MS }), state.timeoutMs);
    breaker.success();
  } catch (err) {
    breaker.failure();
    throw new ShardUnavailableError(shard, err instanceof Error ? err.message : String(err), 1);
  }

  const headers: Record<string, string> = {
    "x-meridian-shard": shardLabel(shard),
    "x-meridian-requests": String(touch.count),
  };
  if (limit > 0) {
    headers["ratelimit-limit"] = String(limit);
    headers["ratelimit-remaining"] = String(touch.remaining);
  }
  if (!touch.allowed) {
    const wait = Math.max(1, Math.ceil((touch.retryAt - Date.now()) / 1000));
    throw new HttpError(429, `rate limit exceeded: ${limit} requests per minute for this ${CALLER_HEADER}`, { ...headers, "retry-after": String(wait) });
  }
  for (const [k, v] of Object.entries(headers)) c.header(k, v);
}

/** The caller's home region; a key new to the world gets the region of this PoP (or the nearest one up). */
async function home(c: Context<AppEnv>, key: string, state: GeoState): Promise<RegionHint> {
  const known = cachedHome(key);
  if (known) return known;
  const self = colo(c.req.raw, c.env);
  // A catalogue PoP (by colo, else by country) brings its region; bare coordinates do not.
  const here = locate(self, c.req.raw.cf as CfLocation | undefined);
  const claim = layoutOf(c.env).homeFor(here, (r) => !state.down.has(r));
  if (!claim) throw new ShardUnavailableError("caller state", "no region is up to hold it", 5);
  // Home records of new keys are created near this PoP: one breaker for those lookups here.
  const breaker = state.shardBreakers.get(`home@${claim}`);
  if (!breaker.allow()) throw new ShardUnavailableError("the caller's home record", "its circuit breaker is open", Math.max(1, Math.ceil(breaker.retryInMs() / 1000)));
  try {
    const home = await withTimeout(homeOf(c.env, key, claim), state.timeoutMs);
    breaker.success();
    return home;
  } catch (err) {
    breaker.failure();
    throw new ShardUnavailableError("the caller's home record", err instanceof Error ? err.message : String(err), 1);
  }
}

/** A shard that does not answer in time counts as failed rather than holding the request. */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

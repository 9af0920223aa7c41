// Per-caller state for a prediction: counts the request and applies the rate limit in the
// caller's shard (one atomic touch), before any inference work. Callers without x-user-id
// skip it entirely, so anonymous traffic pays no shard round trip.
import type { Context } from "hono";
import type { Shard } from "../../shared/hashring";
import { intVar, type AppEnv } from "../env";
import type { Touch } from "../geo/shard-do";
import { shardFor, shardLabel, shardStub } from "../geo/shards";
import { geoState } from "../geo/state";
import { badRequest, HttpError } from "./errors";

export const CALLER_HEADER = "x-user-id";
const WINDOW_MS = 60_000;
const MAX_KEY_LENGTH = 256;

/** This PoP cannot reach the caller's shard; a peer may (see the failover middleware). */
export class ShardUnavailableError extends HttpError {
  constructor(shard: Shard, reason: string, retryAfterSeconds: number) {
    super(503, `state shard ${shardLabel(shard)} is unavailable: ${reason}`, {
      "retry-after": String(retryAfterSeconds),
      "x-meridian-shard": shardLabel(shard),
    });
    this.name = "ShardUnavailableError";
  }
}

export async function admit(c: Context<AppEnv>): Promise<void> {
  const key = c.req.header(CALLER_HEADER);
  if (!key) return;
  if (key.length > MAX_KEY_LENGTH) throw badRequest(`${CALLER_HEADER} is longer than ${MAX_KEY_LENGTH} characters`);
  const limit = intVar(c.env.RATE_LIMIT_PER_MINUTE, 600);
  const shard = shardFor(c.env, key);
  const state = geoState(c.env);
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

/** A shard that does not answer in time counts as failed rather than holding the request. */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

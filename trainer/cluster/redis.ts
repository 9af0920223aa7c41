// Redis connections for the coordinator and the workers, with a fail-fast probe: ioredis retries
// forever by default, which would turn "Redis is down" into a silent hang.
import { Redis, type RedisOptions } from "ioredis";

export class RedisUnavailableError extends Error {
  override name = "RedisUnavailableError";
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString().replace(/\/$/, "");
  } catch {
    return url;
  }
}

/** Connects once with no retries and PINGs; throws RedisUnavailableError with the cause. */
export async function probeRedis(url: string, timeoutMs = 3000): Promise<void> {
  let lastError: Error | undefined;
  const r = new Redis({
    ...redisOptions(url),
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  r.on("error", (err: Error) => {
    lastError = err;
  });
  try {
    await Promise.race([
      (async () => {
        await r.connect();
        await r.ping();
      })(),
      new Promise((_, reject) => setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs).unref()),
    ]);
  } catch (err) {
    const why = (lastError ?? (err as Error)).message || String(err);
    throw new RedisUnavailableError(`cannot reach Redis at ${redactUrl(url)}: ${why}`);
  } finally {
    r.disconnect();
  }
}

/** ioredis options from a redis:// or rediss:// URL (for BullMQ, which then owns the connection). */
export function redisOptions(url: string): RedisOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new RedisUnavailableError(`not a Redis URL: ${url} (expected redis://host:port[/db])`);
  }
  if (u.protocol !== "redis:" && u.protocol !== "rediss:") {
    throw new RedisUnavailableError(`not a Redis URL: ${redactUrl(url)} (expected redis:// or rediss://)`);
  }
  const opts: RedisOptions = { host: u.hostname || "127.0.0.1", port: u.port ? Number(u.port) : 6379 };
  if (u.username) opts.username = decodeURIComponent(u.username);
  if (u.password) opts.password = decodeURIComponent(u.password);
  const db = u.pathname.replace(/^\//, "");
  if (db) opts.db = Number(db);
  if (u.protocol === "rediss:") opts.tls = {};
  return opts;
}

/**
 * A long-lived connection (BullMQ needs maxRetriesPerRequest: null). It reconnects after a blip;
 * callers probe first so that "never reachable" fails fast.
 */
export function connectRedis(url: string, opts: RedisOptions = {}): Redis {
  const r = new Redis({ ...redisOptions(url), maxRetriesPerRequest: null, enableReadyCheck: true, ...opts });
  r.on("error", () => {
    // reconnects on its own; a failing command surfaces the error where it matters
  });
  return r;
}

/** `--reduce-redis` (or REDUCE_REDIS_URLS): a comma-separated list of redis:// URLs, each checked; [] when unset. */
export function reduceRedisUrls(flag: string | undefined): string[] {
  const raw = (flag ?? process.env.REDUCE_REDIS_URLS ?? "").trim();
  if (raw === "") return [];
  const urls = raw.split(",").map((u) => u.trim()).filter(Boolean);
  for (const u of urls) redisOptions(u); // a bad URL is a clear error now, not at the first step
  return urls;
}

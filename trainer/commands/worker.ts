// `meridian worker`: serve gradient jobs until SIGINT/SIGTERM.
import { UsageError } from "../errors";
import { parseBackendChoice } from "../train/backend-choice";

export type WorkerCommandOptions = {
  redisUrl?: string;
  prefix: string;
  backend: string;
  concurrency: number;
  lockMs: number;
  stalledMs: number;
  slowMs?: number;
  /** Shard-set jobs: the shard cache's byte budget, and S3 options for s3:// sets. */
  cache?: number;
  s3Endpoint?: string;
  s3Region?: string;
  /** Replicated runs' reduce nodes (comma-separated; env REDUCE_REDIS_URLS). */
  reduceRedis?: string;
  json: boolean;
  quiet: boolean;
  verbose?: boolean;
};

export async function runWorkerCommand(o: WorkerCommandOptions): Promise<void> {
  const url = (o.redisUrl ?? process.env.REDIS_URL)?.trim() || undefined;
  if (!url) throw new UsageError("meridian worker needs a Redis: set REDIS_URL or pass --redis-url");
  parseBackendChoice(o.backend);
  const [{ startGradientWorker }, { redactUrl, probeRedis, reduceRedisUrls }, { describeBackend, selectBackend }] = await Promise.all([
    import("../cluster/worker"),
    import("../cluster/redis"),
    import("../train/backend"),
  ]);
  await probeRedis(url); // Redis down: say so before loading a backend
  const reduceRedis = reduceRedisUrls(o.reduceRedis);
  for (const u of reduceRedis) await probeRedis(u);
  // People get a line per event except gradients, which are summarised every 10 s (--verbose: each).
  let window = { n: 0, ms: 0 };
  const print = (event: string, data: Record<string, unknown>, human: string): void => {
    if (o.json) process.stdout.write(`${JSON.stringify({ event, time: new Date().toISOString(), ...data })}\n`);
    else if (event !== "gradient" || o.verbose) process.stdout.write(`${human}\n`);
    if (event === "gradient") window = { n: window.n + 1, ms: window.ms + Number(data.ms ?? 0) };
  };
  const summary = setInterval(() => {
    if (!o.json && !o.quiet && !o.verbose && window.n > 0) {
      process.stdout.write(`${window.n} gradients in the last 10 s (mean compute ${(window.ms / window.n).toFixed(1)} ms)\n`);
    }
    window = { n: 0, ms: 0 };
  }, 10_000);
  summary.unref();
  const backend = await selectBackend(o.backend);
  print("backend", { backend: backend.name, detail: backend.detail }, describeBackend(backend));
  const w = await startGradientWorker({
    redisUrl: url,
    prefix: o.prefix,
    concurrency: o.concurrency,
    lockMs: o.lockMs,
    stalledMs: o.stalledMs,
    ...(o.slowMs ? { slowMs: o.slowMs } : {}),
    ...(o.cache !== undefined ? { cacheBytes: o.cache } : {}),
    ...(reduceRedis.length ? { reduceRedis } : {}),
    ...(o.s3Endpoint || o.s3Region ? { s3: { ...(o.s3Endpoint ? { endpoint: o.s3Endpoint } : {}), ...(o.s3Region ? { region: o.s3Region } : {}) } } : {}),
    log: (event, data) => print(event, data, `${event} ${Object.entries(data).map(([k, v]) => `${k}=${String(v)}`).join(" ")}`),
  });
  print("ready", { worker: w.id, redis: redactUrl(url), prefix: o.prefix }, `worker ${w.id} ready on ${redactUrl(url)} (prefix ${o.prefix})`);
  await new Promise<void>((resolveStop) => {
    const stop = (signal: string): void => {
      print("stopping", { signal }, `${signal}: finishing the current job and stopping`);
      void w.close().then(resolveStop);
    };
    process.once("SIGINT", () => stop("SIGINT"));
    process.once("SIGTERM", () => stop("SIGTERM"));
  });
  print("stopped", { ...w.stats }, `stopped (${w.stats.won} gradients delivered first, ${w.stats.late} late, ${w.stats.stale} stale, ${w.stats.yielded} handed back, ${w.stats.failed} failed)`);
}

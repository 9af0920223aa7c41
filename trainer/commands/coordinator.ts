// `meridian coordinator --standby`: waits for a cluster run whose coordinator is gone and takes it
// over. Every `train --cluster` stores its options (runSpec, train.ts) under the run's spec key and
// its run id in the prefix's run set; a standby polls them, and for a run with a spec and no lease
// runs the stored options through runTrainCommand: it takes the lease (with the next fencing
// epoch), resumes from the run's checkpoint and finishes the run (export to the spec's --out).
// Any number of standbys may wait; the lease lets one of them win, the others keep waiting.
import { UsageError } from "../errors";
import type { TrainEvents } from "../train/events";
import { JsonEvents, HumanEvents } from "../train/progress";
import { runTrainCommand, type TrainCommandOptions } from "./train";

export type CoordinatorCommandOptions = {
  standby?: boolean;
  redisUrl?: string;
  prefix: string;
  /** How often to look for runs without a coordinator. */
  pollMs: number;
  json: boolean;
  /** Stop after the first run it took over and finished (tests, scripts). */
  once?: boolean;
  /** Replicated runs' reduce nodes (never stored with a run's spec: URLs may carry credentials). */
  reduceRedis?: string;
};

export async function runCoordinatorCommand(o: CoordinatorCommandOptions, events?: TrainEvents): Promise<void> {
  if (!o.standby) throw new UsageError("meridian coordinator needs --standby (a coordinator for a new run is `meridian train --cluster`)");
  const redisUrl = (o.redisUrl ?? process.env.REDIS_URL)?.trim() || undefined;
  if (!redisUrl) throw new UsageError("meridian coordinator --standby needs a Redis: set REDIS_URL (or pass --redis-url)");
  const [{ connectRedis, probeRedis, redactUrl }, { keysFor }] = await Promise.all([import("../cluster/redis"), import("../cluster/protocol")]);
  await probeRedis(redisUrl);
  const ev = events ?? (o.json ? new JsonEvents() : new HumanEvents());
  const keys = keysFor(o.prefix);
  const redis = connectRedis(redisUrl);
  ev.info(`standby on ${redactUrl(redisUrl)} (prefix ${o.prefix}): waiting for a run without a coordinator`, { standby: true, prefix: o.prefix });
  try {
    for (;;) {
      for (const runId of await redis.smembers(keys.runs)) {
        const raw = await redis.get(keys.spec(runId));
        if (raw === null) {
          await redis.srem(keys.runs, runId); // finished (or expired): forget it
          continue;
        }
        if ((await redis.exists(keys.lease(runId))) === 1) continue; // its coordinator is alive
        const spec = JSON.parse(raw) as TrainCommandOptions;
        ev.info(`run ${runId}: no coordinator; taking over`, { takeover: runId });
        try {
          const reduceRedis = spec.reduce === "replicated" ? (o.reduceRedis ?? process.env.REDUCE_REDIS_URLS) : undefined;
          await runTrainCommand({ ...spec, redisUrl, json: o.json, fresh: false, ...(reduceRedis ? { reduceRedis } : {}) }, ev);
          ev.info(`run ${runId}: finished`, { finished: runId });
          if (o.once) return;
        } catch (err) {
          // Another standby won the lease, or the run failed here: keep standing by.
          ev.info(`run ${runId}: ${err instanceof Error ? err.message : String(err)}`, { failed: runId });
        }
      }
      await new Promise((r) => setTimeout(r, o.pollMs));
    }
  } finally {
    redis.disconnect();
  }
}

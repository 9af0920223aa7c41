// The Worker's bindings (wrangler.toml). Vars are declared and parsed in config.ts; the Durable
// Object classes declare the bindings they use themselves, so none of them imports this file.
import type { HomeDO } from "./callers/homes";
import type { ShardDO } from "./callers/shard-do";
import type { ReplicaDO } from "./features/replica-do";
import type { Vars } from "./config";
import type { MetricsDO } from "./metrics/aggregator-do";
import type { RegistryDO } from "./versions/registry-do";

export interface Env extends Vars {
  ARTIFACTS: R2Bucket;
  POINTERS: KVNamespace;
  DB: D1Database;
  /** One RegistryDO per model: the single writer of its serving pointer. */
  REGISTRY: DurableObjectNamespace<RegistryDO>;
  /** One ShardDO per shard of a region's ring: per-caller counters and rate limits. */
  SHARDS: DurableObjectNamespace<ShardDO>;
  /** One HomeDO per caller key: the region its state lives in, fixed at first contact. */
  HOMES: DurableObjectNamespace<HomeDO>;
  /** One ReplicaDO per (home shard, region): copies of feature values for views with bounded consistency. */
  REPLICAS: DurableObjectNamespace<ReplicaDO>;
  /** One MetricsDO per model: the fleet's totals of its series, per PoP. */
  METRICS: DurableObjectNamespace<MetricsDO>;
}

// Bindings and vars the Worker is configured with (wrangler.toml), and the per-request context.
import type { ModelManager } from "./versions/manager";

export interface Env {
  ARTIFACTS: R2Bucket;
  POINTERS: KVNamespace;
  DB: D1Database;
  MAX_BODY_BYTES?: string;
  SESSION_CACHE_BYTES?: string;
  POINTER_TTL_MS?: string;
}

export type AppEnv = {
  Bindings: Env;
  Variables: { models: ModelManager };
};

export function intVar(value: string | undefined, fallback: number): number {
  const n = value === undefined ? NaN : Number(value);
  return Number.isSafeInteger(n) && n > 0 ? n : fallback;
}

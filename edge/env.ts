// Bindings and vars the Worker is configured with (wrangler.toml), and the per-request context.
import type { ModelManager } from "./versions/manager";
import type { RegistryDO } from "./versions/registry-do";

export interface Env {
  ARTIFACTS: R2Bucket;
  POINTERS: KVNamespace;
  DB: D1Database;
  REGISTRY: DurableObjectNamespace<RegistryDO>;
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

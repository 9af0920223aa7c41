// The serving pointer of a model as RegistryDO announces it through KV. `seq` grows with every
// change, so a PoP that already holds a newer pointer ignores a late or repeated one.
import { z } from "zod";

const Percent = z.number().min(0).max(100);

export const CanarySchema = z.object({
  version: z.number().int().positive(),
  /** Share of callers (0 < percent ≤ 100) that get the canary. */
  percent: Percent,
  /**
   * Shares that differ by place, keyed by PoP (colo, "FRA") or region hint ("weur"); a PoP uses
   * its own, else its region's, else `percent`. How a rollout limits a canary to part of the world.
   */
  where: z.record(z.string(), Percent).optional(),
});
export type Canary = z.infer<typeof CanarySchema>;

/** A version run after the answer on a sample of requests, its answer compared and thrown away. */
export const ShadowSchema = z.object({
  version: z.number().int().positive(),
  percent: Percent,
});
export type Shadow = z.infer<typeof ShadowSchema>;

export const PointerSchema = z.object({
  version: z.number().int().positive(),
  seq: z.number().int().nonnegative(),
  canary: CanarySchema.nullable().default(null),
  /**
   * The version served before this one. A PoP that cannot load `version` and serves nothing yet
   * (a fresh isolate) serves this meanwhile instead of failing every request.
   */
  fallback: z.number().int().positive().nullable().default(null),
  shadow: ShadowSchema.nullable().default(null),
  /** When the registry wrote it (ms since the epoch): how long it took to reach a PoP. */
  at: z.number().optional(),
});
export type Pointer = z.infer<typeof PointerSchema>;

export const pointerKey = (model: string) => `pointer:${model}`;

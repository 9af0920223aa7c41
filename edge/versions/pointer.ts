// The serving pointer of a model as RegistryDO announces it through KV. `seq` grows with every
// change, so a PoP that already holds a newer pointer ignores a late or repeated one.
import { z } from "zod";

export const CanarySchema = z.object({
  version: z.number().int().positive(),
  /** Share of callers (0 < percent ≤ 100) that get the canary. */
  percent: z.number().min(0).max(100),
});
export type Canary = z.infer<typeof CanarySchema>;

export const PointerSchema = z.object({
  version: z.number().int().positive(),
  seq: z.number().int().nonnegative(),
  canary: CanarySchema.nullable().default(null),
  /**
   * The version served before this one. A PoP that cannot load `version` and serves nothing yet
   * (a fresh isolate) serves this meanwhile instead of failing every request.
   */
  fallback: z.number().int().positive().nullable().default(null),
});
export type Pointer = z.infer<typeof PointerSchema>;

export const pointerKey = (model: string) => `pointer:${model}`;

// The serving pointer of a model as carried by KV. `seq` only grows, so a PoP that sees an
// older pointer than the one it holds ignores it.
import { z } from "zod";

export const PointerSchema = z.object({
  version: z.number().int().positive(),
  seq: z.number().int().nonnegative(),
});
export type Pointer = z.infer<typeof PointerSchema>;

export const pointerKey = (model: string) => `pointer:${model}`;
export const artifactKey = (sha256: string) => `artifacts/${sha256}`;

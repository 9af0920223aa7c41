// Policy (after TensorFlow Serving's AspiredVersionPolicy): the decisions about which version a
// request gets, apart from the manager that loads and holds versions. Entirely stateless and
// idempotent: the same inputs always give the same answer.
import { murmur3 } from "../../shared/hashring";
import { popByCode } from "../../shared/pops";
import type { Canary, Pointer } from "./pointer";

export type Variant = "stable" | "canary" | "pinned" | "fallback" | "shadow";

/** Sticky canary bucket in [0, 10000): the same caller always lands on the same side. */
export function bucket(model: string, callerKey: string): number {
  return murmur3(`${model}\u0000${callerKey}`) % 10_000;
}

/** Whether this caller gets the canary of a split at `percent`. */
export function takesCanary(model: string, callerKey: string, percent: number): boolean {
  return bucket(model, callerKey) < percent * 100;
}

/** The canary's share at one PoP: the PoP's own, else its region's, else the canary's percent. */
export function canaryShare(canary: Pick<Canary, "percent" | "where">, colo: string): number {
  const where = canary.where;
  if (!where) return canary.percent;
  const region = popByCode(colo)?.region;
  return where[colo.toUpperCase()] ?? (region !== undefined ? where[region] : undefined) ?? canary.percent;
}

/**
 * What an isolate that serves nothing yet may serve while the announced pointer cannot be loaded,
 * best first: a broken canary must not take the stable version down with it, so the stable
 * version alone; else the version served before this one.
 */
export function fallbackOrder(pointer: Pointer): number[] {
  return [pointer.canary ? pointer.version : null, pointer.fallback].filter((v): v is number => v !== null);
}

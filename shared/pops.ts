// PoP catalogue (real airport coordinates) and Durable Object location hints. Pure.
import { nearest } from "./geo";
import { POPS_GENERATED } from "./pops.generated";

/** request.cf.continent codes. */
export type Continent = "AF" | "AN" | "AS" | "EU" | "NA" | "OC" | "SA";

/** Durable Object locationHint values (Cloudflare docs, "Data location"). */
export const REGION_HINTS = ["wnam", "enam", "sam", "weur", "eeur", "apac", "oc", "afr", "me"] as const;
export type RegionHint = (typeof REGION_HINTS)[number];

export interface Pop {
  /** IATA code, as in request.cf.colo. */
  code: string;
  city: string;
  /** ISO 3166-1 alpha-2, as in request.cf.country. */
  country: string;
  lat: number;
  lon: number;
  continent: Continent;
  region: RegionHint;
}

export const POPS: readonly Pop[] = POPS_GENERATED;

const BY_CODE = new Map(POPS.map((p) => [p.code, p]));

export function popByCode(code: string): Pop | undefined {
  return BY_CODE.get(code.toUpperCase());
}

export function regionOf(code: string): RegionHint | undefined {
  return popByCode(code)?.region;
}

/**
 * Where a DO created with each hint is assumed to live. Cloudflare does not publish the exact
 * data centre, so each is the region's main interconnection hub; the model only needs one point.
 */
export const REGIONS: readonly { hint: RegionHint; pop: string }[] = [
  { hint: "wnam", pop: "SJC" },
  { hint: "enam", pop: "IAD" },
  { hint: "sam", pop: "GRU" },
  { hint: "weur", pop: "FRA" },
  { hint: "eeur", pop: "WAW" },
  { hint: "apac", pop: "SIN" },
  { hint: "oc", pop: "SYD" },
  { hint: "afr", pop: "JNB" },
  { hint: "me", pop: "DXB" },
];

/** The PoP that hosts DOs with this hint (see REGIONS). */
export function regionPop(hint: RegionHint): Pop {
  const code = REGIONS.find((r) => r.hint === hint)?.pop;
  const pop = code === undefined ? undefined : popByCode(code);
  if (!pop) throw new Error(`no representative PoP for region ${hint}`);
  return pop;
}

export function nearestPop(
  lat: number,
  lon: number,
  healthy?: (pop: Pop) => boolean,
): { pop: Pop; km: number } | undefined {
  const hit = nearest({ lat, lon }, POPS, healthy);
  return hit && { pop: hit.item, km: hit.km };
}

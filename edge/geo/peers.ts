// Where a request goes when this PoP cannot answer it: the nearest healthy peer PoP by
// great-circle distance. Pure (no I/O), so it is tested directly.
import { z } from "zod";
import { byDistance, type LatLon } from "../../shared/geo";
import { POPS, popByCode, regionPop, type Continent, type RegionHint } from "../../shared/pops";

export interface Peer extends LatLon {
  colo: string;
  /** Base URL the peer's Worker answers on (no trailing slash). */
  url: string;
  region: RegionHint | undefined;
}

const PeerSchema = z.object({
  colo: z.string().min(1),
  url: z.url(),
  lat: z.number().min(-90).max(90).optional(),
  lon: z.number().min(-180).max(180).optional(),
});

/**
 * PEERS: `[{"colo":"AMS","url":"http://127.0.0.1:8788"}, ...]`; coordinates come from the PoP
 * catalogue unless given (local meshes may play colos the catalogue lacks).
 */
export function parsePeers(json: string | undefined): Peer[] {
  if (!json?.trim()) return [];
  const parsed = z.array(PeerSchema).safeParse(JSON.parse(json));
  if (!parsed.success) throw new Error(`PEERS: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  return parsed.data.map((p) => {
    const pop = popByCode(p.colo);
    const lat = p.lat ?? pop?.lat;
    const lon = p.lon ?? pop?.lon;
    if (lat === undefined || lon === undefined) throw new Error(`PEERS: ${p.colo} is not in the PoP catalogue; give lat and lon`);
    return { colo: p.colo.toUpperCase(), url: p.url.replace(/\/+$/, ""), lat, lon, region: pop?.region };
  });
}

/** The request.cf fields the router reads (cf gives coordinates as strings). */
export interface CfLocation {
  colo?: unknown;
  country?: unknown;
  latitude?: unknown;
  longitude?: unknown;
  continent?: unknown;
}

const CONTINENT_REGION: Record<Continent, RegionHint> = {
  NA: "enam",
  SA: "sam",
  EU: "weur",
  AF: "afr",
  AS: "apac",
  OC: "oc",
  AN: "oc",
};

/**
 * The point distances are measured from. A forwarded request travels PoP → peer → PoP, so the
 * added latency depends on where this PoP is, not the client: its catalogue coordinates come
 * first, then the client's (which are near the PoP that received it), then a catalogue PoP in
 * the client's country (when they are all in one region), then the continent's hub.
 */
export function locate(colo: string, cf: CfLocation | undefined): (LatLon & { region?: RegionHint }) | undefined {
  const pop = popByCode(colo);
  if (pop) return pop;
  const lat = Number(cf?.latitude);
  const lon = Number(cf?.longitude);
  if (typeof cf?.latitude === "string" && typeof cf.longitude === "string" && Number.isFinite(lat) && Number.isFinite(lon)) return { lat, lon };
  // The country stands in only where all its PoPs share one region (not the US, not Canada).
  const inCountry = typeof cf?.country === "string" ? POPS.filter((p) => p.country === cf.country) : [];
  if (inCountry.length > 0 && inCountry.every((p) => p.region === inCountry[0]!.region)) return inCountry[0];
  const region = typeof cf?.continent === "string" ? CONTINENT_REGION[cf.continent as Continent] : undefined;
  return region ? regionPop(region) : undefined;
}

/**
 * Peers nearest first, without this PoP itself; `healthy` filters. With no known origin the
 * configured order is kept.
 */
export function rankPeers(from: LatLon | undefined, self: string, peers: readonly Peer[], healthy: (p: Peer) => boolean = () => true): Peer[] {
  const others = peers.filter((p) => p.colo !== self.toUpperCase() && healthy(p));
  return from ? byDistance(from, others).map(({ item }) => item) : others;
}

// Great-circle geometry and a fibre-latency model. Pure: runs in Node and in workerd.

export interface LatLon {
  lat: number;
  lon: number;
}

/** IUGG mean Earth radius R1; haversine on a sphere is within ~0.5% of the WGS84 ellipsoid. */
export const EARTH_RADIUS_KM = 6371.0088;

/** Light in silica fibre: c / n with n ≈ 1.47 gives 299,792 / 1.47 ≈ 204 km/ms; rounded down to 200. */
export const FIBRE_KM_PER_MS = 200;

/**
 * Fibre path length over great-circle distance. Bozkurt et al., "Dissecting Latency in the
 * Internet's Fiber Infrastructure", arXiv:1811.10737 (2018): measurements give the rule of thumb
 * 2.1; shortest paths through the US long-haul conduits (InterTubes map) would give 1.3 (median).
 */
export const ROUTE_INFLATION = { typical: 2.1, shortestConduit: 1.3 } as const;

const RAD = Math.PI / 180;

export function haversineKm(a: LatLon, b: LatLon): number {
  const dLat = (b.lat - a.lat) * RAD;
  const dLon = (b.lon - a.lon) * RAD;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * RAD) * Math.cos(b.lat * RAD) * Math.sin(dLon / 2) ** 2;
  // min() guards against h drifting just above 1 for antipodal points.
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** Round-trip propagation over `km` of great circle; inflation 1 gives the physical limit. */
export function fibreRttMs(km: number, inflation: number = ROUTE_INFLATION.typical): number {
  return (2 * km * inflation) / FIBRE_KM_PER_MS;
}

/**
 * Candidates that pass `keep` (when given), nearest first, with their great-circle distances:
 * the one distance ranking everything geographic uses. `at` says where a candidate is.
 */
export function byDistance<T>(point: LatLon, candidates: readonly T[], keep?: (candidate: T) => boolean, at: (candidate: T) => LatLon = (c) => c as LatLon): Array<{ item: T; km: number }> {
  return candidates
    .filter((c) => !keep || keep(c))
    .map((item) => ({ item, km: haversineKm(point, at(item)) }))
    .sort((a, b) => a.km - b.km);
}

/** The nearest candidate (that passes `keep`, when given) and its distance; undefined if none. */
export function nearest<T extends LatLon>(point: LatLon, candidates: readonly T[], keep?: (candidate: T) => boolean): { item: T; km: number } | undefined {
  return byDistance(point, candidates, keep)[0];
}

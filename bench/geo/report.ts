// The tables `npm run bench:geo` prints. Every header says whether its figures are MEASURED
// (through the local mesh) or MODELLED (fibre model + measured service draws).
import { FIBRE_KM_PER_MS, ROUTE_INFLATION } from "../../shared/geo";
import { POPS } from "../../shared/pops";
import { describeContention, type Contention } from "../host";
import { fmt, table, type Cell } from "../lib";
import { CONTINENT_NAMES } from "./clients";
import { AGREEMENT, type Comparison, type EndToEnd, type ScenarioResult } from "./results";
import { INFLATION } from "./scenarios";

export interface Targets {
  worldP99UnderMs: { target: number; scenario: string; valueMs: number; met: boolean; source: string };
  withinRatioOfLimit: { target: number; scenario: string; ratios: { p50: number; p95: number; p99: number }; met: boolean; source: string };
}

export interface ReportContext {
  draws: number;
  meshColos: readonly string[];
  endToEndPerContinent: number;
  contention: { atStart: Contention; atEnd: Contention };
  targets: Targets;
}

const x = (r: number) => `${r.toFixed(2)}x`;

function serviceTable(results: readonly ScenarioResult[]): string {
  return table(
    ["scenario", "ok", "svc p50", "svc p95", "svc p99", "mesh PoPs used"],
    results.map(({ json: j }): Cell[] =>
      j.service.from
        ? [j.label, `as ${j.service.from}`, j.service.p50, j.service.p95, j.service.p99, ""]
        : [j.label, `${j.service.ok}/${j.service.requests}`, j.service.p50, j.service.p95, j.service.p99, Object.entries(j.service.meshPopsUsed).map(([k, v]) => `${k}:${v}`).join(" ")],
    ),
  );
}

function endToEndTable(results: readonly ScenarioResult[]): string {
  const rows: Cell[][] = [];
  const row = (label: string, where: string, c: Comparison, e: EndToEnd): Cell[] => [
    label,
    where,
    c.n,
    c.measuredMs.p50,
    c.modelledMs.p50,
    x(c.ratioP50),
    `${c.perClientRatio.min.toFixed(2)}–${c.perClientRatio.max.toFixed(2)}`,
    c.agrees ? "agrees" : "DISAGREES",
    c.measuredParts.simulatedDelayMs,
    c.measuredParts.popMs,
    c.measuredParts.restMs,
    where === "World" ? `${e.ok}/${e.requests} ok, ${e.routeMismatches} routed elsewhere` : "",
  ];
  for (const r of results) {
    const e = r.json.endToEndThroughMesh;
    if (!("world" in e)) {
      rows.push([r.json.label, "-", null, null, null, null, null, "not measured", null, null, null, e.why]);
      continue;
    }
    const label = `${r.json.label} [mesh: ${e.deployment.join(" ")}]`;
    rows.push(row(label, "World", e.world, e));
    for (const [k, c] of Object.entries(e.continents)) if (c) rows.push(row("", k, c, e));
  }
  return table(["scenario [PoPs the mesh runs]", "where", "clients", "measured p50", "modelled p50", "measured/modelled", "per client", "", "delay p50", "PoP p50", "rest p50", "requests"], rows);
}

function worldTable(results: readonly ScenarioResult[]): string {
  return table(
    ["scenario", "p50", "p95", "p99", "network p99", "limit p50", "limit p99", "p50/limit", "p95/limit", "p99/limit"],
    results.map(({ json: j }): Cell[] => {
      const w = j.modelled.world;
      return [j.label, w.endToEnd.p50, w.endToEnd.p95, w.endToEnd.p99, w.network.p99, w.limit.p50, w.limit.p99, x(w.ratio.p50), x(w.ratio.p95), x(w.ratio.p99)];
    }),
  );
}

function continentTable(results: readonly ScenarioResult[]): string {
  return table(
    ["scenario", "where", "clients", "p50", "p95", "p99", "p50/limit", "p95/limit", "p99/limit"],
    results.flatMap(({ json: j }) =>
      [["World", j.modelled.world] as const, ...Object.entries(j.modelled.continents)].flatMap(([where, g]): Cell[][] =>
        g ? [[j.label, where, g.n, g.endToEnd.p50, g.endToEnd.p95, g.endToEnd.p99, x(g.ratio.p50), x(g.ratio.p95), x(g.ratio.p99)]] : [],
      ),
    ),
  );
}

export function printReport(results: readonly ScenarioResult[], ctx: ReportContext): void {
  const byId = (id: string) => results.find((r) => r.scenario.id === id)!.json;
  const all = byId("all");
  const shortest = all.modelled.shortestConduits!.ratio;
  const home = byId("home-shard");
  const global = byId("global-shard").modelled.world;
  const first = home.service.firstContact;
  const { targets: t, contention: c } = ctx;
  console.log(`
Service times, MEASURED (ms): real iris batch-1 predictions through the mesh (${ctx.meshColos.join(" ")}), one at a time, simulated delay off, front door in the scenario's state
${serviceTable(results)}

End to end through the mesh, MEASURED beside MODELLED for the same clients (ms; up to ${ctx.endToEndPerContinent} clients per continent, one request each, one at a time)
  measured = wall time at the client: the front door's simulated fibre delay really waited out, the real PoP, the client and front door themselves;
  its parts (p50s): "delay" the front door simulated, "PoP" the PoP's own time during these requests, "rest" the client, front door and timers;
  modelled = fibre ${FIBRE_KM_PER_MS} km/ms x ${INFLATION} to the model's nearest of the PoPs the mesh runs + the scenario's measured service p50;
  "agrees" = measured/modelled p50 within ${AGREEMENT.low}–${AGREEMENT.high}. The front door delays by the same fibre formula, so this checks routing,
  timers, the front door and the composition network + service, not the fibre constants; the mesh's few PoPs stand in for the catalogue's ${POPS.length}.
  "World" pools the sampled clients (the same number per continent: not population-weighted).
${endToEndTable(results)}

World, population-weighted, MODELLED (ms; ${ctx.draws.toLocaleString("en-US")} draws): network = fibre ${FIBRE_KM_PER_MS} km/ms x ${INFLATION} route inflation over the scenario's catalogue PoPs, + a MEASURED service draw;
limit = fibre x 1.0 to the nearest of all ${POPS.length} PoPs + the same service draw
${worldTable(results)}

Per continent, MODELLED (ms; ratio = percentile / the same percentile of the limit; ${Object.entries(CONTINENT_NAMES).map(([k, v]) => `${k} ${v}`).join(", ")})
${continentTable(results)}

Caller state, MODELLED network + MEASURED service (world): home region vs one global ring: p50 ${fmt(home.modelled.world.endToEnd.p50)} vs ${fmt(global.endToEnd.p50)} ms (${(global.endToEnd.p50 / home.modelled.world.endToEnd.p50).toFixed(1)}x), p99 ${fmt(home.modelled.world.endToEnd.p99)} vs ${fmt(global.endToEnd.p99)} ms (${(global.endToEnd.p99 / home.modelled.world.endToEnd.p99).toFixed(1)}x)
  MEASURED service of a caller's first request (home claimed, shard row created): p50 ${fmt(first?.p50 ?? NaN)} / p99 ${fmt(first?.p99 ?? NaN)} ms vs ${fmt(home.service.p50)} / ${fmt(home.service.p99)} ms once known

Targets (MODELLED: all ${POPS.length} PoPs, world, population-weighted; no local run can measure the catalogue):
  p99 under ${t.worldP99UnderMs.target} ms: ${fmt(t.worldP99UnderMs.valueMs)} ms -> ${t.worldP99UnderMs.met ? "MET" : "MISSED"}
  within ${t.withinRatioOfLimit.target}x of the physical limit + service time: p50 ${x(t.withinRatioOfLimit.ratios.p50)}, p95 ${x(t.withinRatioOfLimit.ratios.p95)}, p99 ${x(t.withinRatioOfLimit.ratios.p99)} -> ${t.withinRatioOfLimit.met ? "MET" : "MISSED"}
  the network part alone is ${INFLATION}x its limit by construction (route inflation); over routes as short as the shortest conduits (${ROUTE_INFLATION.shortestConduit}x, same paper): p50 ${x(shortest.p50)}, p95 ${x(shortest.p95)}, p99 ${x(shortest.p99)}
Contention: ${describeContention(c.atStart)} at start; ${describeContention(c.atEnd)} at end`);
}

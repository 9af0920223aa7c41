// Per-scenario figures of `npm run bench:geo`, each labelled by where it comes from:
// - MODELLED end to end (the world and continent tables, the targets): the network model
//   (scenarios.ts) over every catalogue PoP plus a service time drawn from the scenario's
//   MEASURED samples; the physical limit uses the same draw;
// - MEASURED end to end (the mesh table): wall time of real requests through the mesh, beside the
//   model's figure for the same clients on the deployment the mesh runs.
import { fibreRttMs, nearest, ROUTE_INFLATION } from "../../shared/geo";
import { seededRandom } from "../../shared/random";
import { shardLabel } from "../../shared/shards";
import { pcts, pctsRatio, percentile, spread, type Pcts, type Spread } from "../lib";
import { CONTINENTS, type Client } from "./clients";
import type { Measured, Sample } from "./measure";
import { INFLATION, LAYOUT, SCENARIOS, meshDeployment, measurableEndToEnd, must, type Network, type Scenario } from "./scenarios";

const sorted = (v: readonly number[]) => Float64Array.from(v).sort();
const statuses = (xs: readonly Sample[]) => Object.fromEntries([...new Set(xs.map((x) => x.status))].map((st) => [st, xs.filter((x) => x.status === st).length]));

/** A measured figure within this band of the modelled one (measured/modelled) counts as agreeing. */
export const AGREEMENT = { low: 0.9, high: 1.1 };

export interface Group {
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
  return { n: e2e.length, endToEnd: a, limit: b, ratio: pctsRatio(a, b), network: n, networkRatio: pctsRatio(n, pcts(limitNet)) };
}

/** Measured beside modelled for one set of clients. */
export interface Comparison {
  n: number;
  measuredMs: { p50: number; max: number };
  modelledMs: { p50: number; max: number };
  /** Measured p50 ÷ modelled p50. */
  ratioP50: number;
  /** Each client's measured ÷ modelled, across the clients. */
  perClientRatio: Spread;
  agrees: boolean;
  /** Where the measured time went (p50s): the front door's simulated delay, the PoP's own time, and the rest (client, front door, timers). */
  measuredParts: { simulatedDelayMs: number; popMs: number; restMs: number };
}

export interface EndToEnd {
  source: string;
  /** The mesh PoPs that served (the scenario's deployment as the mesh runs it). */
  deployment: string[];
  requests: number;
  ok: number;
  statuses: Record<string, number>;
  /** Requests the front door sent elsewhere than the model's nearest PoP. */
  routeMismatches: number;
  world: Comparison;
  continents: Partial<Record<string, Comparison>>;
}

const p50 = (v: number[]) => percentile([...v].sort((a, b) => a - b), 50);

function compare(samples: Sample[], modelled: number[]): Comparison {
  const measured = samples.map((x) => x.wallMs);
  const ratioP50 = p50(measured) / p50(modelled);
  return {
    n: measured.length,
    measuredMs: { p50: p50(measured), max: Math.max(...measured) },
    modelledMs: { p50: p50(modelled), max: Math.max(...modelled) },
    ratioP50,
    perClientRatio: spread(measured.map((m, i) => m / modelled[i]!)),
    agrees: ratioP50 >= AGREEMENT.low && ratioP50 <= AGREEMENT.high,
    measuredParts: {
      simulatedDelayMs: p50(samples.map((x) => x.simRttMs)),
      popMs: p50(samples.map((x) => x.serviceMs)),
      restMs: p50(samples.map((x) => x.wallMs - x.simRttMs - x.serviceMs)),
    },
  };
}

/**
 * The mesh's measured end-to-end times beside the model for the same clients on the same
 * deployment: fibre round trip to the nearest of the mesh PoPs up (shared `nearest`, the model's
 * routing) plus the scenario's measured service p50.
 */
function endToEnd(s: Scenario, samples: Array<Sample & { client: Client }>, meshColos: readonly string[], serviceP50: number): EndToEnd {
  const deployment = meshDeployment(s, meshColos);
  const ok = samples.filter((x) => x.status === 200);
  const model = ok.map((x) => nearest(x.client, deployment)!);
  const modelled = model.map((hit) => fibreRttMs(hit.km, INFLATION) + serviceP50);
  const idx = (pick: (c: Client) => boolean) => ok.map((x, i) => (pick(x.client) ? i : -1)).filter((i) => i >= 0);
  const continents: EndToEnd["continents"] = {};
  for (const k of CONTINENTS) {
    const is = idx((c) => c.continent === k);
    if (is.length) continents[k] = compare(is.map((i) => ok[i]!), is.map((i) => modelled[i]!));
  }
  return {
    source:
      "MEASURED: wall time at the client of real iris predictions through the mesh front door (its simulated fibre delay really waited out) to real PoPs, one at a time; " +
      "beside the MODELLED figure for the same clients on the same mesh PoPs: fibre round trip to the nearest of them + the scenario's measured service p50",
    deployment: deployment.map((p) => p.code),
    requests: samples.length,
    ok: ok.length,
    statuses: statuses(samples),
    routeMismatches: ok.filter((x, i) => x.frontPop !== model[i]!.item.code).length,
    world: compare(ok, modelled),
    continents,
  };
}

/** The modelled figures of a scenario (network model + measured service draws). */
export interface Modelled {
  source: string;
  world: Group;
  continents: Partial<Record<string, Group>>;
  /** Caller-state scenarios: the PoP ↔ shard-region leg alone. */
  shardRttMs?: Pcts;
  /** Other scenarios: the same routing and service draws over routes as short as the shortest conduits. */
  shortestConduits?: { routeInflation: number; endToEnd: Pcts; ratio: Pcts };
}

export interface ServiceFigures extends Pcts {
  source: string;
  requests: number;
  ok: number;
  statuses: Record<string, number>;
  meanMs: number;
  maxMs: number;
  meshPopsUsed: Record<string, number>;
  from?: string;
  firstContact?: { requests: number; ok: number } & Pcts;
}

export interface ScenarioJson {
  id: string;
  label: string;
  description: string;
  pops: number;
  service: ServiceFigures;
  endToEndThroughMesh: EndToEnd | { source: "not measured"; why: string };
  modelled: Modelled;
  /** Caller-state scenarios: responses whose x-meridian-shard is not the model's placement. */
  shardHeaderMismatches?: number;
}

export interface ScenarioResult {
  scenario: Scenario;
  /** Modelled end to end and limit per client, sorted (the chart). */
  e2eSorted: Float64Array;
  limitSorted: Float64Array;
  failed: number;
  requests: number;
  shardMismatches: number;
  json: ScenarioJson;
}


function serviceFigures(s: Scenario, samples: Sample[], ok: Sample[], firstContact: Sample[]): ServiceFigures {
  const service = ok.map((x) => x.serviceMs);
  const popsUsed: Record<string, number> = {};
  for (const x of ok) popsUsed[x.frontPop] = (popsUsed[x.frontPop] ?? 0) + 1;
  const firstOk = firstContact.filter((x) => x.status === 200).map((x) => x.serviceMs);
  return {
    source: "MEASURED: x-meridian-front-upstream-ms of real predictions through the mesh, simulated delay off",
    requests: samples.length,
    ok: ok.length,
    statuses: statuses(samples),
    ...pcts(service),
    meanMs: service.reduce((a, b) => a + b, 0) / service.length,
    maxMs: Math.max(...service),
    meshPopsUsed: popsUsed,
    ...(s.serviceFrom ? { from: s.serviceFrom } : {}),
    ...(firstOk.length ? { firstContact: { requests: firstContact.length, ok: firstOk.length, ...pcts(firstOk) } } : {}),
  };
}

/**
 * Every scenario's figures. `nets` and `limitNet` are the modelled network parts per client
 * (scenarios.ts); service times are drawn per client from the scenario's measured samples.
 */
export function scenarioResults(
  clients: readonly Client[],
  nets: Network[][],
  limitNet: number[],
  measured: Measured[],
  meshColos: readonly string[],
  seed: number,
): ScenarioResult[] {
  // The shard a mesh PoP must name: on the ring of the home it claims for a new caller, its own region.
  const expectedShard = (x: Sample) => shardLabel(LAYOUT.owner(x.key!, LAYOUT.homeFor(must(x.pop))!));
  return SCENARIOS.map((s, si) => {
    const own = measured[si]!;
    const { service: samples, firstContact } = s.serviceFrom ? measured[SCENARIOS.findIndex((o) => o.id === s.serviceFrom)]! : own;
    const ok = samples.filter((x) => x.status === 200 && Number.isFinite(x.serviceMs));
    if (ok.length === 0) throw new Error(`${s.id}: no successful request through the mesh`);
    const service = ok.map((x) => x.serviceMs);
    const draw = seededRandom(seed * 1000 + si + 1);
    const e2e: number[] = [];
    const limit: number[] = [];
    const net: number[] = [];
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
      return group(idx.map((i) => e2e[i]!), idx.map((i) => limit[i]!), idx.map((i) => net[i]!), idx.map((i) => limitNet[i]!));
    };
    const modelled: Modelled = {
      source: "MODELLED: fibre network model over the scenario's catalogue PoPs + a service time drawn per client from the MEASURED samples",
      world: by(() => true),
      continents: Object.fromEntries(CONTINENTS.filter((k) => clients.some((c) => c.continent === k)).map((k) => [k, by((i) => clients[i]!.continent === k)])),
    };
    if (s.state) modelled.shardRttMs = pcts(nets[si]!.map((n) => n.shardRttMs));
    else modelled.shortestConduits = { routeInflation: ROUTE_INFLATION.shortestConduit, endToEnd: pcts(shortRoutes), ratio: pctsRatio(pcts(shortRoutes), pcts(limit)) };
    // The PoPs' own placement (x-meridian-shard) must agree with the lookup the model uses.
    const shardMismatches = s.serviceFrom ? 0 : [...ok, ...firstContact].filter((x) => x.key !== undefined && x.status === 200 && x.shard !== expectedShard(x)).length;
    const failed = samples.length - ok.length + own.endToEnd.filter((x) => x.status !== 200).length + firstContact.filter((x) => x.status !== 200).length;
    const why = s.serviceFrom
      ? `same PoP work as ${s.serviceFrom}; only the modelled network differs`
      : "every mesh PoP keeps its Durable Objects locally, so the PoP ↔ shard-region leg exists only in the model";
    return {
      scenario: s,
      e2eSorted: sorted(e2e),
      limitSorted: sorted(limit),
      failed: s.serviceFrom ? 0 : failed,
      requests: s.serviceFrom ? 0 : samples.length + own.endToEnd.length + firstContact.length,
      shardMismatches,
      json: {
        id: s.id,
        label: s.label,
        description: s.description,
        pops: s.pops.length,
        service: serviceFigures(s, samples, ok, firstContact),
        endToEndThroughMesh: measurableEndToEnd(s) ? endToEnd(s, own.endToEnd, meshColos, pcts(service).p50) : { source: "not measured", why },
        modelled,
        ...(s.state ? { shardHeaderMismatches: shardMismatches } : {}),
      },
    };
  });
}

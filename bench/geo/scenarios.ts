// Deployments `npm run bench:geo` compares, and the network model (MODELLED, not measured):
// round trip = great-circle distance × route inflation 2.1 / 200 km/ms in fibre (Bozkurt et al.,
// "Dissecting Latency in the Internet's Fiber Infrastructure", arXiv:1811.10737, 2018: fibre paths
// measured at about 2.1x the great circle), client ↔ the nearest PoP of the scenario, plus PoP ↔
// the shard's region PoP where the prediction needs the caller's state (the caller's home region,
// fixed at first contact: the region of the PoP nearest them; and, for comparison, the one global
// ring the edge used before homes, which ignores where callers are).
import { fibreRttMs, haversineKm, nearest, ROUTE_INFLATION } from "../../shared/geo";
import { HashRing } from "../../shared/hashring";
import { POPS, popByCode, regionPop, type Pop, type RegionHint } from "../../shared/pops";
import { shardLayout } from "../../shared/shards";
import type { Client } from "./clients";

export const INFLATION = ROUTE_INFLATION.typical;
export const CITATION = 'Bozkurt et al., "Dissecting Latency in the Internet\'s Fiber Infrastructure", arXiv:1811.10737 (2018)';

export interface Scenario {
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
  /** Mesh PoPs up while measuring this scenario. */
  meshUp: (colo: string) => boolean;
  /** Reuse another scenario's measured service times (the PoP does the same work; only the network differs). */
  serviceFrom?: string;
}

export const LAYOUT = shardLayout();
const GLOBAL_RING = new HashRing(LAYOUT.shards);
/** The region holding a caller's state: home = the region of the PoP that first saw them (all regions up). */
const stateRegion = (client: Client, pop: Pop, how: "home" | "global"): RegionHint =>
  how === "home" ? LAYOUT.homeFor(pop)! : GLOBAL_RING.owner(client.key).region;

export function must(code: string): Pop {
  const p = popByCode(code);
  if (!p) throw new Error(`${code} not in the catalogue`);
  return p;
}

const DOWN_REGION = "weur";
export const SCENARIOS: readonly Scenario[] = [
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

export interface Network {
  pop: string;
  accessKm: number;
  /** Client ↔ PoP round trip plus, with caller state, PoP ↔ shard region PoP (ms). */
  rttMs: number;
  shardRttMs: number;
}

/** The modelled network part of one prediction from `client` in scenario `s`. */
export function network(client: Client, s: Scenario): Network {
  const hit = nearest(client, s.pops)!;
  const access = fibreRttMs(hit.km, INFLATION);
  const shardRttMs = s.state ? fibreRttMs(haversineKm(hit.item, regionPop(stateRegion(client, hit.item, s.state))), INFLATION) : 0;
  return { pop: hit.item.code, accessKm: hit.km, rttMs: access + shardRttMs, shardRttMs };
}

/** The physical limit's network part: straight fibre (inflation 1.0) to the nearest of all catalogue PoPs. */
export const limitRttMs = (client: Client): number => fibreRttMs(nearest(client, POPS)!.km, 1);

/**
 * Whether the mesh reproduces the scenario's whole network path: not for caller state, because
 * every mesh PoP keeps its Durable Objects locally (no PoP ↔ shard-region leg to measure).
 */
export const measurableEndToEnd = (s: Scenario): boolean => !s.state && !s.serviceFrom;

/** The deployment the mesh runs for `s`: its PoPs that are up in that scenario. */
export const meshDeployment = (s: Scenario, meshColos: readonly string[]): Pop[] => meshColos.filter(s.meshUp).map(must);

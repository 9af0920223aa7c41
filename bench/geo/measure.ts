// Measurements for `npm run bench:geo` through `npm run mesh` (local wrangler dev PoPs behind
// the geo-DNS front door). All MEASURED:
// - service: real iris batch-1 predictions from the sampled clients' positions, front door in
//   the scenario's state, simulated delay off, one at a time (on 2 cores even 4 concurrent loops
//   doubled it: queueing in workerd and CPU contention, not service). The service time is the
//   PoP's time as the front door sees it (x-meridian-front-upstream-ms: loopback hop and wrangler
//   dev's own proxy included), i.e. what a client next to the PoP would wait;
// - end to end: the same predictions with the front door's simulated fibre delay really waited
//   out, wall time at the client, from a fixed set of clients per continent;
// - first contact: in the caller-state scenarios, each caller's first request (home claimed,
//   shard row created), kept apart from the service samples.
// Scenarios are interleaved in rounds, so load from other processes drifting over the run
// spreads over all of them instead of landing on whichever ran at the time.
import type { LatLon } from "../../shared/geo";
import type { Pop } from "../../shared/pops";
import type { Mesh } from "../../dev/mesh";
import type { Client } from "./clients";
import { LAYOUT, SCENARIOS, measurableEndToEnd, type Scenario } from "./scenarios";

const INFER_BODY = JSON.stringify({ inputs: [{ name: "measurements", datatype: "FP32", shape: [1, 4], data: [5.1, 3.5, 1.4, 0.2] }] });

export interface Sample {
  status: number;
  /** Request sent → response read, at the client (ms). */
  wallMs: number;
  /** Delay the front door simulated (0 with delay off). */
  simRttMs: number;
  /** The PoP's own time as the front door saw it. */
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
  for (let i = 0; i < 100_000 && seen.size < shards; i++) {
    const id = LAYOUT.owner(`warm-${pop.code}-${i}`, home).id;
    if (!seen.has(id)) seen.set(id, `warm-${pop.code}-${i}`);
  }
  return [...seen.values()];
}

export interface Measured {
  /** Simulated delay off: the service-time samples. */
  service: Sample[];
  /** Simulated delay on, one at a time, from the end-to-end clients (measurable scenarios only). */
  endToEnd: Array<Sample & { client: Client }>;
  /** Caller-state scenarios: each caller's first request (home claimed, shard row created), not in `service`. */
  firstContact: Sample[];
}

/** Slice `round` of `rounds` of 0..n. */
const slice = (n: number, round: number, rounds: number) => [Math.floor((n * round) / rounds), Math.floor((n * (round + 1)) / rounds)] as const;

/** Every scenario's measurements (one entry per SCENARIOS entry), interleaved over `rounds` rounds. */
export async function measureAll(
  mesh: Mesh,
  clients: readonly Client[],
  endToEndClients: readonly Client[],
  opts: { requests: number; rounds: number },
): Promise<Measured[]> {
  // Warm-up (not recorded): the model on every PoP, and its home region's shard objects.
  await setScenario(mesh, SCENARIOS.find((s) => s.id === "all")!);
  for (const p of mesh.pops) {
    for (const key of [...keyPerShard(p.pop), ...Array.from({ length: 10 }, () => undefined)]) await one(mesh, p.pop, { key, delay: false });
  }
  const out: Measured[] = SCENARIOS.map(() => ({ service: [], endToEnd: [], firstContact: [] }));
  for (const [si, s] of SCENARIOS.entries()) {
    if (!s.state || s.serviceFrom) continue;
    await setScenario(mesh, s);
    for (const c of clients.slice(0, Math.min(opts.requests, clients.length))) out[si]!.firstContact.push(await one(mesh, c, { key: c.key, delay: false }));
  }
  for (let round = 0; round < opts.rounds; round++) {
    for (const [si, s] of SCENARIOS.entries()) {
      if (s.serviceFrom) continue;
      await setScenario(mesh, s);
      // Population-weighted clients, so the mix of mesh PoPs follows the scenario's routing.
      const [from, to] = slice(opts.requests, round, opts.rounds);
      for (let i = from; i < to; i++) {
        const c = clients[i % clients.length]!;
        out[si]!.service.push(await one(mesh, c, { key: s.state ? c.key : undefined, delay: false }));
      }
      if (!measurableEndToEnd(s)) continue;
      const [a, b] = slice(endToEndClients.length, round, opts.rounds);
      for (const c of endToEndClients.slice(a, b)) out[si]!.endToEnd.push({ ...(await one(mesh, c, { delay: true })), client: c });
    }
  }
  return out;
}

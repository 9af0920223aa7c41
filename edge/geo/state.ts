// The isolate's view of the mesh: configured peers, regions marked down, and the breakers and
// retry budget learnt from traffic and from active health checks. Built once per Env (like the
// model manager); each isolate learns health on its own, which needs no coordination.
import { REGION_HINTS, type RegionHint } from "../../shared/pops";
import { intVar, type Env } from "../env";
import { Breakers, DEFAULT_BREAKER, DEFAULT_BUDGET, RetryBudget } from "./breaker";
import { PeerHealth } from "./health";
import { parsePeers, type Peer } from "./router";

export interface GeoState {
  peers: Peer[];
  /** Regions an operator (or a local mesh) declared down: no peer or shard there is used. */
  down: ReadonlySet<RegionHint>;
  /** One breaker per peer colo. */
  peerBreakers: Breakers;
  /** One breaker per shard id: a shard whose object keeps failing is treated as down. */
  shardBreakers: Breakers;
  budget: RetryBudget;
  /** Active /v2/health/ready probes of the peers. */
  health: PeerHealth;
  timeoutMs: number;
}

const states = new WeakMap<Env, GeoState>();

export function geoState(env: Env): GeoState {
  let state = states.get(env);
  if (!state) states.set(env, (state = build(env)));
  return state;
}

function build(env: Env): GeoState {
  let peers: Peer[] = [];
  try {
    peers = parsePeers(env.PEERS);
  } catch (err) {
    // A bad PEERS disables forwarding; it must not take local serving down with it.
    console.error("ignoring PEERS:", err instanceof Error ? err.message : String(err));
  }
  const breaker = {
    failures: intVar(env.BREAKER_FAILURES, DEFAULT_BREAKER.failures) || DEFAULT_BREAKER.failures,
    windowMs: intVar(env.BREAKER_WINDOW_MS, DEFAULT_BREAKER.windowMs),
    cooldownMs: intVar(env.BREAKER_COOLDOWN_MS, DEFAULT_BREAKER.cooldownMs),
  };
  const timeoutMs = intVar(env.PEER_TIMEOUT_MS, 2000) || 2000;
  return {
    peers,
    down: parseRegions(env.DOWN_REGIONS),
    peerBreakers: new Breakers(breaker),
    shardBreakers: new Breakers(breaker),
    budget: new RetryBudget(DEFAULT_BUDGET),
    health: new PeerHealth(intVar(env.HEALTH_INTERVAL_MS, 10_000), timeoutMs),
    timeoutMs,
  };
}

function parseRegions(list: string | undefined): Set<RegionHint> {
  const out = new Set<RegionHint>();
  for (const r of (list ?? "").split(",").map((s) => s.trim()).filter(Boolean)) {
    if ((REGION_HINTS as readonly string[]).includes(r)) out.add(r as RegionHint);
    else console.error(`ignoring DOWN_REGIONS entry "${r}": not one of ${REGION_HINTS.join(", ")}`);
  }
  return out;
}

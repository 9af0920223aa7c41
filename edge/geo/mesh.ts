// What an isolate knows of the mesh: its config (peers, regions down, timeouts), the breakers
// and retry budget learnt from traffic, and the active health checks of its peers.
import type { Config } from "../config";
import type { Breakers, RetryBudget } from "./breaker";
import type { PeerHealth } from "./health";

export interface Mesh {
  config: Config;
  /** One breaker per peer colo. */
  peerBreakers: Breakers;
  /** One breaker per shard id (and per home-record region): one that keeps failing counts as down. */
  shardBreakers: Breakers;
  budget: RetryBudget;
  /** Active /v2/health/ready probes of the peers. */
  health: PeerHealth;
}

// Active health checks: each isolate probes its peers' GET /v2/health/ready in the background
// (waitUntil, never on a request's path), at most once per HEALTH_INTERVAL_MS per peer, so a peer
// that is down or not ready is known before a client's request would be forwarded to it. Not
// ready (or no answer in time) opens the peer's breaker at once; the next ready answer closes a
// breaker a probe opened, so a peer that recovers is used again without a client's request
// testing it. A breaker that live traffic opened recovers through its own half-open probe: a
// peer whose readiness answers while its predictions fail must not be let back in by probes.
import type { CircuitBreaker } from "./breaker";
import type { Peer } from "./peers";

/** Marks a health probe, so a peer's logs can tell probes from traffic. */
const PROBE_HEADER = "x-meridian-probe";

export interface ProbeResult {
  ready: boolean;
  /** Epoch ms of the probe's answer (or failure). */
  at: number;
  ms: number;
  /** Why it is not ready: the HTTP status or the network error. */
  error?: string;
}

export class PeerHealth {
  private readonly results = new Map<string, ProbeResult>();
  private readonly started = new Map<string, number>();
  private readonly inFlight = new Set<string>();

  constructor(
    private readonly intervalMs: number,
    private readonly timeoutMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Probes every peer whose last probe started at least intervalMs ago; resolves when all are done. */
  check(peers: readonly Peer[], breakerOf: (colo: string) => CircuitBreaker, self: string): Promise<void> | undefined {
    if (this.intervalMs <= 0) return undefined;
    const t = this.now();
    const due = peers.filter(
      (p) => p.colo !== self.toUpperCase() && !this.inFlight.has(p.colo) && t - (this.started.get(p.colo) ?? -Infinity) >= this.intervalMs,
    );
    if (due.length === 0) return undefined;
    for (const p of due) {
      this.started.set(p.colo, t);
      this.inFlight.add(p.colo);
    }
    return Promise.all(due.map((p) => this.probe(p, breakerOf(p.colo), self))).then(() => undefined);
  }

  /** The last probe of each peer, for /v2/health/ready. */
  snapshot(): Record<string, ProbeResult> {
    return Object.fromEntries(this.results);
  }

  private async probe(peer: Peer, breaker: CircuitBreaker, self: string): Promise<void> {
    const t0 = this.now();
    let error: string | undefined;
    try {
      const res = await fetch(`${peer.url}/v2/health/ready`, {
        headers: { [PROBE_HEADER]: self },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      await res.body?.cancel();
      if (res.status !== 200) error = `HTTP ${res.status}`;
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
    }
    const at = this.now();
    this.results.set(peer.colo, { ready: error === undefined, at, ms: at - t0, ...(error ? { error } : {}) });
    this.inFlight.delete(peer.colo);
    if (error !== undefined) breaker.trip();
    else breaker.recover();
  }
}

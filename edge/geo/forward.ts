// Sends a request this PoP cannot answer to the nearest healthy peer: through that peer's
// circuit breaker, with a timeout, and on to the next-nearest peer when it fails (only for
// idempotent calls, within the retry budget).
import type { LatLon } from "../../shared/geo";
import { withRetries } from "./breaker";
import type { Mesh } from "./mesh";
import { rankPeers, type Peer } from "./peers";

/** Marks a forwarded request; a PoP never forwards a request that carries it (no loops). */
export const HOP_HEADER = "x-meridian-hop";

/** Attempts per forwarded request, the first included. */
const MAX_ATTEMPTS = 3;

export interface Outgoing {
  method: string;
  /** Path and query, e.g. "/v2/models/iris/infer". */
  path: string;
  headers: Headers;
  body: Uint8Array | null;
  /** Safe to send twice: a retry may reach a second peer after the first did the work. */
  idempotent: boolean;
}

export type ForwardResult =
  | { ok: true; response: Response; peer: Peer; route: "forwarded" | "failover" }
  | { ok: false; retryAfterSeconds: number; tried: string[] };

type Attempt = { kind: "response"; response: Response; peer: Peer } | { kind: "failed"; peer: Peer; error: string } | { kind: "none" };

export async function forward(out: Outgoing, state: Mesh, from: LatLon | undefined, self: string): Promise<ForwardResult> {
  const { peers, downRegions, peerTimeoutMs } = state.config;
  const up = (p: Peer) => !p.region || !downRegions.has(p.region);
  const nearest = rankPeers(from, self, peers)[0];
  const candidates = rankPeers(from, self, peers, (p) => up(p) && state.peerBreakers.get(p.colo).available());
  const tried: string[] = [];
  let next = 0;

  const attempt = async (): Promise<Attempt> => {
    let peer: Peer | undefined;
    // allow() claims a half-open breaker's single probe, so it is asked only right before a call.
    while (next < candidates.length && !peer) {
      const p = candidates[next++]!;
      if (state.peerBreakers.get(p.colo).allow()) peer = p;
    }
    if (!peer) return { kind: "none" };
    tried.push(peer.colo);
    const breaker = state.peerBreakers.get(peer.colo);
    try {
      const response = await fetch(peer.url + out.path, {
        method: out.method,
        headers: hopHeaders(out.headers, self),
        body: out.body,
        redirect: "manual",
        // Covers the wait for response headers; a peer that stalls counts as failed.
        signal: AbortSignal.timeout(peerTimeoutMs),
      });
      if (response.status >= 500) {
        breaker.failure();
        await response.body?.cancel();
        return { kind: "failed", peer, error: `HTTP ${response.status}` };
      }
      breaker.success();
      return { kind: "response", response, peer };
    } catch (err) {
      breaker.failure();
      return { kind: "failed", peer, error: err instanceof Error ? err.message : String(err) };
    }
  };

  const last = await withRetries(attempt, {
    attempts: MAX_ATTEMPTS,
    budget: state.budget,
    idempotent: out.idempotent,
    retryable: (a) => a.kind === "failed",
  });
  if (last.kind === "response") {
    const route = last.peer.colo === nearest?.colo ? "forwarded" : "failover";
    return { ok: true, response: new Response(last.response.body, last.response), peer: last.peer, route };
  }
  return { ok: false, retryAfterSeconds: retryAfter(state, up), tried };
}

function hopHeaders(headers: Headers, self: string): Headers {
  const h = new Headers(headers);
  for (const name of ["host", "content-length"]) h.delete(name);
  h.set(HOP_HEADER, self);
  return h;
}

/** Seconds until the first open breaker will let a probe through (5 when none is waiting). */
function retryAfter(state: Mesh, up: (p: Peer) => boolean): number {
  const waits = state.config.peers.filter(up).map((p) => state.peerBreakers.get(p.colo).retryInMs()).filter((ms) => ms > 0);
  return waits.length ? Math.max(1, Math.ceil(Math.min(...waits) / 1000)) : 5;
}

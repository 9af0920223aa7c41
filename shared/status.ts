// What a PoP reports about a model, as `GET /admin/models/{name}/status` lists it: what it serves,
// and apart from that the newer pointer it failed to load (a failed load serves the old seq).
export interface PopStatus {
  colo: string;
  /** The stable version served (null: nothing yet). */
  version: number | null;
  canary: number | null;
  /** The seq of the pointer being served: below the registry's while the PoP trails it. */
  seq: number;
  /** Set when `version` stands in for this announced version, which failed to load there. */
  fallbackFor: number | null;
  failed: { seq: number; version: number; error: string; at: string } | null;
  at: string;
}

// How large a model the edge takes, and how a refusal reads: the edge (publishing) and the CLI
// (before it uploads anything) apply the same rule and say the same sentence.

/** GET /admin/limits: the edge's size limits, in bytes. */
export interface AdminLimits {
  /** MAX_MODEL_BYTES: the largest model a PoP serves (measured by `npm run bench:ceiling`). */
  maxModelBytes: number;
  /** MAX_ARTIFACT_BYTES: the largest single upload. */
  maxArtifactBytes: number;
  /** MAX_BODY_BYTES: the largest request body. */
  maxBodyBytes: number;
}

/** 71234567 → "71,234,567" (no Intl: the same text in every runtime). */
export function grouped(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/**
 * Why a model of `size` bytes cannot be published, or null when it can. Names the smaller limit
 * it is over: that is the one the model has to get under. `maxArtifactBytes` only applies to an
 * upload (registering bytes already stored checks the model ceiling alone).
 */
export function modelSizeRefusal(size: number, limits: { maxModelBytes: number; maxArtifactBytes?: number }): string | null {
  const upload = limits.maxArtifactBytes ?? Infinity;
  if (size <= Math.min(limits.maxModelBytes, upload)) return null;
  if (limits.maxModelBytes <= upload) {
    return (
      `model is ${grouped(size)} bytes; a PoP serves models up to ${grouped(limits.maxModelBytes)} bytes ` +
      `(MAX_MODEL_BYTES: one 128 MB isolate must hold the served version and the next one loading beside it)`
    );
  }
  return `model is ${grouped(size)} bytes; this edge takes uploads up to ${grouped(upload)} bytes (MAX_ARTIFACT_BYTES)`;
}

// Domain errors, raised where they happen (after KServe's errors.py) and mapped to HTTP in one
// place (http/errors.ts). None of them knows about status codes.

export abstract class MeridianError extends Error {
  /** Seconds after which trying again may succeed (the condition is temporary). */
  retryAfterSeconds?: number;

  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

// ---------- the client's mistakes ----------

/** The request is malformed or does not fit the model: the message names the part at fault. */
export class InvalidInput extends MeridianError {}

/** The request (or what it expands to) is larger than this edge takes. */
export class PayloadTooLarge extends MeridianError {}

/** A pushed model is larger than a PoP can serve (MAX_MODEL_BYTES) or than one upload may be. */
export class ModelTooLarge extends PayloadTooLarge {}

/** An upload must say its size up front. */
export class LengthRequired extends MeridianError {}

export class ModelNotFound extends MeridianError {}

export class ArtifactNotFound extends MeridianError {}

/** No pushed manifest declares this feature view. */
export class FeatureViewNotFound extends MeridianError {}

/** A view's offline log has no object by that id. */
export class LogObjectNotFound extends MeridianError {}

/** No route matches the method and path. */
export class RouteNotFound extends MeridianError {}

export class Unauthenticated extends MeridianError {}

export class PermissionDenied extends MeridianError {}

/** The caller sent more requests than its limit allows; the details go into response headers. */
export class RateLimited extends MeridianError {
  constructor(
    message: string,
    readonly details: { limit: number; count: number; shard: string },
    retryAfterSeconds: number,
  ) {
    super(message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

// ---------- conditions of this PoP (a peer may do better) ----------

/** The version cannot be loaded here (missing artifact, bad hash or signature, refused by the runtime). */
export class ModelUnavailable extends MeridianError {
  constructor(
    message: string,
    /** The version that cannot be loaded. */
    readonly version?: { model: string; version: number },
    retryAfterSeconds = 5,
  ) {
    super(message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** The caller's home record or shard cannot be reached from this PoP. */
export class CallerStateUnavailable extends MeridianError {
  constructor(
    message: string,
    retryAfterSeconds: number,
    /** The shard's label, when one was chosen. */
    readonly shard?: string,
  ) {
    super(message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** Something this edge needs is not configured (a secret, the signing keys). */
export class NotConfigured extends MeridianError {}

// ---------- faults of the server ----------

/** The model was loaded and the inputs were valid, yet running it failed. */
export class InferenceFailed extends MeridianError {}

// Typed errors from the edge's `{"error"}` answers, one class per kind of failure a caller acts
// on differently. Pure.
import { parseRetryAfter } from "./retry";

export interface ErrorBody {
  error: string;
  [key: string]: unknown;
}

export interface ErrorContext {
  /** The base URL that answered (or did not). */
  url?: string;
  /** Requests sent for this call before it gave up (retries and hedges included). */
  attempts?: number;
}

/** Why a call stopped trying, on the error it ended with. */
export type GaveUp = "not-retryable" | "max-attempts" | "budget" | "retry-after";

/** A failed call: `status` is the HTTP status, 0 when no answer came (NetworkError). */
export class MeridianError extends Error {
  /** Requests sent for this call, retries and hedges included (set when the call gives up). */
  attempts: number;
  /** Why no further request was sent (set when the call gives up). */
  gaveUp: GaveUp | undefined;
  readonly url: string | undefined;

  constructor(
    readonly status: number,
    readonly body: ErrorBody,
    readonly headers: Headers = new Headers(),
    context: ErrorContext = {},
  ) {
    super(status === 0 ? body.error : `${status} ${body.error}`);
    this.name = new.target.name;
    this.attempts = context.attempts ?? 1;
    this.gaveUp = undefined;
    this.url = context.url;
  }

  /** x-meridian-pop of the answer, when there was one. */
  get pop(): string | null {
    return this.headers.get("x-meridian-pop");
  }
}

/** 400: the request is malformed or does not fit the model; the message names the part at fault. */
export class InvalidInputError extends MeridianError {}

/** 401 (no credentials) or 403 (wrong ones). */
export class AuthError extends MeridianError {}

/** 404: unknown model, version or route. */
export class NotFoundError extends MeridianError {}

/** 413: the body is over the edge's limit (MAX_BODY_BYTES), or expands to too much. */
export class PayloadTooLargeError extends MeridianError {}

/** 429: over this caller's (x-user-id) rate limit; `retryAfterMs` says when to come back. */
export class RateLimitedError extends MeridianError {
  readonly retryAfterMs: number | undefined = parseRetryAfter(this.headers.get("retry-after"));
}

/** 503: the model cannot be served from here now (nor by a peer); `retryAfterMs` says when to try again. */
export class UnavailableError extends MeridianError {
  readonly retryAfterMs: number | undefined = parseRetryAfter(this.headers.get("retry-after"));
}

/** 500 and other 5xx (502, 504 from something in between): the fault is on the server's side. */
export class ServerError extends MeridianError {}

/** No answer: the connection failed, was reset, or nothing came within timeoutMs. */
export class NetworkError extends MeridianError {
  constructor(
    message: string,
    /** True when the call's own timeout ended it (not a refused or reset connection). */
    readonly timedOut: boolean,
    context: ErrorContext = {},
    options?: { cause?: unknown },
  ) {
    super(0, { error: message }, new Headers(), context);
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}

/** The error for an answer with status ≥ 400, by status. */
export function errorFor(status: number, body: ErrorBody, headers: Headers, context: ErrorContext = {}): MeridianError {
  const Kind =
    status === 400 ? InvalidInputError
    : status === 401 || status === 403 ? AuthError
    : status === 404 ? NotFoundError
    : status === 413 ? PayloadTooLargeError
    : status === 429 ? RateLimitedError
    : status === 503 ? UnavailableError
    : status >= 500 ? ServerError
    : MeridianError;
  return new Kind(status, body, headers, context);
}

/** An error body as the edge sends it, or the start of whatever else came (a proxy's HTML page). */
export function errorBody(bytes: Uint8Array, status: number): ErrorBody {
  const text = new TextDecoder().decode(bytes);
  try {
    const json: unknown = JSON.parse(text);
    if (json && typeof json === "object" && typeof (json as { error?: unknown }).error === "string") return json as ErrorBody;
  } catch {
    // not JSON: fall through
  }
  const snippet = text.trim().replace(/\s+/g, " ").slice(0, 200);
  return { error: snippet || `HTTP ${status} with no error message` };
}

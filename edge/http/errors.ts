// The one boundary where domain errors become HTTP answers: a status, headers and a JSON
// `{"error"}` body. Anything that is not a domain error is a fault of the server: a 500 that is
// logged and counted, with no detail sent to the client.
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { TensorError } from "../../shared/tensors";
import {
  ArtifactNotFound,
  CallerStateUnavailable,
  FeatureViewNotFound,
  LogObjectNotFound,
  InferenceFailed,
  InvalidInput,
  LengthRequired,
  MeridianError,
  ModelNotFound,
  ModelUnavailable,
  NotConfigured,
  PayloadTooLarge,
  PermissionDenied,
  RateLimited,
  RouteNotFound,
  Unauthenticated,
} from "../errors";

// Subclasses first: the first match wins.
const STATUS: Array<[abstract new (...args: never[]) => MeridianError, ContentfulStatusCode]> = [
  [InvalidInput, 400],
  [Unauthenticated, 401],
  [PermissionDenied, 403],
  [ModelNotFound, 404],
  [ArtifactNotFound, 404],
  [FeatureViewNotFound, 404],
  [LogObjectNotFound, 404],
  [RouteNotFound, 404],
  [LengthRequired, 411],
  [PayloadTooLarge, 413],
  [RateLimited, 429],
  [InferenceFailed, 500],
  [ModelUnavailable, 503],
  [CallerStateUnavailable, 503],
  [NotConfigured, 503],
];

export interface ErrorAnswer {
  status: ContentfulStatusCode;
  headers: Record<string, string>;
  body: { error: string };
}

/** Server faults this isolate has answered, by error name: what /v2/health/ready shows. */
export const faults = { total: 0, byKind: {} as Record<string, number> };

/** The status an error maps to, without answering or counting it (a shadow's failure). */
export function statusOf(err: unknown): ContentfulStatusCode {
  if (err instanceof TensorError) return 400;
  return (err instanceof MeridianError && STATUS.find(([type]) => err instanceof type)?.[1]) || 500;
}

export function errorAnswer(err: unknown): ErrorAnswer {
  // The shared tensor codec's errors are always the client's data at fault.
  if (err instanceof TensorError) err = new InvalidInput(err.message);
  if (!(err instanceof MeridianError)) {
    count(err instanceof Error ? err.name : "unknown");
    console.error("unhandled", err);
    return { status: 500, headers: {}, body: { error: "internal error" } };
  }
  const status = statusOf(err);
  if (status === 500) {
    count(err.name);
    console.error(err.name, err.message);
  }
  const headers: Record<string, string> = {};
  if (err.retryAfterSeconds !== undefined) headers["retry-after"] = String(Math.max(1, Math.ceil(err.retryAfterSeconds)));
  if (err instanceof Unauthenticated) headers["www-authenticate"] = "Bearer";
  if (err instanceof CallerStateUnavailable && err.shard) headers["x-meridian-shard"] = err.shard;
  if (err instanceof RateLimited) {
    headers["x-meridian-shard"] = err.details.shard;
    headers["x-meridian-requests"] = String(err.details.count);
    headers["ratelimit-limit"] = String(err.details.limit);
    headers["ratelimit-remaining"] = "0";
  }
  return { status, headers, body: { error: capped(err.message) } };
}

/** Messages quote what the client sent: never send back more than a few KB of it. */
export const MAX_ERROR_CHARS = 2_048;

function capped(message: string): string {
  return message.length <= MAX_ERROR_CHARS ? message : `${message.slice(0, MAX_ERROR_CHARS)}… (${message.length} characters)`;
}

function count(kind: string): void {
  faults.total++;
  faults.byKind[kind] = (faults.byKind[kind] ?? 0) + 1;
}

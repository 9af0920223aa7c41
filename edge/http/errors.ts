// Errors that reach a route carry their HTTP status; everything else is a 500.
import type { ContentfulStatusCode } from "hono/utils/http-status";

export class HttpError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "HttpError";
  }
}

export const badRequest = (message: string) => new HttpError(400, message);
export const notFound = (message: string) => new HttpError(404, message);
export const payloadTooLarge = (message: string) => new HttpError(413, message);
export const unavailable = (message: string, retryAfterSeconds = 5) =>
  new HttpError(503, message, { "retry-after": String(retryAfterSeconds) });

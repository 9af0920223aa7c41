import { describe, expect, it } from "vitest";
import {
  AuthError,
  InvalidInputError,
  MeridianError,
  NetworkError,
  NotFoundError,
  PayloadTooLargeError,
  RateLimitedError,
  ServerError,
  UnavailableError,
  errorBody,
  errorFor,
} from "./errors";

describe("errorFor", () => {
  it("maps each status the edge answers to its class", () => {
    const cases: Array<[number, new (...args: never[]) => MeridianError]> = [
      [400, InvalidInputError],
      [401, AuthError],
      [403, AuthError],
      [404, NotFoundError],
      [413, PayloadTooLargeError],
      [429, RateLimitedError],
      [503, UnavailableError],
      [500, ServerError],
      [502, ServerError],
      [504, ServerError],
    ];
    for (const [status, Kind] of cases) {
      const err = errorFor(status, { error: "why" }, new Headers({ "x-meridian-pop": "FRA" }), { url: "http://edge", attempts: 2 });
      expect(err, String(status)).toBeInstanceOf(Kind);
      expect(err).toMatchObject({ status, body: { error: "why" }, message: `${status} why`, name: Kind.name, attempts: 2, url: "http://edge", pop: "FRA" });
    }
    const other = errorFor(411, { error: "length required" }, new Headers());
    expect(other.constructor).toBe(MeridianError);
  });

  it("reads Retry-After on 429 and 503", () => {
    expect((errorFor(429, { error: "slow down" }, new Headers({ "retry-after": "42" })) as RateLimitedError).retryAfterMs).toBe(42_000);
    expect((errorFor(503, { error: "later" }, new Headers()) as UnavailableError).retryAfterMs).toBeUndefined();
  });

  it("NetworkError has status 0 and says whether the timeout ended it", () => {
    const err = new NetworkError("no answer", true, { url: "http://edge" });
    expect(err).toMatchObject({ status: 0, message: "no answer", timedOut: true, name: "NetworkError" });
    expect(err).toBeInstanceOf(MeridianError);
  });
});

describe("errorBody", () => {
  const bytes = (s: string) => new TextEncoder().encode(s);
  it("keeps the edge's JSON error, and quotes anything else briefly", () => {
    expect(errorBody(bytes('{"error":"bad input","extra":1}'), 400)).toEqual({ error: "bad input", extra: 1 });
    expect(errorBody(bytes("<html>\n  <h1>502 Bad Gateway</h1>\n</html>"), 502)).toEqual({ error: "<html> <h1>502 Bad Gateway</h1> </html>" });
    expect(errorBody(bytes('{"message":"no error field"}'), 500).error).toBe('{"message":"no error field"}');
    expect(errorBody(new Uint8Array(0), 504)).toEqual({ error: "HTTP 504 with no error message" });
    expect(errorBody(bytes("x".repeat(1000)), 500).error).toHaveLength(200);
  });
});

// CORS for the routes any page may call: any origin, no credentials. The headers are set with
// c.header before the answer exists, where they cost nothing: Hono's cors() sets them on c.res,
// which builds a Response before the route runs and copies it again when the route answers.
import type { MiddlewareHandler } from "hono";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "./context";

export interface PublicCorsOptions {
  allowMethods: readonly string[];
  /** Request headers a page may send. */
  allowHeaders: readonly string[];
  /** Response headers a page may read. */
  exposeHeaders: readonly string[];
  /** How long a browser may keep a preflight's answer. */
  maxAgeSeconds: number;
}

export function publicCors(o: PublicCorsOptions): MiddlewareHandler<AppEnv> {
  const preflight = {
    "access-control-allow-origin": "*",
    "access-control-allow-methods": o.allowMethods.join(","),
    "access-control-allow-headers": o.allowHeaders.join(","),
    "access-control-max-age": String(o.maxAgeSeconds),
  };
  const expose = o.exposeHeaders.join(",");
  return createMiddleware<AppEnv>(async (c, next) => {
    if (c.req.method === "OPTIONS") return c.body(null, 204, preflight);
    c.header("access-control-allow-origin", "*");
    c.header("access-control-expose-headers", expose);
    await next();
  });
}

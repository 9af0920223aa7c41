// Says which PoP answered (x-meridian-pop).
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "./context";

export const popHeader = createMiddleware<AppEnv>(async (c, next) => {
  await next();
  // A response forwarded from a peer already names the PoP that served it.
  if (!c.res.headers.has("x-meridian-pop")) c.header("x-meridian-pop", c.var.pop);
});

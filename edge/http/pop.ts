// Says which PoP answered (x-meridian-pop).
import { createMiddleware } from "hono/factory";
import { colo, type AppEnv } from "./context";

export const popHeader = createMiddleware<AppEnv>(async (c, next) => {
  await next();
  // A response forwarded from a peer already names the PoP that served it.
  if (!c.res.headers.has("x-meridian-pop")) c.header("x-meridian-pop", colo(c.req.raw, c.var.isolate.config));
});

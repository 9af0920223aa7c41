// Says which PoP answered (x-meridian-pop).
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "./context";

export const popHeader = createMiddleware<AppEnv>(async (c, next) => {
  // Before the answer, where a header costs nothing; a response forwarded from a peer replaces
  // the whole response, so it keeps the PoP that served it.
  c.header("x-meridian-pop", c.get("pop"));
  await next();
});

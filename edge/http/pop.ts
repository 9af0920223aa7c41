// Says which PoP answered (request.cf.colo; "local" when there is no cf object).
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../env";

export const popHeader = createMiddleware<AppEnv>(async (c, next) => {
  await next();
  c.header("x-meridian-pop", colo(c.req.raw));
});

export function colo(request: Request): string {
  const cf = request.cf as { colo?: unknown } | undefined;
  return typeof cf?.colo === "string" ? cf.colo : "local";
}

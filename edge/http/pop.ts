// Says which PoP answered: request.cf.colo, or POP_COLO where a local run plays a given PoP
// (several local workerd instances standing in for several PoPs).
import { createMiddleware } from "hono/factory";
import type { AppEnv, Env } from "../env";

export const popHeader = createMiddleware<AppEnv>(async (c, next) => {
  await next();
  // A response forwarded from a peer already names the PoP that served it.
  if (!c.res.headers.has("x-meridian-pop")) c.header("x-meridian-pop", colo(c.req.raw, c.env));
});

export function colo(request: Request, env: Pick<Env, "POP_COLO">): string {
  if (env.POP_COLO) return env.POP_COLO;
  const cf = request.cf as { colo?: unknown } | undefined;
  return typeof cf?.colo === "string" ? cf.colo : "local";
}

// POST /v2/models/{name}[/versions/{v}]/infer (OIP v2).
import { Hono } from "hono";
import { InferenceRequestSchema, describeZodError } from "../../shared/oip";
import { InvalidInput } from "../errors";
import type { AppEnv } from "../http/context";
import { failover } from "../http/failover";
import { countPredictions } from "../http/metrics";
import { serve } from "./serve";

function decode(body: unknown) {
  const parsed = InferenceRequestSchema.safeParse(body);
  if (!parsed.success) throw new InvalidInput(`invalid inference request: ${describeZodError(parsed.error)}`);
  return parsed.data;
}

export const inferRoutes = new Hono<AppEnv>()
  .post("/v2/models/:name/versions/:version/infer", countPredictions, failover, async (c) => c.json((await serve(c, c.req.param("version"), decode)).response))
  .post("/v2/models/:name/infer", countPredictions, failover, async (c) => c.json((await serve(c, undefined, decode)).response));

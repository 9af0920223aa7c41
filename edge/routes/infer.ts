// POST /v2/models/{name}[/versions/{v}]/infer (OIP v2).
import { Hono, type Context } from "hono";
import { InferenceRequestSchema, describeZodError } from "../../shared/oip";
import { intVar, type AppEnv } from "../env";
import { readJson } from "../http/body";
import { badRequest } from "../http/errors";
import { failover } from "../http/failover";
import { admit } from "../http/limit";
import { requestContext } from "../http/services";
import { infer } from "../runtime/infer";

export const inferRoutes = new Hono<AppEnv>()
  .post("/v2/models/:name/versions/:version/infer", failover, (c) => handle(c, c.req.param("version")))
  .post("/v2/models/:name/infer", failover, (c) => handle(c));

async function handle(c: Context<AppEnv>, version?: string): Promise<Response> {
  const { manifest, variant } = await c.var.models.route(c.req.param("name") ?? "", version, requestContext(c));
  // After route(): a model this PoP cannot load fails (and is forwarded) before the caller is counted.
  await admit(c);
  const body = await readJson(c.req.raw, intVar(c.env.MAX_BODY_BYTES, 4 << 20));
  const parsed = InferenceRequestSchema.safeParse(body);
  if (!parsed.success) throw badRequest(`invalid inference request: ${describeZodError(parsed.error)}`);
  const lease = await c.var.models.acquire(manifest);
  try {
    const response = await infer(lease.loaded, manifest, parsed.data);
    c.header("x-meridian-backend", lease.loaded.backend);
    c.header("x-meridian-model-version", response.model_version);
    c.header("x-meridian-variant", variant);
    return c.json(response);
  } finally {
    lease.release();
  }
}

// The one path every prediction route takes: pick the version (pinned, canary or stable),
// admit the caller, read and decode the body, run the model under a lease, and name what served
// in the response headers. Routes differ only in how they decode the body and shape the answer.
import type { Context } from "hono";
import type { Manifest } from "../../shared/manifest";
import type { InferenceRequest, InferenceResponse } from "../../shared/oip";
import { admit, CALLER_HEADER } from "../callers/admit";
import type { CfLocation } from "../geo/peers";
import { readJson } from "../http/body";
import { colo, requestContext, type AppEnv } from "../http/context";
import { COMPUTE, LOAD_WAIT } from "../metrics/families";
import { infer } from "../runtime/infer";

export interface Prediction {
  manifest: Manifest;
  response: InferenceResponse;
}

export async function serve(
  c: Context<AppEnv>,
  version: string | undefined,
  decode: (body: unknown, manifest: Manifest) => InferenceRequest,
): Promise<Prediction> {
  const { models, config, mesh } = c.var.isolate;
  const { manifest, variant } = await models.route(c.req.param("name") ?? "", version, requestContext(c));
  c.set("served", { model: manifest.name, version: String(manifest.version), variant });
  // After route(): a model this PoP cannot load fails (and is forwarded) before the caller is counted.
  const counted = await admit(c.env, mesh, {
    key: c.req.header(CALLER_HEADER),
    colo: colo(c.req.raw, config),
    cf: c.req.raw.cf as CfLocation | undefined,
  });
  for (const [k, v] of Object.entries(counted)) c.header(k, v);
  const request = decode(await readJson(c.req.raw, config.maxBodyBytes), manifest);
  const { metrics } = c.var.isolate.recorder;
  const t0 = performance.now();
  const lease = await models.acquire(manifest);
  metrics.observe(LOAD_WAIT, { model: manifest.name, version: String(manifest.version) }, (performance.now() - t0) / 1000);
  try {
    const timings = { runMs: 0 };
    const response = await infer(lease.loaded, manifest, request, timings);
    metrics.observe(COMPUTE, { model: manifest.name, version: String(manifest.version), variant }, timings.runMs / 1000);
    c.header("x-meridian-backend", lease.loaded.backend);
    c.header("x-meridian-model-version", response.model_version);
    c.header("x-meridian-variant", variant);
    return { manifest, response };
  } finally {
    lease.release();
  }
}

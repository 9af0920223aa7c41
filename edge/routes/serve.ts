// The one path every prediction route takes: pick the version (pinned, canary or stable),
// admit the caller, read and decode the body, run the model under a lease, and name what served
// in the response headers; after the answer, run the shadow version on the same request when the
// policy sampled it (filled from its own feature views when it has some). Routes differ only in how they decode the body and shape the answer.
import type { Context } from "hono";
import type { Manifest } from "../../shared/manifest";
import { HEADER_LENGTH, headerLength, splitBody } from "../../shared/binary";
import type { InferenceRequest, InferenceResult } from "../../shared/oip";
import { admit, CALLER_HEADER, readAtHome, type Caller } from "../callers/admit";
import type { Env } from "../env";
import { featureReads, joinFeatures, type FeatureParameters } from "../features/join";
import { readEntity, type EntityRead } from "../features/read";
import type { Mesh } from "../geo/mesh";
import type { CfLocation } from "../geo/peers";
import { parseJson, readBytes } from "../http/body";
import { requestContext, type AppEnv } from "../http/context";
import { statusOf } from "../http/errors";
import type { Isolate } from "../isolate";
import { BATCH_ROWS, COMPUTE, DURATION, FEATURIZE, LOAD_WAIT, REQUESTS, RESPONSE_CACHE, SHADOW_ABS_DIFF, SHADOW_COMPARISONS, outcomeOf } from "../metrics/families";
import { compareOutputs } from "../runtime/compare";
import { infer } from "../runtime/infer";

export interface Prediction {
  manifest: Manifest;
  request: InferenceRequest;
  result: InferenceResult;
}

/** A request body: its JSON (the whole body, or the header before binary tensor data) and the binary data. */
export interface Body {
  json: unknown;
  binary: Uint8Array;
}

export async function serve(
  c: Context<AppEnv>,
  version: string | undefined,
  decode: (body: Body, manifest: Manifest) => InferenceRequest,
): Promise<Prediction> {
  const { models, config, mesh } = c.get("isolate");
  const ctx = requestContext(c);
  const { manifest, variant, shadow } = await models.route(c.req.param("name") ?? "", version, ctx);
  c.set("served", { model: manifest.name, version: String(manifest.version), variant });
  // Named before anything can fail, so an error answer says which version gave it too.
  c.header("x-meridian-model-version", String(manifest.version));
  c.header("x-meridian-variant", variant);
  // After route(): a model this PoP cannot load fails (and is forwarded) before the caller is counted.
  const caller = { key: c.req.header(CALLER_HEADER), colo: c.get("pop"), cf: () => c.req.raw.cf as CfLocation | undefined };
  let request: InferenceRequest;
  let featureParameters: FeatureParameters | null = null;
  /** What the caller sent, and what was read for it: a shadow with views of its own fills from them. */
  let sent: { request: InferenceRequest; entity: string; views: string[]; read: EntityRead } | null = null;
  if (!manifest.features) {
    const { headers } = await admit(c.env, mesh, caller);
    for (const [k, v] of Object.entries(headers)) c.header(k, v);
    request = decode(await readBody(c, config.maxBodyBytes), manifest);
  } else {
    // The body names the entity (parameters.entity_id), so it is read first; the entity's values
    // come back from the same shard call that counts the caller.
    request = decode(await readBody(c, config.maxBodyBytes), manifest);
    const reads = featureReads(manifest, request, caller.key);
    const read = await readEntity(c.env, mesh, caller, manifest, reads);
    for (const [k, v] of Object.entries(read.headers)) c.header(k, v);
    const joined = joinFeatures(manifest, request, reads.entity, read, Date.now());
    sent = { request, entity: reads.entity, views: reads.views, read };
    request = joined.request;
    featureParameters = joined.parameters;
  }
  const { metrics } = c.get("isolate").recorder;
  const t0 = performance.now();
  const lease = await models.acquire(manifest);
  metrics.observe(LOAD_WAIT, { model: manifest.name, version: String(manifest.version) }, (performance.now() - t0) / 1000);
  try {
    const timings = { featurizeMs: 0, runMs: 0 };
    const { result, cache, runRows } = await infer(lease.loaded, manifest, request, { timings, cache: { store: c.get("isolate").responses, waitUntil: (p) => ctx.waitUntil(p) } });
    const labels = { model: manifest.name, version: String(manifest.version), variant };
    metrics.observe(FEATURIZE, labels, timings.featurizeMs / 1000);
    metrics.inc(RESPONSE_CACHE, { ...labels, result: cache });
    c.header("x-meridian-cache", cache);
    c.header("x-meridian-backend", lease.loaded.backend);
    if (runRows !== null) {
      metrics.observe(COMPUTE, labels, timings.runMs / 1000);
      if (lease.loaded.batcher) {
        metrics.observe(BATCH_ROWS, { model: labels.model, version: labels.version }, runRows);
        c.header("x-meridian-batch-rows", String(runRows));
      }
    }
    // After the answer: the shadow runs on the same request, and only its comparison is kept.
    if (shadow) {
      const decoded = sent?.request ?? request;
      ctx.waitUntil(runShadow(c.get("isolate"), shadow, () => shadowRequest(c.env, mesh, caller, shadow, request, decoded, sent), result));
    }
    if (featureParameters) result.parameters = { ...result.parameters, ...featureParameters };
    return { manifest, request, result };
  } finally {
    lease.release();
  }
}

/**
 * Reads the body once (kept on the context, where failover finds it) and splits a binary tensor
 * body into its JSON header and data; the limit applies to the whole body.
 */
async function readBody(c: Context<AppEnv>, limit: number): Promise<Body> {
  const length = headerLength(c.req.header(HEADER_LENGTH));
  const bytes = await readBytes(c.req.raw, limit, length ?? 0);
  if (bytes) c.set("body", bytes);
  const { header, binary } = splitBody(bytes ?? new Uint8Array(0), length);
  return { json: parseJson(header), binary };
}

/**
 * What a shadow runs on: the served request; for a shadow with feature views, the request as sent
 * filled from its own views, as if it were serving (read again from the entity's home shard, after
 * the answer, when it reads views the served version did not).
 */
async function shadowRequest(env: Env, mesh: Mesh, caller: Caller, shadow: Manifest, served: InferenceRequest, decoded: InferenceRequest, sent: { entity: string; views: string[]; read: EntityRead } | null): Promise<InferenceRequest> {
  if (!shadow.features) return served;
  const views = shadow.features.map((v) => v.name);
  const entity = sent?.entity ?? featureReads(shadow, decoded, caller.key).entity;
  const read = sent && views.every((v) => sent.views.includes(v)) ? sent.read : { features: await readAtHome(env, mesh, caller, { entity, views }), consistency: "strong" as const, ageMs: 0 };
  return joinFeatures(shadow, decoded, entity, read, Date.now()).request;
}

/** Runs the shadow version on a served request and counts its latency, outcome and agreement. */
async function runShadow(isolate: Isolate, manifest: Manifest, requestOf: () => Promise<InferenceRequest>, served: InferenceResult): Promise<void> {
  const { metrics } = isolate.recorder;
  const labels = { model: manifest.name, version: String(manifest.version) };
  const t0 = performance.now();
  let status = 200;
  try {
    const request = await requestOf();
    const lease = await isolate.models.acquire(manifest);
    try {
      const timings = { featurizeMs: 0, runMs: 0 };
      const answer = (await infer(lease.loaded, manifest, request, { timings })).result;
      metrics.observe(FEATURIZE, { ...labels, variant: "shadow" }, timings.featurizeMs / 1000);
      metrics.observe(COMPUTE, { ...labels, variant: "shadow" }, timings.runMs / 1000);
      const { agree, disagree, maxAbsDiff } = compareOutputs(served.outputs, answer.outputs, new Set(Object.keys(manifest.labels)));
      metrics.inc(SHADOW_COMPARISONS, { ...labels, result: "agree" }, agree);
      metrics.inc(SHADOW_COMPARISONS, { ...labels, result: "disagree" }, disagree);
      metrics.observe(SHADOW_ABS_DIFF, labels, maxAbsDiff);
    } finally {
      lease.release();
    }
  } catch (err) {
    status = statusOf(err);
  }
  const run = { ...labels, variant: "shadow", route: "local" };
  metrics.inc(REQUESTS, { ...run, outcome: outcomeOf(status) });
  metrics.observe(DURATION, run, (performance.now() - t0) / 1000);
}

// POST /v2/models/{name}[/versions/{v}]/infer (OIP v2), with JSON or binary tensor data
// (Inference-Header-Content-Length) in and out.
import type { Context } from "hono";
import { Hono } from "hono";
import { BINARY_CONTENT_TYPE, HEADER_LENGTH, binaryOutputs, encodeResult, sliceBinary, toJsonResponse } from "../../shared/binary";
import { RequestShapeError, parseInferenceRequest, type InferenceRequest } from "../../shared/oip";
import type { Manifest } from "../../shared/manifest";
import { InvalidInput } from "../errors";
import type { AppEnv } from "../http/context";
import { failover } from "../http/failover";
import { countPredictions } from "../http/metrics";
import { serve, type Body, type Prediction } from "./serve";

function decode({ json, binary }: Body, manifest: Manifest): InferenceRequest {
  let request: InferenceRequest;
  try {
    request = parseInferenceRequest(json, { noInputs: allInputsFilled(manifest) });
  } catch (err) {
    if (err instanceof RequestShapeError) throw new InvalidInput(`invalid inference request: ${err.message}`);
    throw err;
  }
  for (const [input, bytes] of sliceBinary(request.inputs, binary)) input.binary = bytes;
  binaryOutputs(request); // a malformed flag is refused before the model runs
  return request;
}

/** Whether feature views fill every input of the model (then a request may send none). */
function allInputsFilled(manifest: Manifest): boolean {
  const filled = new Set((manifest.features ?? []).map((b) => b.input));
  return filled.size > 0 && manifest.inputs.every((i) => filled.has(i.name));
}

/** JSON, or a JSON header and binary data when the request asked for any output as binary. */
function answer(c: Context<AppEnv>, { request, result }: Prediction): Response {
  const binary = binaryOutputs(request);
  if (!result.outputs.some((o) => binary(o.name))) return c.json(toJsonResponse(result));
  const { body, headerLength } = encodeResult(result, binary);
  return c.body(body, 200, { "content-type": BINARY_CONTENT_TYPE, [HEADER_LENGTH]: String(headerLength) });
}

export const inferRoutes = new Hono<AppEnv>()
  .post("/v2/models/:name/versions/:version/infer", countPredictions, failover, async (c) => answer(c, await serve(c, c.req.param("version"), decode)))
  .post("/v2/models/:name/infer", countPredictions, failover, async (c) => answer(c, await serve(c, undefined, decode)));

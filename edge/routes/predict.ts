// POST /v1/predict/{name}: a convenience for plain JSON features, not part of OIP.
// {"instances": [[5.1, 3.5, 1.4, 0.2], ...]} for a model with one input of shape [-1, n], or
// {"instances": ["raw text", ...]} for a text model (manifest preprocessing), featurized here.
// Each prediction carries every output's row and, where the manifest names classes, `class`.
import { Hono } from "hono";
import { z } from "zod";
import { toJsonResponse } from "../../shared/binary";
import type { Manifest } from "../../shared/manifest";
import { describeZodError, type InferenceRequest, type TensorData } from "../../shared/oip";
import { InvalidInput } from "../errors";
import type { AppEnv } from "../http/context";
import { failover } from "../http/failover";
import { countPredictions } from "../http/metrics";
import { serve } from "./serve";

const PredictSchema = z.object({
  instances: z.array(z.union([z.array(z.union([z.number(), z.string(), z.boolean()])), z.string()])).min(1),
});

type Instances = z.infer<typeof PredictSchema>["instances"];

export const predictRoutes = new Hono<AppEnv>().post("/v1/predict/:name", countPredictions, failover, async (c) => {
  let instances: Instances = [];
  const { manifest, result } = await serve(c, undefined, ({ json, binary }, manifest) => {
    if (binary.byteLength > 0) throw new InvalidInput(`/v1/predict takes JSON only; send binary tensor data to /v2/models/${manifest.name}/infer`);
    const parsed = PredictSchema.safeParse(json);
    if (!parsed.success) throw new InvalidInput(`invalid predict request: ${describeZodError(parsed.error)}`);
    instances = parsed.data.instances;
    return toInference(manifest, instances);
  });
  const response = toJsonResponse(result);
  return c.json({
    model_name: response.model_name,
    model_version: response.model_version,
    ...(response.parameters ? { parameters: response.parameters } : {}),
    predictions: instances.map((_, row) => {
      const prediction: Record<string, unknown> = {};
      for (const out of response.outputs) {
        const width = out.shape.slice(1).reduce((a, b) => a * b, 1);
        const values = out.data.slice(row * width, (row + 1) * width);
        prediction[out.name] = out.shape.length === 1 ? values[0] : values;
        const labels = manifest.labels[out.name];
        if (labels && out.shape.length === 2) {
          const best = argmax(values as number[]);
          prediction.class = best < 0 ? null : labels[best]; // no class out of NaN scores
        }
      }
      return prediction;
    }),
  });
});

function toInference(manifest: Manifest, instances: Array<TensorData | string>): InferenceRequest {
  // Inputs that feature views fill are not the caller's to send (the entity is x-user-id here).
  const filled = new Set((manifest.features ?? []).map((b) => b.input));
  const [input, ...rest] = manifest.inputs.filter((i) => !filled.has(i.name));
  if (!input || rest.length > 0) {
    const sent = manifest.inputs.length - filled.size;
    const from = filled.size > 0 ? " from the caller (feature views fill the others)" : "";
    throw new InvalidInput(`/v1/predict serves single-input models; "${manifest.name}" takes ${sent} inputs${from}, use /v2`);
  }
  if (instances.every((i) => typeof i === "string") && manifest.preprocessing) {
    return { inputs: [{ name: input.name, datatype: "BYTES", shape: [instances.length], data: instances }] };
  }
  const text = instances.findIndex((i) => typeof i === "string");
  if (text >= 0 && input.datatype !== "BYTES") {
    throw new InvalidInput(
      manifest.preprocessing
        ? `instance ${text} is text but others are features: send all instances as strings or all as ${input.datatype} arrays`
        : `instance ${text} is a string, but "${manifest.name}" takes ${input.datatype} features (it has no text preprocessing)`,
    );
  }
  const rows = instances.map((i) => (Array.isArray(i) ? i : [i]));
  const width = input.shape.length === 2 ? input.shape[1]! : 1;
  const bad = rows.findIndex((r) => (width === -1 ? r.length !== rows[0]!.length : r.length !== width));
  if (bad >= 0) {
    throw new InvalidInput(`instance ${bad} has ${rows[bad]!.length} features, the model takes ${width === -1 ? rows[0]!.length : width}`);
  }
  const cols = width === -1 ? rows[0]!.length : width;
  const shape = input.shape.length === 1 ? [rows.length] : [rows.length, cols];
  return { inputs: [{ name: input.name, datatype: input.datatype, shape, data: rows.flat() as TensorData }] };
}

/** Index of the largest score, ignoring NaN; -1 when every score is NaN. */
function argmax(values: number[]): number {
  let best = -1;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isNaN(v) && (best < 0 || v > values[best]!)) best = i;
  }
  return best;
}

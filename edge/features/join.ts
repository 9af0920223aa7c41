// Prediction-time features: which entity a request names, which views its model reads, and the
// request with the model's feature inputs filled from the entity's stored values. What was
// defaulted or stale goes back to the caller in the response's OIP `parameters`.
import { MissingFeature, fillInputs, type StoredFeatures } from "../../shared/feature-inputs";
import type { Manifest } from "../../shared/manifest";
import type { InferenceRequest } from "../../shared/oip";
import { CALLER_HEADER, type FeatureReads } from "../callers/admit";
import { InvalidInput, PayloadTooLarge } from "../errors";

/** Values the edge fills into one request's inputs at most (4 Mi: 16 MiB of FP32), whatever the batch. */
export const MAX_FILLED_VALUES = 1 << 22;

/** The request parameter that names the entity (else x-user-id does). */
export const ENTITY_PARAMETER = "entity_id";

/**
 * The entity a request to a model with feature views is about: `parameters.entity_id`, else the
 * caller (x-user-id). Neither is a 400 naming both.
 */
export function featureReads(manifest: Manifest, request: InferenceRequest, callerKey: string | undefined): FeatureReads {
  const views = manifest.features ?? [];
  const named = request.parameters?.[ENTITY_PARAMETER];
  if (named !== undefined && (typeof named !== "string" || named.length === 0)) {
    throw new InvalidInput(`parameter "${ENTITY_PARAMETER}" must be a non-empty string`);
  }
  const entity = (named as string | undefined) ?? callerKey;
  if (!entity) {
    const entities = [...new Set(views.map((v) => v.entity))].join(", ");
    throw new InvalidInput(
      `model "${manifest.name}" reads feature view${views.length > 1 ? "s" : ""} ${views.map((v) => `"${v.name}"`).join(", ")} of a ${entities}: name the entity with the ${CALLER_HEADER} header or parameters.${ENTITY_PARAMETER}`,
    );
  }
  return { entity, views: views.map((v) => v.name) };
}

/** Response parameters that say what the features were (OIP parameter values are scalars: lists are comma-separated). */
export interface FeatureParameters {
  feature_entity: string;
  /** How the values were read: "strong" (the entity's home shard) or "bounded" (a copy in this PoP's region). */
  feature_consistency: "strong" | "bounded";
  /** For "bounded": how old the oldest copy used was (ms, within the views' maxStalenessMs); 0 when strong. */
  feature_age_ms: number;
  /** "view.feature" whose default was used (no value, or one older than its maxAgeMs); "" for none. */
  feature_defaulted: string;
  /** "view.feature" whose stored value was older than its maxAgeMs; "" for none. */
  feature_stale: string;
}

/** The request with its feature inputs added, and the parameters describing them. */
export function joinFeatures(
  manifest: Manifest,
  request: InferenceRequest,
  entity: string,
  read: { features: StoredFeatures; consistency: FeatureParameters["feature_consistency"]; ageMs: number },
  now: number,
): { request: InferenceRequest; parameters: FeatureParameters } {
  const bindings = manifest.features ?? [];
  const filled = new Map(bindings.map((b) => [b.input, b.name]));
  for (const input of request.inputs) {
    const view = filled.get(input.name);
    if (view) throw new InvalidInput(`input "${input.name}" is filled from feature view "${view}" at the edge: do not send it`);
  }
  const rows = batchRows(manifest, request, filled);
  const values = manifest.inputs.filter((s) => filled.has(s.name)).reduce((n, s) => n + (s.shape[0] === -1 ? rows : s.shape[0]!) * s.shape.slice(1).reduce((a, b) => a * b, 1), 0);
  if (values > MAX_FILLED_VALUES) throw new PayloadTooLarge(`${rows} rows would fill ${values} feature values, more than ${MAX_FILLED_VALUES} per request`);
  let fill;
  try {
    fill = fillInputs(bindings, manifest.inputs, read.features, rows, now);
  } catch (err) {
    if (err instanceof MissingFeature) throw new InvalidInput(`entity "${entity}": ${err.message}`);
    throw err;
  }
  return {
    request: { ...request, inputs: [...request.inputs, ...fill.inputs] },
    parameters: { feature_entity: entity, feature_consistency: read.consistency, feature_age_ms: read.ageMs, feature_defaulted: fill.defaulted.join(","), feature_stale: fill.stale.join(",") },
  };
}

/** Rows of the request: the first dimension of an input the caller sent whose batch is dynamic; else 1. */
function batchRows(manifest: Manifest, request: InferenceRequest, filled: Map<string, string>): number {
  for (const spec of manifest.inputs) {
    if (filled.has(spec.name) || spec.shape[0] !== -1) continue;
    const sent = request.inputs.find((i) => i.name === spec.name);
    const rows = sent?.shape[0];
    if (typeof rows === "number" && Number.isSafeInteger(rows) && rows >= 1) return rows;
  }
  return 1;
}

// The metric families every isolate counts (names after Prometheus conventions and Triton's
// nv_inference_* set). The aggregator adds `pop`; these are the other labels.
import type { Outcome } from "../../shared/fleet";
import type { MetricSpec } from "../../shared/metrics";

export const REQUESTS = "meridian_inference_requests_total";
export const DURATION = "meridian_inference_duration_seconds";
export const COMPUTE = "meridian_inference_compute_duration_seconds";
export const FEATURIZE = "meridian_inference_featurize_duration_seconds";
export const LOAD_WAIT = "meridian_model_load_wait_seconds";
export const LOADS = "meridian_model_loads_total";
export const LOAD_DURATION = "meridian_model_load_duration_seconds";
export const SESSION_CACHE = "meridian_session_cache_events_total";
export const POINTER_SEQ = "meridian_pointer_seq";
export const POINTER_AGE = "meridian_pointer_age_seconds";
export const POINTER_PROPAGATION = "meridian_pointer_propagation_seconds";
export const BREAKER_STATE = "meridian_peer_breaker_state";
export const SHADOW_COMPARISONS = "meridian_shadow_comparisons_total";
export const SHADOW_ABS_DIFF = "meridian_shadow_max_abs_difference";
export const REGISTRY_SEQ = "meridian_registry_seq";
export const RESPONSE_CACHE = "meridian_response_cache_total";
export const BATCH_ROWS = "meridian_inference_batch_rows";

/** Requests for a model no registry knows are counted under this name (a client's name is no label). */
export const UNKNOWN_MODEL = "_unknown";
/** Series of no model (peer breakers) go to the aggregator of this name. */
export const FLEET = "_fleet";

/** Breaker states as gauge values. */
export const BREAKER_VALUE = { closed: 0, "half-open": 1, open: 2 } as const;

/** Bounds of the shadow's max-abs-difference histogram: from float noise to a different answer. */
const DIFF_BUCKETS = [1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1, 10];
/** Rows per session.run of a batching version (Triton counts batches the same way). */
const ROW_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

const request = ["model", "version", "variant", "route"] as const;

export const FAMILIES: readonly MetricSpec[] = [
  { name: REQUESTS, help: "Prediction requests, by model, version, variant, route and outcome.", type: "counter", labels: [...request, "outcome"] },
  { name: DURATION, help: "Whole prediction request, from arrival to answer (seconds).", type: "histogram", labels: request },
  { name: COMPUTE, help: "session.run of one request (seconds).", type: "histogram", labels: ["model", "version", "variant"] },
  { name: FEATURIZE, help: "Turning one request's inputs into tensors: decoding them, and featurizing raw text (seconds).", type: "histogram", labels: ["model", "version", "variant"] },
  { name: LOAD_WAIT, help: "Time a request waited for its model's session (seconds; near 0 once loaded).", type: "histogram", labels: ["model", "version"] },
  { name: LOADS, help: "Model loads in an isolate (verify, fetch, create the session), by outcome.", type: "counter", labels: ["model", "version", "outcome"] },
  { name: LOAD_DURATION, help: "How long a model load took, failed ones included (seconds).", type: "histogram", labels: ["model", "version"] },
  { name: SESSION_CACHE, help: "Session cache events in an isolate: hit, load, eviction.", type: "counter", labels: ["model", "version", "event"] },
  { name: POINTER_SEQ, help: "Seq of the serving pointer this PoP serves (behind the registry's meridian_registry_seq while it trails).", type: "gauge", labels: ["model"] },
  { name: POINTER_AGE, help: "How long ago this PoP last read the model's pointer: the most it can trail the registry (seconds).", type: "gauge", labels: ["model"] },
  { name: POINTER_PROPAGATION, help: "From a pointer change at the registry to this PoP serving it (seconds).", type: "histogram", labels: ["model"] },
  { name: SHADOW_COMPARISONS, help: "Shadow runs compared with what was served, per output row: agree or disagree (top-1, or within tolerance).", type: "counter", labels: ["model", "version", "result"] },
  { name: SHADOW_ABS_DIFF, help: "Per shadow run, the largest absolute difference from the served outputs.", type: "histogram", labels: ["model", "version"], buckets: DIFF_BUCKETS },
  { name: RESPONSE_CACHE, help: "Prediction answers by response cache outcome: hit-isolate, hit-pop, miss (ran and stored), bypass (not cached).", type: "counter", labels: ["model", "version", "variant", "result"] },
  { name: BATCH_ROWS, help: "Rows in the session.run that answered a request of a batching version (its own rows and those it was merged with).", type: "histogram", labels: ["model", "version"], buckets: ROW_BUCKETS },
  { name: BREAKER_STATE, help: "Circuit breaker of a peer PoP or shard seen from this PoP: 0 closed, 1 half-open, 2 open.", type: "gauge", labels: ["kind", "peer"] },
];

/** Scraped from the registry itself, not counted by isolates. */
export const REGISTRY_FAMILIES: readonly MetricSpec[] = [
  { name: REGISTRY_SEQ, help: "Seq of the model's serving pointer at the registry.", type: "gauge", labels: ["model"] },
];

export function outcomeOf(status: number): Outcome {
  if (status < 400) return "success";
  if (status === 429) return "rate_limited";
  if (status === 503) return "unavailable";
  return status >= 500 ? "server_error" : "client_error";
}

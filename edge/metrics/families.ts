// The metric families every isolate counts (names after Prometheus conventions and Triton's
// nv_inference_* set). The aggregator adds `pop`; these are the other labels.
import type { MetricSpec } from "../../shared/metrics";

export const REQUESTS = "meridian_inference_requests_total";
export const DURATION = "meridian_inference_duration_seconds";
export const COMPUTE = "meridian_inference_compute_duration_seconds";
export const LOAD_WAIT = "meridian_model_load_wait_seconds";
export const LOADS = "meridian_model_loads_total";
export const LOAD_DURATION = "meridian_model_load_duration_seconds";

/** What a prediction request came to. */
export type Outcome = "success" | "client_error" | "server_error" | "rate_limited" | "unavailable";

/** Requests for a model no registry knows are counted under this name (a client's name is no label). */
export const UNKNOWN_MODEL = "_unknown";

const request = ["model", "version", "variant", "route"] as const;

export const FAMILIES: readonly MetricSpec[] = [
  { name: REQUESTS, help: "Prediction requests, by model, version, variant, route and outcome.", type: "counter", labels: [...request, "outcome"] },
  { name: DURATION, help: "Whole prediction request, from arrival to answer (seconds).", type: "histogram", labels: request },
  { name: COMPUTE, help: "session.run of one request (seconds).", type: "histogram", labels: ["model", "version", "variant"] },
  { name: LOAD_WAIT, help: "Time a request waited for its model's session (seconds; near 0 once loaded).", type: "histogram", labels: ["model", "version"] },
  { name: LOADS, help: "Model loads in an isolate (verify, fetch, create the session), by outcome.", type: "counter", labels: ["model", "version", "outcome"] },
  { name: LOAD_DURATION, help: "How long a model load took, failed ones included (seconds).", type: "histogram", labels: ["model", "version"] },
];

export function outcomeOf(status: number): Outcome {
  if (status < 400) return "success";
  if (status === 429) return "rate_limited";
  if (status === 503) return "unavailable";
  return status >= 500 ? "server_error" : "client_error";
}

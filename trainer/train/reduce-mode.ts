// Who turns the shards' gradients into the step: the coordinator (hub: it averages, applies and
// publishes the weights) or the workers' replicas (replicated: reducer slots average, every worker
// applies the same average to its own copy). Apart from the loop so the CLI can list the modes
// without loading TensorFlow.js.
export const REDUCE_MODES = ["hub", "replicated"] as const;
export type ReduceMode = (typeof REDUCE_MODES)[number];

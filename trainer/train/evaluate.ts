// Held-out evaluation of the TF.js model (see metrics.ts for the scores).
import { argmaxRows } from "../../shared/onnx/mlp";
import type { Split } from "../data/types";
import { scorePredictions, type Evaluation } from "./metrics";
import { predictProbabilities, predictProbabilitiesAsync } from "./model";

export { formatEvaluation, scorePredictions, type Evaluation } from "./metrics";

/** Evaluates the TF.js model with flat parameters on a split. */
export function evaluate(sizes: readonly number[], params: Float32Array, split: Split, positive?: number): Evaluation {
  const classes = sizes[sizes.length - 1]!;
  const probs = predictProbabilities(sizes, params, split.x, split.rows);
  return scorePredictions(argmaxRows(probs, classes), split.y, positive, { values: probs, classes });
}

/** evaluate(), yielding to the event loop between chunks (for long evaluations inside a run). */
export async function evaluateAsync(sizes: readonly number[], params: Float32Array, split: Split, positive?: number): Promise<Evaluation> {
  const classes = sizes[sizes.length - 1]!;
  const probs = await predictProbabilitiesAsync(sizes, params, split.x, split.rows);
  return scorePredictions(argmaxRows(probs, classes), split.y, positive, { values: probs, classes });
}

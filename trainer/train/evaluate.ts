// Held-out evaluation of the TF.js model (see metrics.ts for the scores).
import { argmaxRows } from "../../shared/onnx/mlp";
import type { Split } from "../data/types";
import { ScoreAccumulator, scorePredictions, type Evaluation } from "./metrics";
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

/** evaluate() over a split streamed in blocks (held-out shards, one in memory at a time). */
export async function evaluateBlocks(sizes: readonly number[], params: Float32Array, blocks: AsyncIterable<Split>, positive?: number): Promise<Evaluation> {
  const classes = sizes[sizes.length - 1]!;
  const acc = new ScoreAccumulator(positive, true);
  for await (const b of blocks) {
    const probs = await predictProbabilitiesAsync(sizes, params, b.x, b.rows);
    acc.add(argmaxRows(probs, classes), b.y, { values: probs, classes });
  }
  return acc.result();
}

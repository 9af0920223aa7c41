// Held-out evaluation of the TF.js model (see metrics.ts for the scores).
import { argmaxRows } from "../../shared/onnx/mlp";
import type { Split } from "../data/types";
import { ScoreAccumulator, scorePredictions, type Evaluation } from "./metrics";
import { archClasses, type Arch } from "./arch";
import { probabilitiesOf, probabilitiesOfAsync } from "./models";

export { formatEvaluation, scorePredictions, type Evaluation } from "./metrics";

/** Evaluates the TF.js model with flat parameters on a split. */
export function evaluate(arch: Arch, params: Float32Array, split: Split, positive?: number): Evaluation {
  const classes = archClasses(arch);
  const probs = probabilitiesOf(arch, params, split.x, split.rows);
  return scorePredictions(argmaxRows(probs, classes), split.y, positive, { values: probs, classes });
}

/** evaluate(), yielding to the event loop between chunks (for long evaluations inside a run). */
export async function evaluateAsync(arch: Arch, params: Float32Array, split: Split, positive?: number): Promise<Evaluation> {
  const classes = archClasses(arch);
  const probs = await probabilitiesOfAsync(arch, params, split.x, split.rows);
  return scorePredictions(argmaxRows(probs, classes), split.y, positive, { values: probs, classes });
}

/** evaluate() over a split streamed in blocks (held-out shards, one in memory at a time). */
export async function evaluateBlocks(arch: Arch, params: Float32Array, blocks: AsyncIterable<Split>, positive?: number): Promise<Evaluation> {
  const classes = archClasses(arch);
  const acc = new ScoreAccumulator(positive, true);
  for await (const b of blocks) {
    const probs = await probabilitiesOfAsync(arch, params, b.x, b.rows);
    acc.add(argmaxRows(probs, classes), b.y, { values: probs, classes });
  }
  return acc.result();
}

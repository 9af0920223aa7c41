// Scoring predictions: accuracy for every model; precision, recall and F1 of the positive class
// for binary tasks (spam = positive). Scores TF.js and onnxruntime outputs alike. No tensors here.
export type Evaluation = {
  rows: number;
  accuracy: number;
  /** Mean cross-entropy (only when probabilities are known). */
  loss?: number;
  precision?: number;
  recall?: number;
  f1?: number;
};

export function scorePredictions(
  predicted: ArrayLike<number>,
  y: ArrayLike<number>,
  positive?: number,
  probabilities?: { values: Float32Array; classes: number },
): Evaluation {
  const acc = new ScoreAccumulator(positive, probabilities !== undefined);
  acc.add(predicted, y, probabilities);
  return acc.result();
}

/**
 * scorePredictions over chunks (held-out shards streamed one at a time). Sums run row by row in
 * the same order, so one chunk scores exactly as scorePredictions does.
 */
export class ScoreAccumulator {
  private n = 0;
  private correct = 0;
  private tp = 0;
  private fp = 0;
  private fn = 0;
  private loss = 0;

  constructor(
    private readonly positive: number | undefined,
    private readonly withLoss: boolean,
  ) {}

  /** `probabilities.values` is row-major [rows × classes]; needed when the accumulator scores loss. */
  add(predicted: ArrayLike<number>, y: ArrayLike<number>, probabilities?: { values: Float32Array; classes: number }): void {
    const n = y.length;
    const { positive } = this;
    for (let i = 0; i < n; i++) {
      const p = predicted[i]!;
      const t = y[i]!;
      if (p === t) this.correct++;
      if (positive !== undefined) {
        if (p === positive && t === positive) this.tp++;
        else if (p === positive) this.fp++;
        else if (t === positive) this.fn++;
      }
    }
    if (this.withLoss) {
      if (!probabilities) throw new Error("ScoreAccumulator: probabilities are needed for the loss");
      const { values, classes } = probabilities;
      for (let i = 0; i < n; i++) this.loss -= Math.log(Math.max(values[i * classes + y[i]!]!, 1e-12));
    }
    this.n += n;
  }

  result(): Evaluation {
    const { n, tp, fp, fn } = this;
    const ev: Evaluation = { rows: n, accuracy: n ? this.correct / n : 0 };
    if (this.withLoss) ev.loss = n ? this.loss / n : 0;
    if (this.positive !== undefined) {
      ev.precision = tp + fp ? tp / (tp + fp) : 0;
      ev.recall = tp + fn ? tp / (tp + fn) : 0;
      ev.f1 = ev.precision + ev.recall ? (2 * ev.precision * ev.recall) / (ev.precision + ev.recall) : 0;
    }
    return ev;
  }
}

export function formatEvaluation(ev: Evaluation): string {
  const pct = (v: number): string => `${(v * 100).toFixed(2)}%`;
  const parts = [`accuracy ${pct(ev.accuracy)}`];
  if (ev.loss !== undefined) parts.unshift(`loss ${ev.loss.toFixed(4)}`);
  if (ev.precision !== undefined) parts.push(`precision ${pct(ev.precision)}`, `recall ${pct(ev.recall!)}`, `F1 ${pct(ev.f1!)}`);
  return `${parts.join(", ")} (${ev.rows} held-out rows)`;
}

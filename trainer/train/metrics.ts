// Scoring predictions: accuracy for every model; precision, recall and F1 of the positive class
// for binary tasks (spam = positive). Scores TF.js and onnxruntime outputs alike. No tensors here.
import { formatAccuracy, wilsonInterval, type Interval } from "./interval";

export type Evaluation = {
  rows: number;
  /** Rows predicted right (accuracy = correct / rows). */
  correct: number;
  accuracy: number;
  /** 95% Wilson score interval of the accuracy (from correct and rows). */
  accuracyInterval: Interval;
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
/** An accumulator's sums: what a worker sends back for the held-out shard it scored. */
export type ScoreCounts = { n: number; correct: number; tp: number; fp: number; fn: number; loss: number };

export class ScoreAccumulator {
  private n = 0;
  private correct = 0;
  private tp = 0;
  private fp = 0;
  private fn = 0;
  private loss = 0;

  counts(): ScoreCounts {
    return { n: this.n, correct: this.correct, tp: this.tp, fp: this.fp, fn: this.fn, loss: this.loss };
  }

  /**
   * Adds another accumulator's sums (distributed evaluation, one part per held-out shard, added
   * in shard order): counts are exact; the loss sum rounds per part, so it may differ from a
   * single row-by-row pass in the last bits.
   */
  addCounts(c: ScoreCounts): void {
    this.n += c.n;
    this.correct += c.correct;
    this.tp += c.tp;
    this.fp += c.fp;
    this.fn += c.fn;
    this.loss += c.loss;
  }

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
    const { correct } = this;
    const ev: Evaluation = { rows: n, correct, accuracy: n ? correct / n : 0, accuracyInterval: wilsonInterval(correct, n) };
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
  const parts = [`accuracy ${formatAccuracy(ev.accuracy, ev.accuracyInterval, ev.rows, 2)}`];
  if (ev.loss !== undefined) parts.unshift(`loss ${ev.loss.toFixed(4)}`);
  if (ev.precision !== undefined) parts.push(`precision ${pct(ev.precision)}`, `recall ${pct(ev.recall!)}`, `F1 ${pct(ev.f1!)}`);
  return parts.join(", ");
}

/**
 * The accuracy interval as manifest metrics (a manifest's `metrics` are flat numbers):
 * `accuracy_ci95_low`, `accuracy_ci95_high` and `heldout_correct`, so anyone can recompute it.
 */
export function intervalMetrics(ev: Evaluation): Record<string, number> {
  const level = Math.round(ev.accuracyInterval.confidence * 100);
  return {
    [`accuracy_ci${level}_low`]: ev.accuracyInterval.low,
    [`accuracy_ci${level}_high`]: ev.accuracyInterval.high,
    heldout_correct: ev.correct,
  };
}

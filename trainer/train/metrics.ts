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
  const n = y.length;
  let correct = 0;
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (let i = 0; i < n; i++) {
    const p = predicted[i]!;
    const t = y[i]!;
    if (p === t) correct++;
    if (positive !== undefined) {
      if (p === positive && t === positive) tp++;
      else if (p === positive) fp++;
      else if (t === positive) fn++;
    }
  }
  const ev: Evaluation = { rows: n, accuracy: n ? correct / n : 0 };
  if (probabilities) {
    let loss = 0;
    for (let i = 0; i < n; i++) loss -= Math.log(Math.max(probabilities.values[i * probabilities.classes + y[i]!]!, 1e-12));
    ev.loss = n ? loss / n : 0;
  }
  if (positive !== undefined) {
    ev.precision = tp + fp ? tp / (tp + fp) : 0;
    ev.recall = tp + fn ? tp / (tp + fn) : 0;
    ev.f1 = ev.precision + ev.recall ? (2 * ev.precision * ev.recall) / (ev.precision + ev.recall) : 0;
  }
  return ev;
}

export function formatEvaluation(ev: Evaluation): string {
  const pct = (v: number): string => `${(v * 100).toFixed(2)}%`;
  const parts = [`accuracy ${pct(ev.accuracy)}`];
  if (ev.loss !== undefined) parts.unshift(`loss ${ev.loss.toFixed(4)}`);
  if (ev.precision !== undefined) parts.push(`precision ${pct(ev.precision)}`, `recall ${pct(ev.recall!)}`, `F1 ${pct(ev.f1!)}`);
  return `${parts.join(", ")} (${ev.rows} held-out rows)`;
}

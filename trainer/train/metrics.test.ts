import { describe, expect, it } from "vitest";
import { wilsonInterval } from "./interval";
import { ScoreAccumulator, formatEvaluation, intervalMetrics, scorePredictions } from "./metrics";

describe("held-out scores carry the accuracy's Wilson interval", () => {
  it("counts correct rows and derives the interval from them, chunked or not", () => {
    const predicted = [0, 1, 1, 0, 1, 1, 0, 0, 1, 1];
    const y = [0, 1, 0, 0, 1, 1, 0, 1, 1, 1]; // 8 of 10 right
    const whole = scorePredictions(predicted, y, 1);
    expect(whole).toMatchObject({ rows: 10, correct: 8, accuracy: 0.8, accuracyInterval: wilsonInterval(8, 10) });
    const acc = new ScoreAccumulator(1, false);
    acc.add(predicted.slice(0, 3), y.slice(0, 3));
    acc.add(predicted.slice(3), y.slice(3));
    expect(acc.result()).toEqual(whole);
  });

  it("prints and flattens it for manifests", () => {
    const ev = scorePredictions([0, 1, 1, 0, 1, 1, 0, 0, 1, 1], [0, 1, 0, 0, 1, 1, 0, 1, 1, 1]);
    expect(formatEvaluation(ev)).toBe("accuracy 80.00% (95% CI 49.02–94.33, n=10)");
    expect(intervalMetrics(ev)).toEqual({ accuracy_ci95_low: ev.accuracyInterval.low, accuracy_ci95_high: ev.accuracyInterval.high, heldout_correct: 8 });
  });
});

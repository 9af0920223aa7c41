import { describe, expect, it } from "vitest";
import { formatAccuracy, wilsonInterval } from "./interval";

describe("wilsonInterval", () => {
  // Newcombe (1998), "Two-sided confidence intervals for the single proportion", Stat Med
  // 17:857–872, Table I, method 3 (score interval without continuity correction), 4 decimals.
  it.each([
    [81, 263, 0.2553, 0.3662],
    [15, 148, 0.0624, 0.1605],
    [0, 20, 0, 0.1611],
    [1, 29, 0.0061, 0.1718],
  ])("%i of %i → [%f, %f] as published", (x, n, low, high) => {
    const ci = wilsonInterval(x, n);
    expect(ci.low).toBeCloseTo(low, 4);
    expect(ci.high).toBeCloseTo(high, 4);
    expect(ci.confidence).toBe(0.95);
  });

  it("is the closed form: centre (x + z²/2)/(n + z²), symmetric under x → n − x", () => {
    // 8 of 10: statsmodels proportion_confint(8, 10, method="wilson") = (0.4901625, 0.9433178)
    const ci = wilsonInterval(8, 10);
    expect(ci.low).toBeCloseTo(0.4901625, 7);
    expect(ci.high).toBeCloseTo(0.9433178, 7);
    const mirror = wilsonInterval(2, 10);
    expect(mirror.low).toBeCloseTo(1 - ci.high, 12);
    expect(mirror.high).toBeCloseTo(1 - ci.low, 12);
  });

  it("stays inside [0, 1] at the ends and narrows with n", () => {
    expect(wilsonInterval(10, 10)).toMatchObject({ high: 1 });
    expect(wilsonInterval(10, 10).low).toBeCloseTo(0.7224672, 7);
    expect(wilsonInterval(0, 0)).toEqual({ low: 0, high: 1, confidence: 0.95 });
    const small = wilsonInterval(98, 100);
    const large = wilsonInterval(9800, 10000);
    expect(large.high - large.low).toBeLessThan(small.high - small.low);
  });

  it("refuses counts that are not a proportion", () => {
    expect(() => wilsonInterval(5, 4)).toThrow(RangeError);
    expect(() => wilsonInterval(1.5, 4)).toThrow(RangeError);
  });

  it("formats as the CLI prints it", () => {
    // 1,193 of 1,209 (the spam held-out split's size)
    expect(formatAccuracy(1193 / 1209, wilsonInterval(1193, 1209), 1209)).toBe("98.7% (95% CI 97.9–99.2, n=1,209)");
  });
});

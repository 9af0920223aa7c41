// The Wilson score interval of a proportion (Wilson 1927; Newcombe 1998, method 3): held-out
// accuracy is a count of successes in n rows, and on a few hundred rows ±2 points is noise.
// Unlike the normal ("Wald") interval it stays inside [0, 1] and is not zero-width at 0 or n.

export type Interval = { low: number; high: number; confidence: number };

/** z for a two-sided 95% interval: the 0.975 quantile of the standard normal. */
export const Z_95 = 1.959963984540054;

/** The Wilson score interval for `successes` of `n` (no continuity correction). */
export function wilsonInterval(successes: number, n: number, confidence: 0.95 = 0.95): Interval {
  if (!(Number.isInteger(n) && n >= 0 && Number.isInteger(successes) && successes >= 0 && successes <= n)) {
    throw new RangeError(`wilsonInterval: need integers 0 <= successes <= n (got ${successes} of ${n})`);
  }
  if (n === 0) return { low: 0, high: 1, confidence }; // no rows: nothing is known
  const z = Z_95;
  const z2 = z * z;
  const p = successes / n;
  const denom = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / denom;
  const half = (z / denom) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  // At 0 and n the formula gives the bound exactly in theory; clamp the float rounding.
  return { low: successes === 0 ? 0 : Math.max(0, centre - half), high: successes === n ? 1 : Math.min(1, centre + half), confidence };
}

/** "98.7% (95% CI 98.0–99.2, n=1,209)": the figure with its interval, in percent. */
export function formatAccuracy(accuracy: number, interval: Interval, rows: number, digits = 1): string {
  const pct = (v: number): string => (v * 100).toFixed(digits);
  return `${pct(accuracy)}% (${Math.round(interval.confidence * 100)}% CI ${pct(interval.low)}–${pct(interval.high)}, n=${rows.toLocaleString("en-US")})`;
}

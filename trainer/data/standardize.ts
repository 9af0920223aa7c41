// Standardising numeric columns (z-scores) with statistics of the training split only: the
// held-out rows must not shape their own inputs, or their accuracy flatters the model.

export type Standardization = {
  /** The standardised columns, by index into a row. */
  columns: number[];
  /** Training-split mean and (population) standard deviation per column, float64. */
  mean: number[];
  std: number[];
};

/** Mean and standard deviation of `columns` over rows `rows` of a row-major [n × features] matrix. */
export function fitStandardization(x: Float32Array, features: number, columns: number[], rows: ArrayLike<number>): Standardization {
  const n = rows.length;
  if (n === 0) throw new RangeError("fitStandardization: no training rows");
  const mean = columns.map((c) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += x[rows[i]! * features + c]!;
    return s / n;
  });
  const std = columns.map((c, k) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += (x[rows[i]! * features + c]! - mean[k]!) ** 2;
    const sd = Math.sqrt(s / n);
    return sd > 0 ? sd : 1; // a constant column stays constant (0) instead of dividing by zero
  });
  return { columns, mean, std };
}

/** Standardises every row of a row-major matrix in place. */
export function applyStandardization(x: Float32Array, features: number, s: Standardization): void {
  const rows = x.length / features;
  for (let r = 0; r < rows; r++) {
    const o = r * features;
    s.columns.forEach((c, k) => (x[o + c] = (x[o + c]! - s.mean[k]!) / s.std[k]!));
  }
}

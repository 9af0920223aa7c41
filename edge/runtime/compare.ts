// How far a shadow's answer is from what was served, row by row: for an output with class
// labels (a classifier), whether the top-1 class agrees; for any other, whether every value is
// within TOLERANCE. Pure.
import type { OutputTensor } from "../../shared/oip";
import { encodeValues } from "../../shared/tensors";

/** Absolute difference below which two numeric outputs agree (int8 against fp32 stays well under). */
export const TOLERANCE = 1e-3;

export interface Comparison {
  agree: number;
  disagree: number;
  /** Largest absolute difference over all numeric outputs (0 when there were none). */
  maxAbsDiff: number;
}

/** Compares outputs of the same names; rows are the first dimension. */
export function compareOutputs(servedOutputs: OutputTensor[], shadowOutputs: OutputTensor[], labelled: ReadonlySet<string>): Comparison {
  const out: Comparison = { agree: 0, disagree: 0, maxAbsDiff: 0 };
  // As JSON numbers and strings: half floats decoded, 64-bit integers as numbers where exact.
  const plain = (o: OutputTensor) => ({ name: o.name, shape: o.shape, data: encodeValues(o.datatype, o.values) });
  const shadow = shadowOutputs.map(plain);
  for (const a of servedOutputs.map(plain)) {
    const b = shadow.find((o) => o.name === a.name);
    const rows = a.shape[0] ?? 1;
    if (!b || b.data.length !== a.data.length || rows === 0) {
      out.disagree += Math.max(1, rows);
      continue;
    }
    const width = a.data.length / rows;
    for (let r = 0; r < rows; r++) {
      const x = a.data.slice(r * width, (r + 1) * width);
      const y = b.data.slice(r * width, (r + 1) * width);
      let rowDiff = 0;
      let numeric = true;
      for (let i = 0; i < width; i++) {
        if (typeof x[i] !== "number" || typeof y[i] !== "number") {
          numeric = false;
          if (x[i] !== y[i]) rowDiff = Infinity;
          continue;
        }
        const d = Math.abs((x[i] as number) - (y[i] as number));
        rowDiff = Number.isNaN(d) ? Infinity : Math.max(rowDiff, d);
      }
      if (numeric && Number.isFinite(rowDiff)) out.maxAbsDiff = Math.max(out.maxAbsDiff, rowDiff);
      const same = labelled.has(a.name) && numeric ? argmax(x as number[]) === argmax(y as number[]) : rowDiff <= TOLERANCE;
      if (same) out.agree++;
      else out.disagree++;
    }
  }
  return out;
}

function argmax(values: number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

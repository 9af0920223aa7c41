// Gaussian blobs for the trainer's cluster tests: `classes` seeded centres in `features`
// dimensions (each coordinate normal × spread), rows cycling through the classes, each a centre
// plus unit normal noise; the train rows first, then the held-out ones, from one seeded stream.
// Learnable, and with a small spread not trivially so.
import { seededNormal } from "../shared/random";
import type { Dataset } from "../trainer/data/types";

export function gaussianBlobs(o: { features: number; classes: number; train: number; test: number; spread: number; seed: number }): Dataset {
  const { features: F, classes: C } = o;
  const normal = seededNormal(o.seed);
  const centers = Array.from({ length: C }, () => Array.from({ length: F }, () => normal() * o.spread));
  const make = (n: number) => {
    const x = new Float32Array(n * F);
    const y = new Int32Array(n);
    for (let r = 0; r < n; r++) {
      y[r] = r % C;
      for (let f = 0; f < F; f++) x[r * F + f] = centers[r % C]![f]! + normal();
    }
    return { x, y, rows: n };
  };
  const train = make(o.train);
  const test = make(o.test);
  return { name: "blobs", source: "synthetic", splitNote: "synthetic", features: F, labels: Array.from({ length: C }, (_, i) => String.fromCharCode(97 + i)), train, test };
}

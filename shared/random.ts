// Seeded randomness: the same sequence on every JS engine, so fixtures, splits and benchmarks
// are reproducible on both sides.

/** mulberry32: tiny, fast, and the same sequence on every JS engine. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal draws (Box–Muller) from a seeded uniform source. */
export function seededNormal(seed: number): () => number {
  const rand = seededRandom(seed);
  return () => {
    const u = 1 - rand(); // (0, 1]: log(0) never happens
    const v = rand();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
}

/** `rows` rows of standard normal values, e.g. calibration data for a random benchmark MLP. */
export function normalRows(rows: number, cols: number, seed: number): Float32Array {
  const normal = seededNormal(seed);
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < out.length; i++) out[i] = normal();
  return out;
}

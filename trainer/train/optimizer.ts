// The gradient step's apply half: plain TypeScript over the flat parameter vector, so the
// coordinator needs no tensors, its state is three Float32Arrays and a counter (trivial to
// checkpoint), and it gives the same bits on every machine (float64 arithmetic, float32 storage):
// only +, −, ×, ÷ and sqrt, which IEEE 754 rounds exactly, so replicas on different machines
// (--reduce replicated) stay identical. (Math.pow is not correctly rounded and may differ
// between engines: β^t is a fixed sequence of multiplications instead.)

export const OPTIMIZERS = ["adam", "sgd"] as const;
export type OptimizerKind = (typeof OPTIMIZERS)[number];

export type OptimizerConfig = {
  kind: OptimizerKind;
  lr: number;
  /** Adam: β1, β2, ε (the usual defaults). */
  beta1?: number;
  beta2?: number;
  epsilon?: number;
};

export type OptimizerState = {
  /** Updates applied so far (Adam's t). */
  t: number;
  /** Adam first and second moments (empty for sgd). */
  m: Float32Array;
  v: Float32Array;
};

export function createOptimizerState(cfg: OptimizerConfig, size: number): OptimizerState {
  const n = cfg.kind === "adam" ? size : 0;
  return { t: 0, m: new Float32Array(n), v: new Float32Array(n) };
}

/** params ← params − update(grads); mutates params and state. */
export function applyGradients(cfg: OptimizerConfig, params: Float32Array, grads: Float32Array, state: OptimizerState): void {
  if (grads.length !== params.length) throw new Error(`applyGradients: ${grads.length} gradients for ${params.length} parameters`);
  state.t += 1;
  const lr = cfg.lr;
  if (cfg.kind === "sgd") {
    for (let i = 0; i < params.length; i++) params[i] = params[i]! - lr * grads[i]!;
    return;
  }
  const b1 = cfg.beta1 ?? 0.9;
  const b2 = cfg.beta2 ?? 0.999;
  const eps = cfg.epsilon ?? 1e-7; // tf.train.adam's default
  const c1 = 1 - powi(b1, state.t);
  const c2 = 1 - powi(b2, state.t);
  const { m, v } = state;
  for (let i = 0; i < params.length; i++) {
    const g = grads[i]!;
    const mi = b1 * m[i]! + (1 - b1) * g;
    const vi = b2 * v[i]! + (1 - b2) * g * g;
    m[i] = mi;
    v[i] = vi;
    params[i] = params[i]! - (lr * (mi / c1)) / (Math.sqrt(vi / c2) + eps);
  }
}

/** x^n for an integer n ≥ 0 by repeated squaring: the same multiplications, so the same bits, everywhere. */
export function powi(x: number, n: number): number {
  let result = 1;
  let base = x;
  for (let e = n; e > 0; e = Math.floor(e / 2)) {
    if (e % 2 === 1) result *= base;
    base *= base;
  }
  return result;
}

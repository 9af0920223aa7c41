// Bad candidates of the iris model for rollout tests and bench:rollout, one per way a new
// version goes wrong, each with iris's inputs and outputs: `wrong` answers another class for
// every row; `slow` gives iris's answers (exactly: the padding adds zeros) after `width`² extra
// multiply-adds per row, so only its latency differs.
import { buildMlpFp32, type DenseLayer } from "../../shared/onnx/mlp";
import { irisSpec, irisWeights } from "./iris";

const base = () => irisWeights().layers;

/** Classes rotated by one: the top-1 class is never iris's. */
export function wrongIris(): Uint8Array {
  const [hidden, out] = base() as [DenseLayer, DenseLayer];
  const C = out.outputs;
  const weights = new Float32Array(out.weights.length);
  const bias = new Float32Array(C);
  for (let j = 0; j < C; j++) {
    const from = (j + 1) % C;
    for (let i = 0; i < out.inputs; i++) weights[i * C + j] = out.weights[i * C + from]!;
    bias[j] = out.bias[from]!;
  }
  return buildMlpFp32(irisSpec([hidden, { ...out, weights, bias }]));
}

/** iris with two `width`-wide pass-through layers between its hidden and output layers. */
export function slowIris(width = 1024): Uint8Array {
  const [hidden, out] = base() as [DenseLayer, DenseLayer];
  const H = hidden.outputs;
  // Identity on the first H units, zeros elsewhere: relu(h) = h for h ≥ 0, so values pass exactly.
  const pass = (inputs: number, outputs: number): DenseLayer => {
    const weights = new Float32Array(inputs * outputs);
    for (let k = 0; k < H; k++) weights[k * outputs + k] = 1;
    return { weights, bias: new Float32Array(outputs), inputs, outputs, activation: "relu" };
  };
  const weights = new Float32Array(width * out.outputs);
  weights.set(out.weights); // rows 0..H-1 are the output layer's, the rest zero
  return buildMlpFp32(irisSpec([hidden, pass(H, width), pass(width, width), { ...out, weights, inputs: width }]));
}

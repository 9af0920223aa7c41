// Bad candidates of the iris model for rollout tests and bench:rollout, one per way a new
// version goes wrong, each with iris's inputs and outputs: `wrong` answers another class for
// every row; `slow` gives iris's answers (exactly: the padding adds zeros) after `width`² extra
// multiply-adds per row, so only its latency differs; `oneRow` is iris that takes one row per
// request, so it refuses every batched request stable answers.
import { decodeModel } from "../../shared/onnx/inspect";
import { buildMlpFp32, type DenseLayer } from "../../shared/onnx/mlp";
import { onnx } from "../../shared/onnx/proto";
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

/**
 * iris with a `width`-wide pass-through layer run `repeats` times between its hidden and output
 * layers (one weight, shared by every repeat, so the artifact stays width² floats).
 */
export function slowIris(width = 1024, repeats = 1): Uint8Array {
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
  const model = decodeModel(buildMlpFp32(irisSpec([hidden, pass(H, width), pass(width, width), { ...out, weights, inputs: width }])));
  const nodes = model.graph!.node!;
  const at = nodes.findIndex((n) => n.name === "l3/MatMul");
  let h = "l2/relu";
  const extra = [];
  for (let r = 1; r < repeats; r++) {
    extra.push(
      { opType: "MatMul", input: [h, "l2.weight"], output: [`rep${r}/matmul`], name: `rep${r}/MatMul` },
      { opType: "Relu", input: [`rep${r}/matmul`], output: [`rep${r}/relu`], name: `rep${r}/Relu` },
    );
    h = `rep${r}/relu`;
  }
  nodes[at]!.input![0] = h;
  nodes.splice(at, 0, ...extra.map((n) => onnx.NodeProto.create(n)));
  return onnx.ModelProto.encode(model).finish();
}

/** iris with its batch dimension fixed at 1: a request of two rows is refused (400). */
export function oneRowIris(): Uint8Array {
  const model = decodeModel(buildMlpFp32(irisSpec(base())));
  const dims = model.graph!.input![0]!.type!.tensorType!.shape!.dim!;
  dims[0] = { dimValue: 1 };
  return onnx.ModelProto.encode(model).finish();
}

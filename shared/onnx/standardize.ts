// Puts a model's input standardisation into its graph: the named input becomes raw features and
// two nodes in front compute (x − mean) / std per feature, so a caller sends rows as they come
// and the trained graph behind sees what it was trained on. Works on any graph (fp32 or int8):
// the nodes run in float32 before whatever the graph does first. Pure TypeScript.
import { floatTensor } from "./build";
import { onnx } from "./proto";

export type InputScaling = { mean: ArrayLike<number>; std: ArrayLike<number> };

export function prependStandardization(model: Uint8Array, input: string, s: InputScaling): Uint8Array {
  if (s.mean.length !== s.std.length) throw new Error(`standardization: ${s.mean.length} means, ${s.std.length} stds`);
  for (let i = 0; i < s.std.length; i++) {
    if (!(Number.isFinite(s.std[i]!) && s.std[i]! > 0 && Number.isFinite(s.mean[i]!))) throw new Error(`standardization: feature ${i} has mean ${s.mean[i]}, std ${s.std[i]}`);
  }
  const m = onnx.ModelProto.decode(model);
  const g = m.graph;
  if (!g || !g.input?.some((v) => v.name === input)) throw new Error(`standardization: the graph has no input "${input}"`);
  const inner = `${input}__standardized`;
  const centred = `${input}__centred`;
  // Everything that read the input reads the standardised tensor instead.
  for (const n of g.node ?? []) n.input = (n.input ?? []).map((x) => (x === input ? inner : x));
  for (const o of g.output ?? []) if (o.name === input) throw new Error(`standardization: "${input}" is also an output`);
  const n = s.mean.length;
  g.initializer = [...(g.initializer ?? []), floatTensor(`${input}__mean`, [n], s.mean), floatTensor(`${input}__std`, [n], s.std)];
  g.node = [
    { opType: "Sub", input: [input, `${input}__mean`], output: [centred], name: `${input}_standardize_sub` },
    { opType: "Div", input: [centred, `${input}__std`], output: [inner], name: `${input}_standardize_div` },
    ...(g.node ?? []),
  ];
  return onnx.ModelProto.encode(m).finish();
}

// Splits a model's input into several: input `name` [batch, Σ widths] becomes the inputs `parts`
// (each [batch, width]), joined by a Concat in front, so a caller (or a feature view) can send
// each part as its own tensor while the graph behind sees the rows it was trained on. Concat
// copies values, so the answers are the same bits. Works on any graph. Pure TypeScript.
import { attr, node, valueInfo } from "./build";
import { onnx } from "./proto";

export type InputPart = { name: string; width: number };

export function splitInput(model: Uint8Array, name: string, parts: readonly InputPart[]): Uint8Array {
  const m = onnx.ModelProto.decode(model);
  const g = m.graph;
  const at = g?.input?.findIndex((v) => v.name === name) ?? -1;
  if (!g || at < 0) throw new Error(`split input: the graph has no input "${name}"`);
  const width = Number(g.input![at]!.type?.tensorType?.shape?.dim?.[1]?.dimValue ?? NaN);
  const sum = parts.reduce((n, p) => n + p.width, 0);
  if (Number.isFinite(width) && width !== sum) throw new Error(`split input: "${name}" has ${width} values a row, the parts ${sum}`);
  const joined = `${name}__joined`;
  const taken = new Set([...(g.input ?? []).filter((_, i) => i !== at).map((v) => v.name), ...(g.output ?? []).map((v) => v.name), joined]);
  for (const p of parts) {
    if (!(Number.isInteger(p.width) && p.width > 0)) throw new Error(`split input: part "${p.name}" has width ${p.width}`);
    if (taken.has(p.name)) throw new Error(`split input: "${p.name}" is taken by another input or output, or given twice`);
    taken.add(p.name);
  }
  // Everything that read the input reads the joined tensor instead.
  for (const n of g.node ?? []) n.input = (n.input ?? []).map((x) => (x === name ? joined : x));
  g.input = [...g.input!.slice(0, at), ...parts.map((p) => valueInfo(p.name, "FP32", [-1, p.width])), ...g.input!.slice(at + 1)];
  g.node = [node("Concat", parts.map((p) => p.name), [joined], { axis: attr.int(1) }, { name: `${name}_split_concat` }), ...(g.node ?? [])];
  return onnx.ModelProto.encode(m).finish();
}

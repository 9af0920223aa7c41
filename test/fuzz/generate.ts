// The fuzz case generator: case `index` of a run with `seed` is a pure function of the two (and
// of the sample models' manifests), so any case can be regenerated alone. Kinds take turns, so a
// short run covers every kind too.
import { bodyOf } from "./json";
import { ADMIN_KINDS } from "./kinds/admin";
import { draft, type Draft, type GenContext, type Kind } from "./kinds/common";
import { OIP_KINDS } from "./kinds/oip";
import { WIRE_KINDS } from "./kinds/wire";
import { caseRng } from "./prng";
import { predictable, validOip, validPredict, type ModelInfo } from "./valid";

export type { Draft, Framing, GenContext, Kind } from "./kinds/common";
export type { ModelInfo } from "./valid";

export interface FuzzCase extends Draft {
  index: number;
  /** The mutation kind (a row of the report's table). */
  kind: string;
}

export const KINDS: readonly Kind[] = [...OIP_KINDS, ...WIRE_KINDS, ...ADMIN_KINDS];
export const KIND_NAMES: readonly string[] = KINDS.map((k) => k.name);

/** The kinds named in `only` (all when empty), in their usual order. */
export function selectKinds(only: readonly string[] = []): readonly Kind[] {
  const unknown = only.filter((n) => !KIND_NAMES.includes(n));
  if (unknown.length) throw new Error(`unknown fuzz kinds ${unknown.join(", ")}; known: ${KIND_NAMES.join(", ")}`);
  return only.length ? KINDS.filter((k) => only.includes(k.name)) : KINDS;
}

export function generateCase(seed: number, index: number, ctx: GenContext, kinds: readonly Kind[] = KINDS): FuzzCase {
  const kind = kinds[index % kinds.length]!;
  return { ...kind.make(caseRng(seed, index), ctx), index, kind: kind.name };
}

/** A valid request (expected 200), sent between bad ones to see the server still answers right. */
export function controlCase(seed: number, index: number, ctx: GenContext): FuzzCase {
  // A different stream from the bad cases': the same index must not give the same choices.
  const rng = caseRng(seed ^ 0x5bd1e995, index);
  const model: ModelInfo = rng.pick(ctx.models);
  const usePredict = rng.chance(0.3) && predictable([model]).length > 0;
  const d = usePredict
    ? draft(`control: predict [${model.name}]`, "POST", `/v1/predict/${model.name}`, bodyOf(validPredict(rng, model)))
    : draft(`control: infer [${model.name}]`, "POST", `/v2/models/${model.name}/infer`, bodyOf(validOip(rng, model)));
  return { ...d, index, kind: "control" };
}

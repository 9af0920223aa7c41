// Feature views: per-entity values (a user's recent activity, an account's risk score) kept in the
// entity's home shard and joined into a model's inputs at prediction time. One definition, used by
// the edge (publish checks, writes, reads) and by tools that build the same inputs elsewhere.
//
// A view is declared in a model's manifest together with its binding: the input tensor its
// features fill and the position of its first value in each row of that input. Features are laid
// out in the order they are declared, each taking as many positions as its shape has elements.
// No zod defaults anywhere: the manifest is signed as parsed, so parsing must add nothing.
import { z } from "zod";
import { DATATYPES, elementCount, type Datatype } from "./datatypes";
import type { TensorSpec } from "./manifest";
import { TensorError, decodeTensor, flatten } from "./tensors";

export const VIEW_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;
export const FEATURE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
export const MAX_ENTITY_ID_LENGTH = 256;
export const CONSISTENCIES = ["strong", "bounded"] as const;
export type Consistency = (typeof CONSISTENCIES)[number];

/** Datatypes a feature may have: every numeric one and BOOL (strings are not features here). */
export const FEATURE_DATATYPES = DATATYPES.filter((d) => d !== "BYTES") as Exclude<Datatype, "BYTES">[];

/** A scalar, or nested arrays of them (as OIP JSON data). */
const JsonValue: z.ZodType<unknown> = z.lazy(() => z.union([z.number(), z.string(), z.boolean(), z.array(JsonValue)]));

export const FeatureSchema = z
  .object({
    name: z.string().regex(FEATURE_NAME, "feature name must match [A-Za-z_][A-Za-z0-9_]{0,63}"),
    datatype: z.enum(FEATURE_DATATYPES as [Exclude<Datatype, "BYTES">, ...Exclude<Datatype, "BYTES">[]]),
    /** Dimensions of one value ([] for a scalar); all fixed. */
    shape: z.array(z.number().int().min(1).max(65_536)).max(4),
    /** Used when the entity has no value, or only one older than maxAgeMs; absent: such a request is refused. */
    default: JsonValue.optional(),
    /** A value whose event_time is older than this counts as missing. */
    maxAgeMs: z.number().int().positive().optional(),
  })
  .strict();
export type Feature = z.infer<typeof FeatureSchema>;

/** What a view is, independent of any model: the part every manifest naming it must agree on. */
export const FeatureViewSchema = z
  .object({
    name: z.string().regex(VIEW_NAME, "view name must match [a-z0-9][a-z0-9_-]{0,63}"),
    /** What the ids name ("user", "account"): documentation, and a check that views agree. */
    entity: z.string().regex(FEATURE_NAME, "entity must match [A-Za-z_][A-Za-z0-9_]{0,63}"),
    consistency: z.enum(CONSISTENCIES),
    /** For "bounded": how far a regional replica may trail the home shard. */
    maxStalenessMs: z.number().int().positive().optional(),
    features: z.array(FeatureSchema).min(1).max(256),
  })
  .strict();
export type FeatureView = z.infer<typeof FeatureViewSchema>;

/** A view as a manifest declares it: the definition and where its values go in the model's inputs. */
export const FeatureBindingSchema = FeatureViewSchema.extend({
  /** The input tensor the features fill. */
  input: z.string().min(1),
  /** Position of the first feature's first value within a row of that input (absent: 0). */
  offset: z.number().int().min(0).optional(),
}).strict();
export type FeatureBinding = z.infer<typeof FeatureBindingSchema>;

/** A binding that names a view defined before (POST /admin/features, or a pushed manifest) instead of spelling it out. */
export const FeatureBindingRefSchema = z.object({ name: FeatureViewSchema.shape.name, input: z.string().min(1), offset: z.number().int().min(0).optional() }).strict();
export type FeatureBindingRef = z.infer<typeof FeatureBindingRefSchema>;
export type BindingEntry = FeatureBinding | FeatureBindingRef;

/**
 * A JSON list of bindings (the `--features` file of push and train), each spelled out or naming
 * a view defined before, or why it is not one.
 */
export function parseBindings(text: string): { ok: true; bindings: BindingEntry[] } | { ok: false; error: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, error: `not JSON: ${text.slice(0, 60)}` };
  }
  const parsed = z.array(z.union([FeatureBindingSchema, FeatureBindingRefSchema])).min(1).max(16).safeParse(value);
  if (parsed.success) return { ok: true, bindings: parsed.data };
  const issue = parsed.error.issues[0]!;
  return { ok: false, error: `${issue.path.join(".") || "value"}: ${issue.message}` };
}

/** Bindings with every named view spelled out, by `definitionOf` (which throws for an unknown one). */
export async function resolveBindings(entries: readonly BindingEntry[], definitionOf: (name: string) => FeatureView | Promise<FeatureView>): Promise<FeatureBinding[]> {
  const out: FeatureBinding[] = [];
  for (const e of entries) out.push("features" in e ? e : { ...(await definitionOf(e.name)), input: e.input, ...(e.offset !== undefined ? { offset: e.offset } : {}) });
  return out;
}

/** The definition part of a binding (what the registry of views keeps and writes are checked against). */
export function viewOf(binding: FeatureBinding): FeatureView {
  const { input: _input, offset: _offset, ...view } = binding;
  return view;
}

/** Values one feature holds (its shape's element count; 1 for a scalar). */
export const featureSize = (f: Pick<Feature, "shape">): number => elementCount(f.shape);

/**
 * Problems with a view's own definition (duplicate names, a bad default, a bounded view without
 * its bound), one line each naming the part at fault; empty when it is sound.
 */
export function viewProblems(view: FeatureView): string[] {
  const problems: string[] = [];
  const at = `feature view "${view.name}"`;
  if (view.consistency === "bounded" && view.maxStalenessMs === undefined) problems.push(`${at}: consistency "bounded" needs maxStalenessMs`);
  if (view.consistency === "strong" && view.maxStalenessMs !== undefined) problems.push(`${at}: maxStalenessMs is only for consistency "bounded"`);
  const seen = new Set<string>();
  for (const f of view.features) {
    if (seen.has(f.name)) problems.push(`${at}: feature "${f.name}" is declared twice`);
    seen.add(f.name);
    if (f.default !== undefined) {
      const error = valueError(f, f.default);
      if (error) problems.push(`${at}: feature "${f.name}": default ${error}`);
    }
  }
  return problems;
}

/**
 * Problems with a manifest's views against its inputs: each view must be sound, bind an input
 * the model declares, have that input's datatype, and the views bound to one input must fill
 * every position of its rows exactly once. Empty when everything fits.
 */
export function bindingProblems(bindings: readonly FeatureBinding[], inputs: readonly TensorSpec[]): string[] {
  const problems: string[] = [];
  const names = new Set<string>();
  const byInput = new Map<string, Array<{ view: string; from: number; to: number }>>();
  for (const b of bindings) {
    if (names.has(b.name)) problems.push(`feature view "${b.name}" is declared twice`);
    names.add(b.name);
    problems.push(...viewProblems(b));
    const at = `feature view "${b.name}"`;
    const input = inputs.find((i) => i.name === b.input);
    if (!input) {
      problems.push(`${at} fills input "${b.input}", which the model does not have (its inputs: ${inputs.map((i) => i.name).join(", ")})`);
      continue;
    }
    for (const f of b.features) {
      if (f.datatype !== input.datatype) problems.push(`${at}: feature "${f.name}" is ${f.datatype}, input "${input.name}" is ${input.datatype}`);
    }
    const rowShape = input.shape.slice(1);
    if (input.shape.length === 0 || rowShape.some((d) => d < 1)) {
      problems.push(`${at}: input "${input.name}" has shape [${input.shape.join(", ")}]; a feature input needs the batch first and every other dimension fixed`);
      continue;
    }
    const from = b.offset ?? 0;
    const to = from + b.features.reduce((n, f) => n + featureSize(f), 0);
    const list = byInput.get(input.name) ?? [];
    list.push({ view: b.name, from, to });
    byInput.set(input.name, list);
  }
  for (const [name, ranges] of byInput) {
    const input = inputs.find((i) => i.name === name)!;
    const width = elementCount(input.shape.slice(1));
    ranges.sort((a, b) => a.from - b.from);
    let next = 0;
    for (const r of ranges) {
      const span = `positions ${r.from}..${r.to - 1}`;
      if (r.to > width) problems.push(`feature view "${r.view}" takes ${span} of input "${name}", whose rows have ${width} values`);
      if (r.from < next) problems.push(`feature view "${r.view}" takes ${span} of input "${name}", overlapping positions before ${next}`);
      else if (r.from > next) problems.push(`input "${name}": positions ${next}..${r.from - 1} are filled by no feature view`);
      next = Math.max(next, r.to);
    }
    if (next < width) problems.push(`input "${name}": positions ${next}..${width - 1} are filled by no feature view (its rows have ${width} values, the views give ${next})`);
  }
  return problems;
}

/** Whether two declarations of a view agree (its definition; the binding may differ by model). */
export function sameView(a: FeatureView, b: FeatureView): boolean {
  return canonical(a) === canonical(b);
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/**
 * Why `value` is not a valid value of the feature (wrong element count, type or range), or null.
 * Scalars may be given bare; any nesting is flattened row-major, as OIP data is.
 */
export function valueError(f: Pick<Feature, "datatype" | "shape">, value: unknown): string | null {
  const flat = elements(value);
  if (flat === null) return `must be a ${f.datatype} value${f.shape.length ? ` or an array of them (shape [${f.shape.join(", ")}])` : ""}`;
  const size = featureSize(f);
  if (flat.length !== size) return `has ${flat.length} values, shape [${f.shape.join(", ")}] needs ${size}`;
  try {
    decodeTensor("value", f.datatype, [size], flat);
  } catch (err) {
    if (err instanceof TensorError) return err.message.replace(/^input "value": /, "");
    throw err;
  }
  return null;
}

/** A value's elements, row-major; null for what is not a scalar or an array. */
export function elements(value: unknown): unknown[] | null {
  if (Array.isArray(value)) {
    try {
      return flatten(value);
    } catch {
      return null;
    }
  }
  return ["number", "string", "boolean"].includes(typeof value) ? [value] : null;
}

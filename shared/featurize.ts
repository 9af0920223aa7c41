// Text featurizers: the same code runs in the trainer (Node) and at the edge (workerd), so a text
// model can be called with raw text and featurized identically on both sides. Pure TypeScript:
// no platform imports. A manifest names the featurizer by id and stores its complete parameters
// (defaults filled in), so a change of defaults never changes what a deployed model sees.
//
// "hashed-bow-v1" — hashed bag of words (the "hashing trick"):
//   1. text = text.slice(0, maxChars)              (UTF-16 code units; bounds edge CPU per request)
//   2. lowercase (String.prototype.toLowerCase: locale-independent Unicode default case mapping)
//   3. tokens  = every match of new RegExp(tokenPattern, "gu"), in order
//   4. n-grams = the tokens (ngram 1), plus adjacent pairs joined by one space (ngram 2)
//   5. index   = FNV-1a 32-bit over the n-gram's UTF-8 bytes, modulo `dimensions`
//   6. value   = count ("tf"), log(1 + count) ("log1p") or 1 ("binary")
//   7. L2-normalize the vector ("l2"), or leave it ("none"); an empty text gives all zeros.
// Determinism: integer hashing, counts in order of first occurrence, the norm summed in that same
// order in float64, then stored as float32; Math.log1p and Math.sqrt come from V8 in both Node
// and workerd. The one engine-dependent piece is the Unicode version behind \p{…} classes (only
// characters added in a newer Unicode version than the other side knows could tokenize
// differently). The id is frozen: any change in behaviour needs a new id ("hashed-bow-v2").
import { z } from "zod";
import type { TensorSpec } from "./manifest";

export const HASHED_BOW_V1 = "hashed-bow-v1";

/** Letters/digits/underscore runs, plus "$" and "!" as tokens of their own (strong spam cues). */
export const DEFAULT_TOKEN_PATTERN = "[\\p{L}\\p{N}_]+|[$!]";

export const HashedBowParamsSchema = z
  .object({
    /** Size of the hashed feature vector (the model's input width). */
    dimensions: z.number().int().min(2).max(1 << 24).default(4096),
    lowercase: z.boolean().default(true),
    /** A JavaScript RegExp source, compiled with the "gu" flags. */
    tokenPattern: z.string().min(1).default(DEFAULT_TOKEN_PATTERN),
    /** Longest n-gram: 1 = words only, 2 = words and adjacent word pairs. */
    ngram: z.union([z.literal(1), z.literal(2)]).default(1),
    weighting: z.enum(["log1p", "tf", "binary"]).default("log1p"),
    normalize: z.enum(["l2", "none"]).default("l2"),
    /** Only the first maxChars UTF-16 code units of a text are read. */
    maxChars: z.number().int().min(1).max(10_000_000).default(65_536),
  })
  .strict();

export type HashedBowParams = z.infer<typeof HashedBowParamsSchema>;
export type HashedBowParamsInput = z.input<typeof HashedBowParamsSchema>;

/** A featurizer: raw text → fixed-width float32 features. */
export type Featurizer = ((text: string) => Float32Array) & {
  readonly id: string;
  /** Complete parameters (defaults filled in): what goes in the manifest. */
  readonly params: Readonly<Record<string, unknown>>;
  readonly dimensions: number;
  /** Writes the features of `text` into out[offset .. offset + dimensions) (which must be zero). */
  readonly into: (text: string, out: Float32Array, offset: number) => void;
};

export class FeaturizerError extends Error {
  override name = "FeaturizerError";
}

// ---------- hashing ----------

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** FNV-1a 32-bit over the UTF-8 encoding of `s` (lone surrogates encode as U+FFFD, like TextEncoder). */
export function fnv1a32(s: string): number {
  let h = FNV_OFFSET;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      h = Math.imul(h ^ c, FNV_PRIME);
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const d = i + 1 < n ? s.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      } else {
        c = 0xfffd;
      }
    }
    if (c < 0x800) {
      h = Math.imul(h ^ (0xc0 | (c >> 6)), FNV_PRIME);
    } else {
      if (c < 0x10000) {
        h = Math.imul(h ^ (0xe0 | (c >> 12)), FNV_PRIME);
      } else {
        h = Math.imul(h ^ (0xf0 | (c >> 18)), FNV_PRIME);
        h = Math.imul(h ^ (0x80 | ((c >> 12) & 0x3f)), FNV_PRIME);
      }
      h = Math.imul(h ^ (0x80 | ((c >> 6) & 0x3f)), FNV_PRIME);
    }
    h = Math.imul(h ^ (0x80 | (c & 0x3f)), FNV_PRIME);
  }
  return h >>> 0;
}

// ---------- hashed-bow-v1 ----------

export function hashedBowParams(params: unknown = {}): HashedBowParams {
  const parsed = HashedBowParamsSchema.safeParse(params ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join(".")}: ` : "";
    throw new FeaturizerError(`${HASHED_BOW_V1} params: ${where}${issue?.message ?? "invalid"}`);
  }
  return parsed.data;
}

export function hashedBow(input: unknown = {}): Featurizer {
  const p = hashedBowParams(input);
  let re: RegExp;
  try {
    re = new RegExp(p.tokenPattern, "gu");
  } catch (err) {
    throw new FeaturizerError(`${HASHED_BOW_V1} params: tokenPattern is not a valid RegExp (${(err as Error).message})`);
  }
  const D = p.dimensions;

  const into = (text: string, out: Float32Array, offset: number): void => {
    if (typeof text !== "string") throw new FeaturizerError(`${HASHED_BOW_V1}: expected a string, got ${typeof text}`);
    let s = text.length > p.maxChars ? text.slice(0, p.maxChars) : text;
    if (p.lowercase) s = s.toLowerCase();
    const counts = new Map<number, number>(); // insertion order = order of first occurrence
    const add = (gram: string): void => {
      const k = fnv1a32(gram) % D;
      counts.set(k, (counts.get(k) ?? 0) + 1);
    };
    let prev: string | undefined;
    for (const tok of s.match(re) ?? []) {
      if (tok.length === 0) continue; // a pattern that can match "" yields empty tokens: skip them
      add(tok);
      if (p.ngram === 2 && prev !== undefined) add(`${prev} ${tok}`);
      prev = tok;
    }
    let sumSq = 0;
    for (const [k, c] of counts) {
      const v = p.weighting === "log1p" ? Math.log1p(c) : p.weighting === "binary" ? 1 : c;
      counts.set(k, v);
      sumSq += v * v;
    }
    const scale = p.normalize === "l2" && sumSq > 0 ? 1 / Math.sqrt(sumSq) : 1;
    for (const [k, v] of counts) out[offset + k] = v * scale;
  };

  const f = ((text: string): Float32Array => {
    const out = new Float32Array(D);
    into(text, out, 0);
    return out;
  }) as Featurizer;
  Object.defineProperties(f, {
    id: { value: HASHED_BOW_V1, enumerable: true },
    params: { value: Object.freeze({ ...p }), enumerable: true },
    dimensions: { value: D, enumerable: true },
    into: { value: into, enumerable: true },
  });
  return f;
}

// ---------- registry ----------

/** featurizers[id](params) → (text) => Float32Array. Params are validated (unknown keys rejected). */
export const featurizers: Readonly<Record<string, (params?: unknown) => Featurizer>> = Object.freeze({
  [HASHED_BOW_V1]: hashedBow,
});

/** The featurizer a manifest's `preprocessing: {id, params}` names. */
export function featurizerFor(pre: { id: string; params?: Record<string, unknown> | undefined }): Featurizer {
  const make = Object.prototype.hasOwnProperty.call(featurizers, pre.id) ? featurizers[pre.id] : undefined;
  if (!make) {
    throw new FeaturizerError(`unknown featurizer "${pre.id}" (known: ${Object.keys(featurizers).join(", ")})`);
  }
  return make(pre.params ?? {});
}

/**
 * The featurizer of a text model, checked against the one input it feeds: FP32 [-1, dimensions].
 * null when the manifest names no preprocessing. The edge calls this at publish and at load, so a
 * version whose featurizer it does not know (or whose width disagrees with the graph) never serves.
 */
export function manifestFeaturizer(m: {
  name: string;
  inputs: readonly TensorSpec[];
  preprocessing: { id: string; params?: Record<string, unknown> | undefined } | null;
}): { featurizer: Featurizer; input: TensorSpec } | null {
  if (!m.preprocessing) return null;
  const featurizer = featurizerFor(m.preprocessing);
  const [input, ...rest] = m.inputs;
  const want = `FP32 [-1, ${featurizer.dimensions}]`;
  const show = (t: TensorSpec) => `${t.datatype} [${t.shape.join(", ")}]`;
  if (!input || rest.length > 0) {
    throw new FeaturizerError(`"${m.name}": a model with preprocessing ${featurizer.id} takes exactly one input (${want}), it has ${m.inputs.length}`);
  }
  if (show(input) !== want) {
    throw new FeaturizerError(`"${m.name}": preprocessing ${featurizer.id} writes ${want}, but input "${input.name}" is ${show(input)}`);
  }
  return { featurizer, input };
}

/** Featurizes many texts into one row-major [texts.length × dimensions] buffer. */
export function featurizeBatch(f: Featurizer, texts: readonly string[]): Float32Array {
  const out = new Float32Array(texts.length * f.dimensions);
  texts.forEach((t, i) => f.into(t, out, i * f.dimensions));
  return out;
}

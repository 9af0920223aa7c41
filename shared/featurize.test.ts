// shared/featurize.ts: the text featurizer the trainer and the edge both run. The edge calls the
// very same function (featurizerFor(manifest.preprocessing)), so these tests pin its behaviour:
// an independent reference implementation, pinned digests of known outputs (a change of
// behaviour must come with a new id), and the manifest round trip the edge goes through.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  DEFAULT_TOKEN_PATTERN,
  FeaturizerError,
  HASHED_BOW_V1,
  featurizeBatch,
  featurizerFor,
  featurizers,
  fnv1a32,
  hashedBow,
  hashedBowParams,
} from "./featurize";
import { ManifestSchema } from "./manifest";

const SAMPLE =
  "Subject: WIN $1000 now!!!\n\nDear friend, click http://example.com/offer — Prix spécial für Sie, 日本語テキスト 😀 x_y 42";

/** FNV-1a over TextEncoder bytes: the definition, written the slow and obvious way. */
function referenceFnv(s: string): number {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(s)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h >>> 0;
}

/** The documented algorithm, step by step, with none of the production code's shortcuts. */
function referenceFeatures(
  text: string,
  p: { dimensions: number; lowercase: boolean; tokenPattern: string; ngram: 1 | 2; weighting: string; normalize: string; maxChars: number },
): Float32Array {
  let s = text.slice(0, p.maxChars);
  if (p.lowercase) s = s.toLowerCase();
  const tokens = [...s.matchAll(new RegExp(p.tokenPattern, "gu"))].map((m) => m[0]).filter((t) => t !== "");
  const grams = [...tokens];
  if (p.ngram === 2) for (let i = 1; i < tokens.length; i++) grams.push(`${tokens[i - 1]} ${tokens[i]}`);
  const counts = new Map<number, number>();
  for (const g of grams) counts.set(referenceFnv(g) % p.dimensions, (counts.get(referenceFnv(g) % p.dimensions) ?? 0) + 1);
  const out = new Float64Array(p.dimensions);
  for (const [k, c] of counts) out[k] = p.weighting === "log1p" ? Math.log1p(c) : p.weighting === "binary" ? 1 : c;
  if (p.normalize === "l2") {
    const norm = Math.sqrt(out.reduce((a, v) => a + v * v, 0));
    if (norm > 0) for (let i = 0; i < out.length; i++) out[i]! /= norm;
  }
  return Float32Array.from(out);
}

function digest(v: Float32Array): string {
  return createHash("sha256").update(Buffer.from(v.buffer, v.byteOffset, v.byteLength)).digest("hex");
}

describe("fnv1a32", () => {
  it("matches published FNV-1a 32-bit values", () => {
    expect(fnv1a32("")).toBe(0x811c9dc5);
    expect(fnv1a32("a")).toBe(0xe40c292c);
    expect(fnv1a32("foobar")).toBe(0xbf9cf968);
    expect(fnv1a32("hello")).toBe(0x4f9f2cab);
  });

  it("hashes the UTF-8 bytes (BMP, astral, lone surrogates as U+FFFD like TextEncoder)", () => {
    const cases = ["héllo", "日本語", "😀", "a😀b", "\ud800", "x\udc00y", "\ud83d", "Ω≈ç√∫", "\u0000\u007f\u0080\u07ff\u0800\uffff"];
    for (const s of cases) expect(fnv1a32(s), JSON.stringify(s)).toBe(referenceFnv(s));
    // and a few hundred random strings over the whole UTF-16 range
    let seed = 7;
    const rand = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    for (let i = 0; i < 300; i++) {
      const s = String.fromCharCode(...Array.from({ length: 1 + Math.floor(rand() * 12) }, () => Math.floor(rand() * 0x10000)));
      expect(fnv1a32(s)).toBe(referenceFnv(s));
    }
  });
});

describe("hashed-bow-v1", () => {
  const variants = [
    {},
    { ngram: 2 as const },
    { weighting: "binary" as const },
    { weighting: "tf" as const, normalize: "none" as const },
    { lowercase: false, dimensions: 97 },
    { maxChars: 20 },
  ];

  it("equals the reference implementation of the documented algorithm", () => {
    const texts = [SAMPLE, "", "   ", "SPAM spam Spam!!", "a b a b a b", "$$$ !!! $", "ÀÉÎ õü ß ﬁ", readFileSync(new URL(import.meta.url), "utf8").slice(0, 5000)];
    for (const v of variants) {
      const f = hashedBow(v);
      for (const t of texts) {
        const got = f(t);
        const want = referenceFeatures(t, hashedBowParams(v));
        let max = 0;
        for (let i = 0; i < got.length; i++) max = Math.max(max, Math.abs(got[i]! - want[i]!));
        expect(max, `${JSON.stringify(v)} on ${JSON.stringify(t.slice(0, 20))}`).toBeLessThanOrEqual(1e-7);
      }
    }
  });

  it("gives bit-identical output for the same input, across calls and instances", () => {
    const a = hashedBow();
    const b = hashedBow({});
    const first = a(SAMPLE);
    expect(a(SAMPLE)).toEqual(first);
    expect(b(SAMPLE)).toEqual(first);
    expect(digest(a(SAMPLE))).toBe(digest(first));
  });

  it("the edge's path (manifest params → featurizerFor) gives the same bytes as the trainer's", () => {
    const trainer = hashedBow({ dimensions: 4096 });
    // What the trainer writes into the manifest, serialized and parsed back like the edge does.
    const manifestJson = JSON.stringify({
      name: "spam",
      version: 1,
      sha256: "0".repeat(64),
      size: 1,
      inputs: [{ name: "features", datatype: "FP32", shape: [-1, 4096] }],
      outputs: [{ name: "probabilities", datatype: "FP32", shape: [-1, 2] }],
      quantization: "none",
      preprocessing: { id: trainer.id, params: trainer.params },
      createdAt: "2026-01-01T00:00:00.000Z",
    });
    const manifest = ManifestSchema.parse(JSON.parse(manifestJson));
    const edge = featurizerFor(manifest.preprocessing!);
    for (const t of [SAMPLE, "hello world", ""]) expect(digest(edge(t))).toBe(digest(trainer(t)));
    expect(edge.params).toEqual(trainer.params);
  });

  it("pins the output for a fixed text (changing it needs a new featurizer id)", () => {
    expect(digest(hashedBow()(SAMPLE))).toBe("0d5181820b07f5131710b7b29adc2ea307a5fbfb9e85f73feb02fbfe14c60520");
    expect(digest(hashedBow({ ngram: 2, weighting: "tf", normalize: "none", dimensions: 1000 })(SAMPLE))).toBe(
      "482766bede1f377db258f16dd6e78adbf590ef5ce7025a0e288af61ea8bb3c07",
    );
  });

  it("is L2-normalized, zero for empty text, and fills in its defaults", () => {
    const f = hashedBow();
    const v = f(SAMPLE);
    expect(v.length).toBe(4096);
    expect(Math.sqrt(v.reduce((a, x) => a + x * x, 0))).toBeCloseTo(1, 6);
    expect(f("").every((x) => x === 0)).toBe(true);
    expect(f("... --- ...").every((x) => x === 0)).toBe(true);
    expect(f.params).toEqual({
      dimensions: 4096,
      lowercase: true,
      tokenPattern: DEFAULT_TOKEN_PATTERN,
      ngram: 1,
      weighting: "log1p",
      normalize: "l2",
      maxChars: 65536,
    });
    expect(f.id).toBe(HASHED_BOW_V1);
  });

  it("lowercases, counts repeats, and reads only maxChars characters", () => {
    const f = hashedBow({ weighting: "tf", normalize: "none" });
    const k = fnv1a32("spam") % 4096;
    expect(f("SPAM spam Spam")[k]).toBe(3);
    expect(hashedBow({ weighting: "tf", normalize: "none", lowercase: false })("SPAM spam")[k]).toBe(1);
    const short = hashedBow({ maxChars: 4, weighting: "tf", normalize: "none" });
    expect(short("spam spam")[k]).toBe(1);
    expect(f("!!!")[fnv1a32("!") % 4096]).toBe(3);
  });

  it("batches into one row-major buffer", () => {
    const f = hashedBow({ dimensions: 64 });
    const texts = ["a b", "c", ""];
    const batch = featurizeBatch(f, texts);
    expect(batch.length).toBe(3 * 64);
    texts.forEach((t, i) => expect(batch.subarray(i * 64, (i + 1) * 64)).toEqual(f(t)));
  });

  it("rejects bad parameters and unknown ids with clear errors", () => {
    expect(() => hashedBow({ dimensions: 0 })).toThrow(FeaturizerError);
    expect(() => hashedBow({ dimensions: 0 })).toThrow(/dimensions/);
    expect(() => hashedBow({ tokenPattern: "[" })).toThrow(/tokenPattern is not a valid RegExp/);
    expect(() => hashedBow({ ngrams: 2 })).toThrow(/hashed-bow-v1 params/); // unknown key: never silently ignored
    expect(() => hashedBow({ weighting: "tfidf" })).toThrow(/weighting/);
    expect(() => featurizerFor({ id: "hashed-bow-v9", params: {} })).toThrow(/unknown featurizer "hashed-bow-v9" \(known: hashed-bow-v1\)/);
    expect(() => featurizerFor({ id: "toString" })).toThrow(/unknown featurizer/);
    expect(() => (hashedBow() as (t: unknown) => Float32Array)(42)).toThrow(/expected a string/);
    expect(Object.keys(featurizers)).toEqual([HASHED_BOW_V1]);
  });

  it("stays pure: no Node or TensorFlow imports (it must also run inside workerd)", () => {
    const src = readFileSync(new URL("./featurize.ts", import.meta.url), "utf8");
    const imports = [...src.matchAll(/^import .* from "([^"]+)";$/gm)].map((m) => m[1]);
    expect(imports).toEqual(["zod", "./manifest"]);
  });
});

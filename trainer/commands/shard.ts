// `meridian shard <source> --out <dir | s3://bucket/prefix>`: stream a dataset into a shard set
// (trainer/shards): fixed-size binary shards of featurized rows, split train/held-out by a seeded
// hash of each row's id, plus manifest.json.
import { constants } from "node:os";
import { UsageError } from "../errors";
import { DEFAULT_SHARD_BYTES, MANIFEST_KEY, checkSourceReadable, openRowSource, openStore, parseSourceSpec, writeShards, type ShardEntry, type ShardManifest } from "../shards";

export type ShardCommandOptions = {
  out: string;
  shardSize: number;
  splitSeed: number;
  testFraction: number;
  limit?: number;
  dimensions?: number;
  s3Endpoint?: string;
  s3Region?: string;
  json: boolean;
};

export const SHARD_DEFAULTS = { shardSize: DEFAULT_SHARD_BYTES, splitSeed: 1, testFraction: 0.2 };

const UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1 << 20, mb: 1 << 20, mib: 1 << 20, g: 1 << 30, gb: 1 << 30, gib: 1 << 30 };

/** "64MiB", "512k", "1048576" → bytes (binary units: a shard size is a buffer size). */
export function parseSize(v: string, flag = "--shard-size"): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(v);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  const bytes = m && unit !== undefined ? Math.floor(Number(m[1]) * unit) : NaN;
  if (!(Number.isSafeInteger(bytes) && bytes > 0)) throw new UsageError(`${flag} takes a size like 64MiB, 512KiB or 1048576 (got "${v}")`);
  return bytes;
}

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

const mib = (b: number) => `${(b / (1 << 20)).toFixed(b < 1 << 20 ? 3 : 1)} MiB`;

export async function runShardCommand(spec: string, o: ShardCommandOptions): Promise<ShardManifest> {
  // Cheap checks first: a bad source name or option never touches the output.
  parseSourceSpec(spec);
  if (!(o.testFraction > 0 && o.testFraction < 1)) throw new UsageError(`--test-fraction must be between 0 and 1 (got ${o.testFraction})`);
  if (o.limit !== undefined && !(Number.isInteger(o.limit) && o.limit >= 1)) throw new UsageError(`--limit must be a positive integer (got ${o.limit})`);
  if (o.dimensions !== undefined && !(Number.isInteger(o.dimensions) && o.dimensions >= 2)) throw new UsageError(`--dimensions must be an integer >= 2 (got ${o.dimensions})`);

  await checkSourceReadable(spec);

  const s3 = { ...(o.s3Endpoint ? { endpoint: o.s3Endpoint } : {}), ...(o.s3Region ? { region: o.s3Region } : {}) };
  const store = await openStore(o.out, { s3 });
  const say = (line: string, data: Record<string, unknown>) =>
    process.stdout.write(o.json ? JSON.stringify(data) + "\n" : line + "\n");
  // Only this run's shards where it writes: a failed run takes back all it wrote, and a set
  // already there (perhaps one a run trains from) is never overwritten underneath its manifest.
  const put: string[] = [];
  // A signal does the same, then ends the process as the signal would (128 + its number). It
  // also stops the writer before its next row, so no put lands after the take-back; while the
  // source is still being read nothing is written and the process can end at once.
  const interrupt = new AbortController();
  let writing = false;
  let leaving: Promise<never> | undefined;
  const leave = (signal: NodeJS.Signals): Promise<never> =>
    (leaving ??= (async () => {
      await store.discard(put).catch(() => {});
      store.close();
      process.stderr.write(`meridian: shard interrupted by ${signal}: ${put.length ? `the ${put.length} shards it wrote were removed` : "nothing was written"}\n`);
      process.exit(128 + constants.signals[signal]);
    })());
  const onSignal = (signal: NodeJS.Signals) => {
    interrupt.abort(signal);
    if (!writing) void leave(signal);
  };
  for (const s of SIGNALS) process.on(s, onSignal);
  try {
    await store.prepare();
    const existing = await store.list();
    if (existing.length > 0) {
      throw new UsageError(
        `${store.location} is not empty (${existing.includes(MANIFEST_KEY) ? "a shard set is there" : `${existing.length} file${existing.length === 1 ? "" : "s"}`}): write to a new directory or prefix, or remove the old one first`,
      );
    }
    say(`reading ${spec} (every row is checked before the first shard is written)`, { event: "reading", spec });
    const source = await openRowSource(spec, {
      splitSeed: o.splitSeed,
      testFraction: o.testFraction,
      ...(o.limit !== undefined ? { limit: o.limit } : {}),
      ...(o.dimensions !== undefined ? { featurizerParams: { dimensions: o.dimensions } } : {}),
    });
    say(`source: ${source.description}`, { event: "source", description: source.description, features: source.features, labels: source.labels });
    const t0 = performance.now();
    writing = true;
    const manifest = await writeShards(source, store, {
      signal: interrupt.signal,
      shardBytes: o.shardSize,
      splitSeed: o.splitSeed,
      testFraction: o.testFraction,
      onShard: (e: ShardEntry) => {
        put.push(e.key);
        say(`shard ${e.key}: ${e.rows} rows, ${mib(e.bytes)}, sha256 ${e.sha256.slice(0, 12)}…`, { event: "shard", ...e });
      },
    });
    const r = manifest.rows;
    say(
      `wrote ${r.total} rows (${r.train} train, ${r.test} held out) in ${manifest.shards.length} shards + manifest.json to ${store.location} (${Math.round(performance.now() - t0)} ms)`,
      { event: "done", location: store.location, rows: r, shards: manifest.shards.length, ms: Math.round(performance.now() - t0) },
    );
    return manifest;
  } catch (err) {
    if (interrupt.signal.aborted) return await leave(interrupt.signal.reason as NodeJS.Signals);
    await store.discard(put).catch(() => {});
    throw err;
  } finally {
    for (const s of SIGNALS) process.off(s, onSignal);
    store.close();
  }
}

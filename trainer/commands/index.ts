// The trainer's commands: `meridian train` (in-process or as a cluster's coordinator),
// `meridian worker` (a cluster's gradient worker), `meridian coordinator --standby` (takes over a
// cluster run whose coordinator died) and `meridian shard` (a dataset into a shard set).
import { InvalidArgumentError, Option, type Command } from "commander";
import { DATASET_HELP } from "../data";
import { ARCH_HELP } from "../train/arch";
import { BACKEND_CHOICES } from "../train/backend-choice";
import { GRADIENT_ENCODINGS } from "../train/gradient-encoding";
import { REDUCE_MODES } from "../train/reduce-mode";
import { OPTIMIZERS } from "../train/optimizer";
import { LOCATION_HELP, SOURCE_HELP } from "../shards";
import { SHARD_DEFAULTS, parseSize, runShardCommand, type ShardCommandOptions } from "./shard";
import { UsageError } from "../errors";
import { TRAIN_DEFAULTS, runTrainCommand, type TrainCommandOptions } from "./train";
import { runWorkerCommand } from "./worker";
import { runCoordinatorCommand } from "./coordinator";

function int(flag: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`${flag} takes an integer (got "${v}")`);
    return n;
  };
}

function num(flag: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (v.trim() === "" || !Number.isFinite(n)) throw new InvalidArgumentError(`${flag} takes a number (got "${v}")`);
    return n;
  };
}

function intList(v: string): number[] {
  const parts = v.split(",").map((s) => s.trim());
  if (parts.some((p) => !/^\d+$/.test(p) || Number(p) < 1)) throw new InvalidArgumentError(`--hidden takes sizes like 64 or 128,64 (got "${v}")`);
  return parts.map(Number);
}

/** What the entry point lends the trainer's commands: its failure contract, and publishing for `train --push`. */
export interface TrainerHooks<S> {
  action<A extends unknown[]>(verb: string, fn: (...args: A) => Promise<void>): (...args: A) => Promise<void>;
  publisher: TrainPublisher<S>;
}

/** The flags of `train` that publishing reads (the rollout's own flags come from publisher.options). */
export interface PushFlags {
  url?: string;
  token?: string;
  key?: string;
  promote?: boolean;
  rollout?: boolean;
}

export interface TrainPublisher<S> {
  /** Adds the flags only publishing reads (the rollout's, parsed as `meridian rollout` parses them). */
  options(cmd: Command): Command;
  /** Checks credentials (and rollout flags) before anything loads; its result is handed on. */
  setup(flags: PushFlags): Promise<S>;
  /** Once the model's name is known, before the first training step (a rollout: the edge can take one). */
  check(name: string, flags: PushFlags, setup: S): Promise<void>;
  /** Publishes --out; progress goes to `say` (a line, or its JSON form with --json). */
  publish(
    out: string,
    flags: PushFlags,
    setup: S,
    say: (text: string, data: Record<string, unknown>) => void,
  ): Promise<{ name: string; version: number; state: string; promoted: boolean; rollout?: string }>;
}

export function registerTrainerCommands<S>(program: Command, { action, publisher }: TrainerHooks<S>): void {
  const d = TRAIN_DEFAULTS;
  const train = program
    .command("train")
    .description("train an MLP or a CNN, export model.onnx + model-int8.onnx with manifests")
    .option("--dataset <spec>", `training data, loaded into memory: ${DATASET_HELP}`)
    .option("--shard-set <location>", "training data streamed from a `meridian shard` set: a directory, http(s):// URL or s3://<bucket>/<prefix>")
    .option("--block-shards <n>", "shard sets: shards whose rows are shuffled together (memory and cache unit of the order)", int("--block-shards"), d.blockShards)
    .option("--cache <size>", "shard sets: byte budget of the shard cache, e.g. 512MiB (default: two blocks of shards per partition plus one)", (v: string) => sizeArg(v, "--cache"))
    .option("--partitions <n>", "shard sets: deal each epoch's shards into n partitions, one gradient job each per step; cluster workers each read only their partitions' shards (fixed for the run, part of its id)", int("--partitions"))
    .option("--s3-endpoint <url>", "shard sets on S3-compatible storage: the endpoint (env S3_ENDPOINT)")
    .option("--s3-region <r>", "shard sets on S3: the region (env AWS_REGION; default auto with an endpoint)")
    .requiredOption("--out <dir>", "directory for model.onnx, model-int8.onnx, their manifests and training.json")
    .option("--epochs <n>", "passes over the training split", int("--epochs"), d.epochs)
    .option("--batch-size <n>", "rows per step (split across shards in a cluster)", int("--batch-size"), d.batchSize)
    .option("--lr <x>", "learning rate", num("--lr"), d.lr)
    .addOption(new Option("--optimizer <kind>", "optimizer").choices([...OPTIMIZERS]).default(d.optimizer))
    .option("--arch <spec>", `model: ${ARCH_HELP} (default mlp)`)
    .option("--hidden <sizes>", "mlp hidden layer sizes, e.g. 64 or 128,64 (default: 64 for text, 128 otherwise)", intList)
    .option("--seed <n>", "seed for init and batch order (same seed, same run)", int("--seed"), d.seed)
    .option("--split-seed <n>", "seed of the train/held-out shuffle", int("--split-seed"), d.splitSeed)
    .option("--test-fraction <x>", "fraction of rows held out", num("--test-fraction"), d.testFraction)
    .option("--limit <n>", "use a seeded subset of n rows (quick runs)", int("--limit"))
    .option("--max-steps <n>", "stop after n steps", int("--max-steps"))
    .option("--dimensions <n>", "hashed features for text data (hashed-bow-v1, default 4096)", int("--dimensions"))
    .option("--features <views.json>", "jsonl examples with an entity_id: the feature views the model reads (as push --features); each row gets its views' inputs")
    .option("--feature-values <files>", "with --features: the views' values, comma-separated `meridian features export` files (one per view, all --as-of the same time)", (v: string) => v.split(",").filter(Boolean))
    .option("--backend <name>", `TensorFlow.js backend: ${BACKEND_CHOICES.join(" | ")}`, "auto")
    .option("--json", "JSON lines on stdout instead of progress bars", false)
    .option("--cluster", "data-parallel training on `meridian worker`s through BullMQ (needs REDIS_URL)", false)
    .option("--redis-url <url>", "Redis for --cluster (default: $REDIS_URL)")
    .option("--prefix <p>", "BullMQ/Redis key prefix (use {meridian} on Redis Cluster)", d.prefix)
    .option("--shards <n>", "gradient jobs per step (default: 1 in-process, the number of workers in a cluster)", int("--shards"))
    .option("--wait-workers <s>", "seconds to wait for a first worker", num("--wait-workers"), d.waitWorkersMs / 1000)
    .option("--backup-after <ms>", "re-issue a shard still missing after max(ms, 4 x median compute)", int("--backup-after"), d.backupMinMs)
    .option("--no-backups", "never re-issue slow shards (rely on stalled-job retries only)")
    .option("--lease-ms <ms>", "--cluster: coordinator lease (a standby or restart takes over this long after the holder stops renewing)", int("--lease-ms"))
    .addOption(
      new Option("--gradients <enc>", "--cluster: gradient precision workers send (fp32 exact; bf16 rounds to nearest even, half the bytes; part of the run id)")
        .choices([...GRADIENT_ENCODINGS])
        .default(d.gradients),
    )
    .option("--reduce-redis <urls>", "--reduce replicated: comma-separated redis:// URLs the gradient slices spread over (env REDUCE_REDIS_URLS; workers need the same list; default: the run's Redis)")
    .addOption(
      new Option("--reduce <mode>", "--cluster: who averages gradients (hub: the coordinator; replicated: workers keep replicas and reduce in slices, no weights broadcast)")
        .choices([...REDUCE_MODES])
        .default("hub"),
    )
    .option("--checkpoint-every <n>", "checkpoint every n steps (0: never)", int("--checkpoint-every"), d.checkpointEvery)
    .option("--checkpoint-dir <dir>", "checkpoints on disk (default: <out>/checkpoints in-process, Redis in a cluster)")
    .option("--fresh", "ignore an existing checkpoint of this run", false)
    .option("--name <name>", "model name in the manifests (default: from the dataset)")
    .option("--version <n>", "model version in the manifests", int("--version"), d.version)
    .addOption(new Option("--int8-format <f>", "int8 graph form (auto: qlinear unless it costs > 0.5 points)").choices(["auto", "qlinear", "dynamic"]).default(d.int8Format))
    .option("--push", "publish the int8 model as the next version (signed; needs --token and a key)", false)
    .option("--promote", "push, then make it the serving version", false)
    .option("--rollout", "push, then roll it out progressively over the serving version (the flags of `meridian rollout`) and follow it; exit 1 if it rolls back", false)
    .option("--url <url>", "edge base URL for --push (env MERIDIAN_URL)")
    .option("--token <token>", "admin token for --push (env MERIDIAN_TOKEN)")
    .option("--key <file>", "signing key for --push (env MERIDIAN_SIGNING_KEY or MERIDIAN_SIGNING_KEY_FILE)");
  publisher.options(train).action(
      action("train", async (raw: Record<string, unknown>) => {
      const opts = {
        ...raw,
        ...(raw.cache !== undefined ? { cacheBytes: raw.cache as number } : {}),
        waitWorkersMs: Math.round((raw.waitWorkers as number) * 1000),
        backupMinMs: raw.backupAfter as number,
        backupFactor: raw.backups === false ? 0 : d.backupFactor,
        ...(raw.leaseMs !== undefined ? { leaseMs: raw.leaseMs as number } : {}),
      } as unknown as TrainCommandOptions;
      // Both decide what serves, differently: a promote at once, a rollout step by step with gates.
      if (raw.rollout && raw.promote) throw new UsageError("--rollout and --promote both decide what serves: pass one (--promote serves it at once, --rollout step by step behind gates)");
      const push = Boolean(raw.push || raw.promote || raw.rollout);
      const flags = raw as PushFlags;
      const setup = push ? await publisher.setup(flags) : undefined;
      await runTrainCommand(opts, undefined, push ? { beforeTraining: (name) => publisher.check(name, flags, setup as S) } : {});
      if (push) {
        const say = (text: string, data: Record<string, unknown>): void => void process.stdout.write(raw.json ? JSON.stringify(data) + "\n" : text + "\n");
        const r = await publisher.publish(opts.out, flags, setup as S, say);
        const serving = r.rollout ? `, now serving everyone (rollout ${r.rollout})` : r.promoted ? `, now serving` : `; serve it with: meridian promote ${r.name} ${r.version}`;
        say(`pushed ${r.name} v${r.version} (${r.state})${serving}`, { event: "published", ...r });
      }
      }),
    );

  program
    .command("worker")
    .description("compute gradient jobs for `meridian train --cluster` (runs until SIGINT/SIGTERM)")
    .option("--redis-url <url>", "Redis (default: $REDIS_URL)")
    .option("--prefix <p>", "BullMQ/Redis key prefix (must match the coordinator's)", d.prefix)
    .option("--backend <name>", `TensorFlow.js backend: ${BACKEND_CHOICES.join(" | ")}`, "auto")
    .option("--concurrency <n>", "jobs at once (1 per core is right for CPU backends)", int("--concurrency"), 1)
    .option("--lock-ms <ms>", "job lock: a killed worker's job is retried once this expires; keep it above the longest gradient time", int("--lock-ms"), 30_000)
    .option("--stalled-ms <ms>", "how often to look for stalled jobs", int("--stalled-ms"), 30_000)
    .option("--cache <size>", "jobs on a shard set (train --cluster --shard-set): byte budget of this worker's shard cache, e.g. 1GiB (default: 9 of the set's largest shards)", (v: string) => sizeArg(v, "--cache"))
    .option("--s3-endpoint <url>", "shard sets on S3-compatible storage: the endpoint (env S3_ENDPOINT)")
    .option("--s3-region <r>", "shard sets on S3: the region (env AWS_REGION; default auto with an endpoint)")
    .option("--reduce-redis <urls>", "replicated runs: the reduce nodes, as the coordinator's --reduce-redis (env REDUCE_REDIS_URLS)")
    .addOption(new Option("--slow-ms <ms>", "testing aid: sleep before each gradient").argParser(int("--slow-ms")).hideHelp())
    .option("--json", "JSON lines on stdout", false)
    .option("--quiet", "no periodic summary of gradients", false)
    .option("--verbose", "a line per gradient", false)
    .action(action("worker", (opts) => runWorkerCommand(opts)));

  program
    .command("coordinator")
    .description("--standby: wait for a `train --cluster` run whose coordinator is gone, and take it over (its options are stored in Redis)")
    .option("--standby", "wait for runs without a coordinator and take them over", false)
    .option("--redis-url <url>", "Redis (default: $REDIS_URL)")
    .option("--prefix <p>", "BullMQ/Redis key prefix (must match the runs')", d.prefix)
    .option("--poll-ms <ms>", "how often to look for runs without a coordinator", int("--poll-ms"), 1000)
    .option("--once", "exit after the first run taken over has finished", false)
    .option("--reduce-redis <urls>", "replicated runs: the reduce nodes (not stored with a run: they may carry credentials; env REDUCE_REDIS_URLS)")
    .option("--json", "JSON lines on stdout", false)
    .action(action("coordinator", (opts) => runCoordinatorCommand(opts)));

  const sd = SHARD_DEFAULTS;
  program
    .command("shard")
    .description("stream a dataset into fixed-size binary shards + manifest.json (train/held-out split by a seeded hash of each row id)")
    .argument("<source>", `rows to shard: ${SOURCE_HELP}`)
    .requiredOption("--out <location>", `where the shard set goes: ${LOCATION_HELP}`)
    .option("--shard-size <size>", "largest shard file, e.g. 64MiB, 512KiB or bytes", (v: string) => sizeArg(v), sd.shardSize)
    .option("--split-seed <n>", "seed of the held-out hash", int("--split-seed"), sd.splitSeed)
    .option("--test-fraction <x>", "fraction of rows held out", num("--test-fraction"), sd.testFraction)
    .option("--limit <n>", "spam: the same seeded subset as train --limit; mnist: a seeded subset of all 70,000 digits (mnist-augmented: of images, then all their copies); csv/jsonl: the first n rows", int("--limit"))
    .option("--dimensions <n>", "hashed features for text data (hashed-bow-v1, default 4096)", int("--dimensions"))
    .option("--s3-endpoint <url>", "S3-compatible endpoint, e.g. https://<account>.r2.cloudflarestorage.com (env S3_ENDPOINT)")
    .option("--s3-region <r>", "S3 region (env AWS_REGION; default auto with an endpoint)")
    .option("--json", "JSON lines on stdout", false)
    .action(action("shard", async (source: string, opts: ShardCommandOptions) => void (await runShardCommand(source, opts))));
}

function sizeArg(v: string, flag = "--shard-size"): number {
  try {
    return parseSize(v, flag);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

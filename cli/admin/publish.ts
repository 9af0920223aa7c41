// `meridian keygen` and `meridian push`: making a signing key, and publishing a signed version.
import { existsSync, readFileSync } from "node:fs";
import cliProgress from "cli-progress";
import { Option, type Command } from "commander";
import { QuantizationSchema, type Quantization } from "../../shared/manifest";
import { loadPrivateKey, writeKeyPair } from "./keys";
import { parseFeatures, parseLabels, parseServing, push } from "./push";
import { action } from "../failure";
import { bytes, clientFor, parseModelName, printJson, withConnection, type ConnectionFlags } from "./common";

export function registerKeygen(program: Command): void {
  program
    .command("keygen")
    .description("make an Ed25519 key pair for signing model manifests")
    .option("--out <dir>", "directory for meridian-signing.key and meridian-signing.pub", ".")
    .option("--force", "replace an existing private key")
    .option("--json", "print machine-readable JSON on stdout")
    .action(
      action("keygen", async (opts: { out: string; force?: boolean; json?: boolean }) => {
        const keys = await writeKeyPair(opts.out, { force: opts.force });
        if (opts.json) {
          printJson({ publicKey: keys.publicKey, privateKeyFile: keys.privateKeyFile, publicKeyFile: keys.publicKeyFile });
          return;
        }
        process.stdout.write(
          [
            `private key: ${keys.privateKeyFile} (mode 0600; keep it secret)`,
            `public key:  ${keys.publicKeyFile}`,
            "",
            keys.publicKey,
            "",
            "Trust it at the edge:",
            "  deployment:   npx wrangler secret put SIGNING_PUBLIC_KEYS   (paste the key; comma-separate keys to rotate)",
            `  wrangler dev: add SIGNING_PUBLIC_KEYS=${keys.publicKey} to .dev.vars`,
            "Sign pushes with it:",
            `  meridian push model.onnx --name <name> --key ${keys.privateKeyFile}   (or MERIDIAN_SIGNING_KEY_FILE)`,
            "",
          ].join("\n"),
        );
      }),
    );
}

interface PushFlags extends ConnectionFlags {
  name?: string;
  manifest?: string;
  quantization?: Quantization;
  labels?: string;
  serving?: string;
  features?: string;
  key?: string;
}

export function registerPush(program: Command): void {
  withConnection(
    program
      .command("push")
      .description("upload an ONNX model and register it as the model's next version (signed; not yet served)")
      .argument("<model.onnx>", "the ONNX file")
      .option("--name <name>", "model name (optional when --manifest names it)", parseModelName)
      .option("--manifest <manifest.json>", "use this manifest (its sha256 and size must match the file) instead of deriving one")
      .addOption(new Option("--quantization <kind>", "quantization recorded in the manifest (default none)").choices(QuantizationSchema.options))
      .option("--labels <json>", 'class labels: ["a","b"] for the first output or {"output":["a","b"]}; inline JSON or a file')
      .option("--serving <json>", 'serving settings: {"cache":{"enabled":true},"batching":{"maxBatchSize":64,"maxQueueDelayMs":2},"warmup":[...],"download":true}; inline JSON or a file')
      .option("--features <json>", 'feature views that fill inputs: [{"name":"user_stats","input":"user"}] for a view defined before (meridian features define), or spelled out [{"name":"user_stats","entity":"user","consistency":"strong","features":[...],"input":"user"}]; inline JSON or a file')
      .option("--key <file>", "private signing key (env MERIDIAN_SIGNING_KEY or MERIDIAN_SIGNING_KEY_FILE)"),
  ).action(
    action("push", async (file: string, flags: PushFlags) => {
      if (!existsSync(file)) throw new Error(`${file} does not exist`);
      // Everything local is checked before the first request.
      const client = clientFor(flags);
      const privateKey = await loadPrivateKey({ file: flags.key });
      const labels = flags.labels === undefined ? undefined : parseLabels(readJsonFlag("labels", flags.labels));
      const serving = flags.serving === undefined ? undefined : parseServing(readJsonFlag("serving", flags.serving));
      const features = flags.features === undefined ? undefined : parseFeatures(readJsonFlag("features", flags.features));
      const bar = progressBar(!flags.json && process.stderr.isTTY === true, file);
      let result;
      try {
        result = await push({
          file,
          name: flags.name,
          manifestFile: flags.manifest,
          quantization: flags.quantization,
          labels,
          serving,
          features,
          privateKey,
          client,
          onUploadStart: (size) => bar?.start(size, 0),
          onProgress: (n) => bar?.increment(n),
        });
      } finally {
        bar?.stop();
      }
      if (flags.json) {
        printJson(result);
        return;
      }
      const stored = result.artifactCreated ? "uploaded" : "already stored";
      process.stdout.write(
        `pushed ${result.name} v${result.version} (${result.state}; ${bytes(result.size)} ${stored}; sha256 ${result.sha256.slice(0, 12)}…)\n` +
          `serve it with: meridian promote ${result.name} ${result.version}\n`,
      );
    }),
  );
}

/** A JSON flag's text: inline JSON, or the contents of the file it names. */
function readJsonFlag(flag: string, value: string): string {
  const trimmed = value.trim();
  const isInline = trimmed.startsWith("[") || trimmed.startsWith("{");
  if (!isInline && !existsSync(value)) throw new Error(`--${flag} is neither JSON nor an existing file: ${value}`);
  return isInline ? trimmed : readFileSync(value, "utf8");
}

/** On stderr so --json stdout stays clean; only for a terminal (no escape codes in logs). */
function progressBar(enabled: boolean, file: string): cliProgress.SingleBar | null {
  if (!enabled) return null;
  return new cliProgress.SingleBar(
    { stream: process.stderr, format: `upload ${file} [{bar}] {percentage}% {value}/{total} bytes`, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
}

// `npm run fuzz [-- --count 20000 --seed 7 --concurrency 8 --rev HEAD]`: starts a seeded `wrangler dev`
// (on a copy of the working tree, or of --rev),
// sends the bad requests, prints the tables and writes bench/results/fuzz.json; exits 1 on any
// 5xx, dropped connection, 4xx without a JSON error, failed control or changed prediction.
// `npm run fuzz -- --seed 7 --emit 123 [--url U --token T]` regenerates case 123 alone and
// prints a curl command for it (the body goes to .tmp/fuzz/). `--target U --token T` fuzzes a
// server that is already running (one serving the sample models) instead of starting one;
// `--kinds deep,oversize` sends only those kinds.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { ROOT } from "../../dev/local";
import { buildFixtureModels } from "../../dev/samples/index";
import { generateCase, selectKinds, type GenContext } from "./generate";
import { buildResult, curlFor, formatResult } from "./report";
import { runFuzz } from "./run";
import { remoteServer, startFuzzServer } from "./server";

const MAX_BODY_BYTES = 4 << 20; // wrangler.toml's MAX_BODY_BYTES

const { values: args } = parseArgs({
  options: {
    count: { type: "string", default: "10000" },
    seed: { type: "string", default: "1" },
    concurrency: { type: "string", default: "8" },
    timeout: { type: "string", default: "60000" },
    "control-every": { type: "string", default: "100" },
    out: { type: "string", default: join(ROOT, "bench", "results", "fuzz.json") },
    emit: { type: "string" },
    url: { type: "string", default: "http://127.0.0.1:8787" },
    token: { type: "string", default: "$ADMIN_TOKEN" },
    rev: { type: "string" },
    target: { type: "string" },
    kinds: { type: "string", default: "" },
  },
});

function int(name: keyof typeof args): number {
  const n = Number(args[name]);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, not ${String(args[name])}`);
  return n;
}

async function emit(seed: number, index: number): Promise<void> {
  const ctx: GenContext = { models: (await buildFixtureModels()).map((m) => m.manifest), adminToken: args.token!, maxBodyBytes: MAX_BODY_BYTES };
  const c = generateCase(seed, index, ctx, kinds);
  let file: string | null = null;
  if (c.body) {
    file = join(ROOT, ".tmp", "fuzz", `case-${seed}-${index}.bin`);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, c.body);
  }
  console.log(`# ${c.kind}: ${c.variant}${c.body ? ` (${c.body.length} bytes)` : ""}`);
  console.log(curlFor(c, args.url!, file));
}

async function campaign(seed: number): Promise<boolean> {
  const count = int("count");
  const concurrency = Math.max(1, int("concurrency"));
  const server = args.target
    ? remoteServer(args.target, args.token!, (await buildFixtureModels()).map((m) => m.manifest))
    : (console.error("starting wrangler dev with the sample models…"), await startFuzzServer({ handleSignals: true, rev: args.rev ?? null }));
  try {
    const processesBefore = server.processes();
    const reloadsBefore = server.reloads();
    console.error(`wrangler reloads before the run: ${reloadsBefore}`);
    console.error(`serving ${server.code} at ${server.url}; sending ${count} cases (seed ${seed}, concurrency ${concurrency})`);
    const { tally, check, seconds } = await runFuzz({
      url: server.url,
      ctx: { models: server.models, adminToken: server.adminToken, maxBodyBytes: MAX_BODY_BYTES },
      seed,
      count,
      concurrency,
      timeoutMs: int("timeout"),
      controlEvery: Math.max(1, int("control-every")),
      kinds,
      onProgress: (done, t) => {
        if (done % 1000 === 0) console.error(`  ${done} sent, ${t.failed} failures`);
      },
    });
    const result = buildResult({ seed, count, concurrency, seconds, tally, predictions: check, code: server.code, processesBefore, processesAfter: server.processes(), reloads: server.reloads() - reloadsBefore, workerErrorLog: server.errorLog });
    console.log(formatResult(result));
    if (args.out) {
      mkdirSync(dirname(args.out), { recursive: true });
      writeFileSync(args.out, `${JSON.stringify(result, null, 2)}\n`);
      console.error(`wrote ${args.out}`);
    }
    return result.ok;
  } finally {
    await server.stop();
  }
}

const seed = int("seed");
const kinds = selectKinds(args.kinds!.split(",").filter(Boolean));
if (args.emit !== undefined) await emit(seed, int("emit"));
else process.exitCode = (await campaign(seed)) ? 0 : 1;

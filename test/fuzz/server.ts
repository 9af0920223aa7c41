// A `wrangler dev` with the sample models, owned by one fuzz run: started by startSeeded from a
// frozen copy of the project (see snapshot.ts), with its own state directory and port,
// credentials made for the run, and nothing of it left running afterwards (also on SIGINT/SIGTERM).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type * as Local from "../../dev/local";
import type * as Fixtures from "../../dev/samples/index";
import { generateKeyPair } from "../../shared/signing";
import { killSurvivors, processTree, type Proc } from "./procs";
import { snapshot } from "./snapshot";
import type { ModelInfo } from "./valid";

export interface FuzzServer {
  url: string;
  adminToken: string;
  models: ModelInfo[];
  /** Which code serves: "working tree" or a commit. */
  code: string;
  /** Lines the Worker logged about errors (unhandled exceptions carry the 500s' stacks). */
  errorLog: string[];
  /** Times wrangler rebuilt and restarted the Worker (each one fails the requests in flight). */
  reloads(): number;
  /** The server's live processes, as "command pid start" (start time: a restart shows). */
  processes(): string[];
  stop(): Promise<void>;
}

export interface ServerOptions {
  /** Serve this git revision instead of a copy of the working tree. */
  rev?: string | null;
  handleSignals: boolean;
  log?: (line: string) => void;
}

const MAX_LOG_LINES = 500;

export async function startFuzzServer(opts: ServerOptions): Promise<FuzzServer> {
  const state = mkdtempSync(join(tmpdir(), "meridian-fuzz-state-"));
  const code = snapshot(opts.rev ?? null);
  const cleanup = () => {
    rmSync(state, { recursive: true, force: true });
    code.remove();
  };
  // Installed first: a signal during start-up still removes what was made (the reaper in
  // dev/local.ts stops a wrangler already started when this process exits).
  let stop: () => Promise<void> = async () => cleanup();
  if (opts.handleSignals) {
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      process.once(signal, () => void stop().finally(() => process.exit(signal === "SIGINT" ? 130 : 143)));
    }
  }
  const keys = await generateKeyPair();
  const adminToken = Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString("base64url");
  let dev: Awaited<ReturnType<typeof Local.startSeeded>>;
  let models: ModelInfo[];
  try {
    // The copy's own modules: its wrangler, its config, its sample models.
    const { startSeeded } = await code.load<typeof Local>("dev/local.ts", "scripts/local.ts");
    const { buildFixtureModels } = await code.load<typeof Fixtures>("dev/samples/index.ts", "scripts/models.ts");
    models = (await buildFixtureModels()).map((m) => m.manifest);
    // Not quiet: wrangler says "Reloading local server" only at its info level.
    dev = await startSeeded({ stateDir: state, credentials: { adminToken, ...keys }, log: opts.log });
  } catch (err) {
    cleanup();
    throw err;
  }
  const root = dev.process.pid!;
  // Everything seen in the tree, so what outlives wrangler (workerd) can be killed by id.
  const seen = new Map<string, Proc>();
  const look = () => {
    const tree = processTree(root);
    for (const p of tree) seen.set(`${p.pid}:${p.start}`, p);
    return tree.map((p) => `${p.command} ${p.pid} ${p.start}`);
  };
  look();
  const { errorLog, reloads } = captureOutput(dev.process.stdout, dev.process.stderr);
  let stopping: Promise<void> | undefined;
  stop = () =>
    (stopping ??= (async () => {
      look();
      try {
        await dev.stop();
      } finally {
        killSurvivors([...seen.values()]);
        cleanup();
      }
    })());
  return { url: dev.url, adminToken, models, code: code.source, errorLog, reloads, processes: look, stop: () => stop() };
}

/** A server someone else runs (`--target`): nothing to start, stop or watch. */
export function remoteServer(url: string, adminToken: string, models: ModelInfo[]): FuzzServer {
  return { url, adminToken, models, code: `remote ${url}`, errorLog: [], reloads: () => 0, processes: () => [], stop: async () => {} };
}

/** Keeps the Worker's error lines (the 500s' stacks, each distinct line once) and counts wrangler's reloads. */
function captureOutput(...streams: Array<NodeJS.ReadableStream | null>): { errorLog: string[]; reloads: () => number } {
  const errorLog: string[] = [];
  const seen = new Set<string>();
  let reloads = 0;
  const ansi = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");
  for (const s of streams) {
    s?.on("data", (d: Buffer) => {
      for (const line of d.toString().replace(ansi, "").split("\n")) {
        if (line.includes("Reloading local server")) reloads++;
        else if (errorLog.length < MAX_LOG_LINES && !seen.has(line) && !line.startsWith("[wrangler:info]") && /error|unhandled|exception|^\s+at /i.test(line)) {
          seen.add(line);
          errorLog.push(line.slice(0, 400));
        }
      }
    });
  }
  return { errorLog, reloads: () => reloads };
}

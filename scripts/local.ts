// Local edge processes: seeding the simulated D1/R2/KV that `wrangler dev` uses, and starting
// `wrangler dev` in its own process group (killing only npx's pid would leave workerd running).
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { getPlatformProxy } from "wrangler";
import type { Stores } from "../edge/versions/publish";
import { publishVersion } from "../edge/versions/publish";
import { buildFixtureModels } from "./models";

const run = promisify(execFile);
export const ROOT = new URL("..", import.meta.url).pathname;
const WRANGLER = join(ROOT, "node_modules", ".bin", "wrangler");
export const DEFAULT_STATE = join(ROOT, ".wrangler", "state");

/** Offline-friendly wrangler: no cf placeholder download, no telemetry. */
export const WRANGLER_ENV = {
  ...process.env,
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_SEND_METRICS: "false",
  CI: "true",
};

/** Applies the D1 migrations and publishes the sample models as serving versions. */
export async function seed(stateDir = DEFAULT_STATE, log: (line: string) => void = () => {}): Promise<void> {
  await run(WRANGLER, ["d1", "migrations", "apply", "meridian-registry", "--local", "--persist-to", stateDir], {
    cwd: ROOT,
    env: WRANGLER_ENV,
  });
  const proxy = await getPlatformProxy<Stores>({
    configPath: join(ROOT, "wrangler.toml"),
    persist: { path: join(stateDir, "v3") },
  });
  try {
    for (const model of await buildFixtureModels()) {
      const m = await publishVersion(proxy.env, model.manifest, new Uint8Array(Buffer.from(model.onnx, "base64")), { serve: true });
      log(`seeded ${m.name} v${m.version} (${m.quantization}, ${m.size} bytes, sha256 ${m.sha256.slice(0, 12)})`);
    }
  } finally {
    await proxy.dispose();
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

export interface DevServer {
  url: string;
  process: ChildProcess;
  /** Milliseconds from spawn until the first /v2/health/ready answered 200. */
  readyMs: number;
  stop(): Promise<void>;
}

export async function startDev(
  /** `config`: a wrangler config other than ./wrangler.toml (its Worker must answer /v2/health/ready). */
  opts: { port?: number; stateDir?: string; vars?: Record<string, string>; timeoutMs?: number; config?: string } = {},
): Promise<DevServer> {
  const port = opts.port ?? (await freePort());
  const args = ["dev", "--port", String(port), "--ip", "127.0.0.1", "--persist-to", opts.stateDir ?? DEFAULT_STATE];
  if (opts.config) args.push("--config", opts.config);
  for (const [k, v] of Object.entries(opts.vars ?? {})) args.push("--var", `${k}:${v}`);
  const t0 = Date.now();
  const child = spawn(WRANGLER, args, { cwd: ROOT, env: WRANGLER_ENV, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode !== null || child.pid === undefined) return;
    const exited = new Promise((r) => child.once("exit", r));
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {
      return;
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {}
    }, 5000);
    await exited;
    clearTimeout(timer);
  };
  const deadline = t0 + (opts.timeoutMs ?? 60_000);
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited (${child.exitCode}):\n${output}`);
    try {
      const res = await fetch(`${url}/v2/health/ready`);
      if (res.ok) return { url, process: child, readyMs: Date.now() - t0, stop };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await stop();
  throw new Error(`wrangler dev not ready after ${opts.timeoutMs ?? 60_000} ms:\n${output}`);
}

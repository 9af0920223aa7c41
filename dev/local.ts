// Local edge processes: `wrangler dev` under the reaper (dev/supervise.ts: its own process
// group, stopped with us however we end; killing only npx's pid would leave workerd running), dev
// credentials, and seeding the sample models through the admin API.
import { execFile, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { AdminClient } from "../shared/admin-client";
import { generateKeyPair } from "../shared/signing";
import { buildFixtureModels } from "./samples/index";
import { supervise } from "./supervise";

const run = promisify(execFile);
export const ROOT = new URL("..", import.meta.url).pathname;
const WRANGLER = join(ROOT, "node_modules", ".bin", "wrangler");
export const DEFAULT_STATE = join(ROOT, ".wrangler", "state");
export const DEV_DIR = join(ROOT, ".meridian");

/** Offline-friendly wrangler: no cf placeholder download, no telemetry. */
export const WRANGLER_ENV = {
  ...process.env,
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_SEND_METRICS: "false",
  CI: "true",
};

export interface Credentials {
  adminToken: string;
  /** Raw Ed25519 public key (base64): the edge's SIGNING_PUBLIC_KEYS. */
  publicKey: string;
  /** PKCS#8 private key (base64): signs what gets pushed. */
  privateKey: string;
}

/** Local credentials, made once and kept in .meridian/ (git-ignored), as `meridian keygen` lays them out. */
export async function devCredentials(dir = DEV_DIR): Promise<Credentials> {
  const files = { token: join(dir, "admin-token"), key: join(dir, "meridian-signing.key"), pub: join(dir, "meridian-signing.pub") };
  if (!existsSync(files.token) || !existsSync(files.key) || !existsSync(files.pub)) {
    mkdirSync(dir, { recursive: true });
    const keys = await generateKeyPair();
    const token = Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString("base64url");
    writeFileSync(files.token, `${token}\n`, { mode: 0o600 });
    writeFileSync(files.key, `${keys.privateKey}\n`, { mode: 0o600 });
    writeFileSync(files.pub, `${keys.publicKey}\n`);
  }
  const read = (f: string) => readFileSync(f, "utf8").trim();
  return { adminToken: read(files.token), privateKey: read(files.key), publicKey: read(files.pub) };
}

export const credentialVars = (c: Credentials) => ({ ADMIN_TOKEN: c.adminToken, SIGNING_PUBLIC_KEYS: c.publicKey });

export async function migrate(stateDir = DEFAULT_STATE): Promise<void> {
  await run(WRANGLER, ["d1", "migrations", "apply", "meridian-registry", "--local", "--persist-to", stateDir], {
    cwd: ROOT,
    env: WRANGLER_ENV,
  });
}

/** Publishes the sample models through the admin API; models already serving those bytes are left alone. Returns their names. */
export async function seedModels(url: string, creds: Credentials, log: (line: string) => void = () => {}): Promise<string[]> {
  const names: string[] = [];
  const client = new AdminClient(url, creds.adminToken, { actor: "seed" });
  for (const { manifest, onnx } of await buildFixtureModels()) {
    names.push(manifest.name);
    const known = await client.model(manifest.name);
    if (known?.versions.some((v) => v.sha256 === manifest.sha256 && v.version === known.serving)) {
      log(`${manifest.name}: v${known.serving} already serving`);
      continue;
    }
    const m = await client.publish(manifest, new Uint8Array(Buffer.from(onnx, "base64")), creds.privateKey, { promote: true });
    log(`${m.name}: published v${m.version} (${m.quantization}, ${m.size} bytes, sha256 ${m.sha256.slice(0, 12)})`);
  }
  return names;
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
  /** The reaper wrangler runs under (dev/reaper.mjs): it exits as wrangler did, once all of it is gone. */
  process: ChildProcess;
  /** Milliseconds from spawn until the readiness path answered 200. */
  readyMs: number;
  stop(): Promise<void>;
}

export interface DevOptions {
  port?: number;
  stateDir?: string;
  vars?: Record<string, string>;
  /** A wrangler config other than ./wrangler.toml. */
  config?: string;
  readyPath?: string;
  /** Show wrangler's output (npm start) instead of keeping it for error messages. */
  inheritOutput?: boolean;
  /** No per-request log lines from wrangler (benchmarks: they cost its process CPU on every request). */
  quiet?: boolean;
  timeoutMs?: number;
  /** Aborting stops a start still waiting for readiness (startDev then throws). */
  signal?: AbortSignal;
}

export async function startDev(opts: DevOptions = {}): Promise<DevServer> {
  const port = opts.port ?? (await freePort());
  const args = ["dev", "--port", String(port), "--ip", "127.0.0.1", "--persist-to", opts.stateDir ?? DEFAULT_STATE];
  if (opts.quiet) args.push("--log-level", "warn");
  if (opts.config) args.push("--config", opts.config);
  // wrangler probes 9229 upwards and binds later: parallel starts would race for one port.
  else args.push("--inspector-port", String(await freePort()));
  for (const [k, v] of Object.entries(opts.vars ?? {})) args.push("--var", `${k}:${v}`);
  const t0 = Date.now();
  const stdio = opts.inheritOutput ? "inherit" : "pipe";
  const { process: child, stop } = supervise(WRANGLER, args, { cwd: ROOT, env: WRANGLER_ENV, stdout: stdio, stderr: stdio });
  // Only the tail is kept (for error messages): a long-running server logs every request.
  let output = "";
  const keep = (d: Buffer) => (output = (output + d.toString()).slice(-65_536));
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const url = `http://127.0.0.1:${port}`;
  const timeout = opts.timeoutMs ?? 60_000;
  while (Date.now() < t0 + timeout) {
    if (opts.signal?.aborted) {
      await stop();
      throw new Error("wrangler dev start aborted");
    }
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`wrangler dev exited (${child.exitCode ?? child.signalCode}):\n${output}`);
    try {
      const res = await fetch(`${url}${opts.readyPath ?? "/v2/health/ready"}`);
      if (res.ok) return { url, process: child, readyMs: Date.now() - t0, stop };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await stop();
  throw new Error(`wrangler dev not ready after ${timeout} ms:\n${output}`);
}

/** Migrated state, a running `wrangler dev` with credentials, and the sample models serving. */
export async function startSeeded(
  opts: DevOptions & { credentials?: Credentials; log?: (line: string) => void } = {},
): Promise<DevServer & { credentials: Credentials; models: string[] }> {
  const credentials = opts.credentials ?? (await devCredentials());
  await migrate(opts.stateDir);
  opts.signal?.throwIfAborted();
  const server = await startDev({ ...opts, vars: { ...credentialVars(credentials), ...opts.vars } });
  // Aborted while seeding: stopping the server makes the seeding fail at once.
  const onAbort = () => void server.stop();
  opts.signal?.addEventListener("abort", onAbort);
  try {
    let models: string[];
    for (let attempt = 1; ; attempt++) {
      try {
        models = await seedModels(server.url, credentials, opts.log);
        break;
      } catch (err) {
        // A loaded machine occasionally drops the first connections to a just-started workerd
        // (seen: UND_ERR_SOCKET); seeding skips what is already serving, so it can run again.
        if (attempt === 3 || opts.signal?.aborted) throw err;
        opts.log?.(`seeding failed (${err instanceof Error ? err.message : String(err)}), retrying`);
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    opts.signal?.throwIfAborted();
    return { ...server, credentials, models };
  } catch (err) {
    await server.stop();
    throw err;
  } finally {
    opts.signal?.removeEventListener("abort", onAbort);
  }
}

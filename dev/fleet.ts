// A local fleet whose PoPs share one registry, as on Cloudflare: several PoPs run as separate
// Workers (separate workerd isolates, so each has its own pointer cache, manager, session cache
// and metrics recorder) inside ONE programmatic Miniflare, all bound to the same simulated KV
// namespace, R2 bucket and D1 database and to one set of Durable Object classes (RegistryDO,
// MetricsDO, … hosted by the first PoP). bench:propagation and bench:rollout run on it.
// Miniflare starts workerd itself: callers run under the reaper (runUnderReaper) so that workerd
// stops even when they are killed outright.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Miniflare, type WorkerOptions } from "miniflare";
import { AdminClient } from "../shared/admin-client";
import { generateKeyPair } from "../shared/signing";
import { ROOT, WRANGLER_ENV } from "./local";

const run = promisify(execFile);
const WRANGLER = join(ROOT, "node_modules", ".bin", "wrangler");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Bundle {
  dir: string;
  script: string;
  wasm: string[];
  /** Durable Object bindings wrangler reports for the config (binding → class), e.g. REGISTRY → RegistryDO. */
  durableObjects: Record<string, string>;
}

/** The Worker exactly as `wrangler deploy` would upload it (index.js + ort's .wasm). */
export async function bundleWorker(): Promise<Bundle> {
  const dir = await mkdtemp(join(tmpdir(), "meridian-fleet-"));
  const { stdout } = await run(WRANGLER, ["deploy", "--dry-run", "--outdir", dir], { cwd: ROOT, env: WRANGLER_ENV, maxBuffer: 16 << 20 });
  const durableObjects: Record<string, string> = {};
  for (const m of stdout.matchAll(/env\.(\w+) \((\w+)\)\s+Durable Object/g)) durableObjects[m[1]!] = m[2]!;
  if (durableObjects.REGISTRY !== "RegistryDO") throw new Error(`wrangler did not report the REGISTRY binding:\n${stdout}`);
  const files = await readdir(dir);
  const wasm = files.filter((f) => f.endsWith(".wasm")).map((f) => join(dir, f));
  if (!files.includes("index.js") || wasm.length === 0) throw new Error(`unexpected bundle in ${dir}: ${files.join(", ")}`);
  return { dir, script: join(dir, "index.js"), wasm, durableObjects };
}

/** Miniflare instances still running: disposed on the way out, whatever happens. */
const active = new Set<Miniflare>();
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.once(sig, () => {
    void Promise.allSettled([...active].map((mf) => mf.dispose())).then(() => process.exit(130));
  });
}

export interface Fleet {
  pops: Array<{ colo: string; url: string }>;
  /** The admin API through the first PoP. */
  admin: AdminClient;
  adminToken: string;
  privateKey: string;
  publicKey: string;
  stop(): Promise<void>;
}

export interface FleetOptions {
  colos: string[];
  /** Vars for every PoP (strings, as wrangler.toml [vars] give them). */
  vars?: Record<string, string>;
  /** Vars of one PoP, over `vars`. */
  varsFor?: (colo: string, keys: { publicKey: string }) => Record<string, string>;
  log?: (line: string) => void;
}

export async function startFleet(b: Bundle, opts: FleetOptions): Promise<Fleet> {
  const log = opts.log ?? (() => {});
  const keys = await generateKeyPair();
  const adminToken = Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString("base64url");
  const names = opts.colos.map((c) => `pop-${c}`);
  const host = names[0]!;
  const worker = (name: string): WorkerOptions => ({
    name,
    // Listed by hand: the bundle has dynamic import()s Miniflare's module walker refuses.
    modules: [{ type: "ESModule", path: b.script }, ...b.wasm.map((path) => ({ type: "CompiledWasm" as const, path }))],
    modulesRoot: b.dir,
    compatibilityDate: "2026-04-20",
    bindings: {
      POP_COLO: name.slice(4),
      ADMIN_TOKEN: adminToken,
      SIGNING_PUBLIC_KEYS: keys.publicKey,
      MAX_ARTIFACT_BYTES: "33554432",
      MAX_BODY_BYTES: "4194304",
      SESSION_CACHE_BYTES: "67108864",
      ...opts.vars,
      ...opts.varsFor?.(name.slice(4), keys),
    },
    // Same ids everywhere: Miniflare gives every Worker the same storage behind them.
    kvNamespaces: { POINTERS: "fleet-pointers" },
    r2Buckets: { ARTIFACTS: "fleet-artifacts" },
    d1Databases: { DB: "fleet-registry" },
    // Every Durable Object class lives in the first PoP; the others bind to it.
    durableObjects: Object.fromEntries(
      Object.entries(b.durableObjects).map(([binding, className]) => [binding, name === host ? { className, useSQLite: true } : { className, scriptName: host, useSQLite: true }]),
    ),
    unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
  });
  const tStart = performance.now();
  const mf = new Miniflare({ workers: names.map(worker) });
  active.add(mf);
  const stop = async () => {
    active.delete(mf);
    await mf.dispose();
  };
  try {
    await mf.ready;
    log(`  workerd up (${names.length} Workers) in ${Math.round(performance.now() - tStart)} ms`);
    await migrateD1(mf, host);
    const urls = await Promise.all(names.map(async (n) => (await mf.unsafeGetDirectURL(n)).toString().replace(/\/$/, "")));
    for (const url of urls) await waitReady(url);
    log(`  all ready in ${Math.round(performance.now() - tStart)} ms`);
    const pops = names.map((n, i) => ({ colo: n.slice(4), url: urls[i]! }));
    return { pops, admin: new AdminClient(pops[0]!.url, adminToken, { actor: "bench" }), adminToken, privateKey: keys.privateKey, publicKey: keys.publicKey, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Applies migrations/*.sql through the D1 binding (what `wrangler d1 migrations apply` does). */
async function migrateD1(mf: Miniflare, worker: string): Promise<void> {
  const db = await mf.getD1Database("DB", worker);
  const dir = join(ROOT, "migrations");
  for (const file of (await readdir(dir)).filter((f) => f.endsWith(".sql")).sort()) {
    const sql = await readFile(join(dir, file), "utf8");
    for (const stmt of sql.split("--> statement-breakpoint").map((s) => s.trim()).filter(Boolean)) await db.prepare(stmt).run();
  }
}

async function waitReady(url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${url}/v2/health/ready`);
      last = `${res.status} ${(await res.text()).slice(0, 200)}`;
      if (res.ok) return;
    } catch (err) {
      last = String(err);
    }
    await sleep(100);
  }
  throw new Error(`${url} not ready after ${timeoutMs} ms: ${last}`);
}

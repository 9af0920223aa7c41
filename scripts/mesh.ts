// `npm run mesh`: several local PoPs behind a geo-DNS front door.
//
// Each PoP is its own `wrangler dev` (its own workerd, its own persisted state: D1, R2, KV and
// Durable Objects are per PoP, as nothing is shared between processes) playing a real catalogue
// PoP through POP_COLO, seeded with the sample models. A small node:http front door stands in
// for geo-DNS/anycast: the client says where it is (x-client-lat / x-client-lon headers, or
// ?lat=&lon=), the front door sends the request to the nearest PoP not marked down (great-circle
// distance) and adds simulated network delay in user space (kernel netem is not available here):
// half the modelled round trip before forwarding, half before answering.
//
// Each PoP's PEERS point back at the front door's relay (/_mesh/relay/<from>/<to>/...), so a
// PoP→PoP failover hop pays the PoP→PoP delay too and cannot reach a PoP marked down.
//
//   POST /_mesh/down/<colo>, /_mesh/up/<colo>   take a PoP out of (or back into) routing
//   GET  /_mesh                                  the PoPs, their URLs and state
//   header x-mesh-delay: off                     no simulated delay for this request
//
// Responses add x-meridian-front-pop (where the front door sent it), x-meridian-front-km
// (client→PoP great circle), x-meridian-sim-rtt-ms (simulated delay added) and
// x-meridian-front-upstream-ms (the PoP's own time as seen from the front door: the service time
// for a client next to the PoP).
//
// CLI: npm run mesh [-- --colos FRA,IAD,SIN --port 8800 --fresh]
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Agent, createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { fibreRttMs, haversineKm, ROUTE_INFLATION, type LatLon } from "../shared/geo";
import { popByCode, type Pop } from "../shared/pops";
import { credentialVars, devCredentials, freePort, migrate, ROOT, seedModels, startDev, type Credentials, type DevServer } from "./local";

/** One PoP per inhabited continent. */
export const MESH_COLOS = ["FRA", "IAD", "SIN", "GRU", "SYD", "JNB"] as const;

/**
 * Simulated delay uses the typical route inflation, 2.1: fibre paths are about 2.1x the great
 * circle (Bozkurt et al., "Dissecting Latency in the Internet's Fiber Infrastructure",
 * arXiv:1811.10737, 2018; see shared/geo.ts), at 200 km/ms in fibre.
 */
export const MESH_INFLATION = ROUTE_INFLATION.typical;

export interface MeshOptions {
  /** Catalogue PoP codes to run (default MESH_COLOS). */
  colos?: readonly string[];
  /** Front door port (default: a free one). */
  port?: number;
  /** Parent of the per-PoP state dirs; default a temp dir, removed on stop. */
  stateRoot?: string;
  /** Keep stateRoot on stop (default: keep only a stateRoot that was passed in). */
  keepState?: boolean;
  /** Admin token and signing keys for every PoP (default: the dev credentials in .meridian/). */
  credentials?: Credentials;
  /** Extra vars for every PoP. */
  vars?: Record<string, string>;
  /** Extra vars for one PoP (by colo), e.g. { FRA: { DOWN_REGIONS: "weur" } }. */
  popVars?: Record<string, Record<string, string>>;
  /** Route inflation of the simulated delay (default 2.1). */
  inflation?: number;
  /** PEERS through the front door's relay (default), or straight to the peers' URLs (no PoP→PoP delay). */
  relayPeers?: boolean;
  /** Per-PoP startup timeout (ms); parallel starts on few cores are slow. */
  startTimeoutMs?: number;
  log?: (line: string) => void;
  /** Aborting during startup stops every PoP once the starts settle, and startMesh throws. */
  signal?: AbortSignal;
}

export interface MeshPop {
  colo: string;
  pop: Pop;
  url: string;
  /** Spawn to ready, seeding excluded (ms). */
  readyMs: number;
  /** Spawn to seeded (ms). */
  startMs: number;
  /** Marked down through /_mesh/down. */
  down: boolean;
  /** The wrangler process is still running. */
  alive: boolean;
}

export interface MeshRoute {
  pop: MeshPop;
  km: number;
  /** Simulated round trip, client ↔ PoP (ms). */
  rttMs: number;
}

export interface Mesh {
  /** The front door. */
  url: string;
  pops: readonly MeshPop[];
  /** startMesh's wall time: all PoPs started in parallel, seeded and the front door listening (ms). */
  startupMs: number;
  credentials: Credentials;
  inflation: number;
  /** Where the front door sends a client at `at` (nearest PoP up), or undefined when none is. */
  route(at: LatLon): MeshRoute | undefined;
  setDown(colo: string, down: boolean): void;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Waits at least `ms`, to within a fraction of a millisecond: timers fire on a millisecond loop
 * clock (and may fire up to ~1 ms early against performance.now()), so a timer covers all but
 * the last ~1 ms and setImmediate turns (which let other I/O run) cover the rest.
 */
export async function delay(ms: number): Promise<void> {
  const end = performance.now() + ms;
  for (let left = ms; left > 0; left = end - performance.now()) {
    if (left > 1.5) await sleep(Math.floor(left - 0.5));
    else await new Promise<void>((r) => setImmediate(r));
  }
}

/** The client's position from x-client-lat/x-client-lon or ?lat=&lon=; undefined if not given. */
export function clientLocation(headers: IncomingHttpHeaders, query: URLSearchParams): LatLon | undefined {
  const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
  const latText = one(headers["x-client-lat"]) ?? query.get("lat") ?? undefined;
  const lonText = one(headers["x-client-lon"]) ?? query.get("lon") ?? undefined;
  if (latText === undefined && lonText === undefined) return undefined;
  const lat = Number(latText);
  const lon = Number(lonText);
  if (latText === undefined || lonText === undefined || !Number.isFinite(lat) || !Number.isFinite(lon) || Math.abs(lat) > 90 || Math.abs(lon) > 180) {
    throw new RangeError(`client position must be latitude in [-90, 90] and longitude in [-180, 180], got lat=${latText} lon=${lonText}`);
  }
  return { lat, lon };
}

/** PoPs that can take traffic, nearest first. */
export function rankPops<P extends { pop: LatLon; down: boolean; alive: boolean }>(at: LatLon, pops: readonly P[]): Array<{ item: P; km: number }> {
  return pops
    .filter((p) => !p.down && p.alive)
    .map((item) => ({ item, km: haversineKm(at, item.pop) }))
    .sort((a, b) => a.km - b.km);
}

// ---------- proxying ----------

// Hop-by-hop headers (RFC 9110 §7.6.1) and lengths node recomputes; the mesh's own control header.
const DROP_REQUEST = new Set(["host", "connection", "keep-alive", "transfer-encoding", "content-length", "upgrade", "proxy-connection", "x-mesh-delay"]);
const DROP_RESPONSE = new Set(["connection", "keep-alive", "transfer-encoding", "content-length", "upgrade"]);

interface Upstream {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** Request sent to last response byte (ms). */
  ms: number;
}

class UnreachableError extends Error {}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function send(agent: Agent, base: string, path: string, method: string, headers: IncomingHttpHeaders, body: Buffer): Promise<Upstream> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !DROP_REQUEST.has(k)) out[k] = v;
  if (body.length > 0 || !["GET", "HEAD"].includes(method)) out["content-length"] = String(body.length);
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = httpRequest(new URL(path, base), { method, headers: out, agent, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks), ms: performance.now() - t0 }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("upstream timed out after 30 s")));
    req.on("error", (err: NodeJS.ErrnoException) => reject(err.code === "ECONNREFUSED" ? new UnreachableError(err.message) : err));
    req.end(body);
  });
}

function reply(res: ServerResponse, status: number, headers: IncomingHttpHeaders | Record<string, string>, body: Buffer | string): void {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !DROP_RESPONSE.has(k)) out[k] = v;
  const bytes = typeof body === "string" ? Buffer.from(body) : body;
  out["content-length"] = String(bytes.length);
  res.writeHead(status, out);
  res.end(bytes);
}

const json = (res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}) =>
  reply(res, status, { "content-type": "application/json", ...headers }, `${JSON.stringify(value)}\n`);

// ---------- the front door ----------

interface FrontDoor {
  server: Server;
  agent: Agent;
}

function frontDoor(pops: MeshPop[], inflation: number): FrontDoor {
  const byColo = new Map(pops.map((p) => [p.colo, p]));
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const status = () => ({
    inflation,
    pops: pops.map((p) => ({ colo: p.colo, city: p.pop.city, continent: p.pop.continent, region: p.pop.region, lat: p.pop.lat, lon: p.pop.lon, url: p.url, down: p.down, alive: p.alive })),
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://front-door");
    const method = req.method ?? "GET";
    const simulate = String(req.headers["x-mesh-delay"] ?? "").toLowerCase() !== "off";

    if (url.pathname === "/_mesh" || url.pathname === "/_mesh/") return json(res, 200, status());

    const mark = /^\/_mesh\/(down|up)\/([A-Za-z]+)\/?$/.exec(url.pathname);
    if (mark) {
      if (method !== "POST") return json(res, 405, { error: "use POST" }, { allow: "POST" });
      const pop = byColo.get(mark[2]!.toUpperCase());
      if (!pop) return json(res, 404, { error: `no PoP ${mark[2]} in this mesh (${[...byColo.keys()].join(", ")})` });
      pop.down = mark[1] === "down";
      return json(res, 200, status());
    }

    // PoP → PoP (a PoP's failover forwarding): the PoP→PoP delay, and nothing reaches a PoP marked down.
    const relay = /^\/_mesh\/relay\/([A-Za-z]+)\/([A-Za-z]+)(\/.*)$/.exec(url.pathname);
    if (relay) {
      const from = popByCode(relay[1]!);
      const to = byColo.get(relay[2]!.toUpperCase());
      if (!from) return json(res, 400, { error: `relay: ${relay[1]} is not a catalogue PoP` });
      if (!to || to.down || !to.alive) return json(res, 503, { error: `relay: PoP ${relay[2]} is ${to ? "down" : "not in this mesh"}` }, { "retry-after": "5" });
      const body = await readBody(req);
      const rtt = fibreRttMs(haversineKm(from, to.pop), inflation);
      if (simulate) await delay(rtt / 2);
      const up = await send(agent, to.url, relay[3]! + url.search, method, req.headers, body);
      if (simulate) await delay(rtt / 2);
      return reply(res, up.status, { ...up.headers, "x-meridian-relay-rtt-ms": rtt.toFixed(1) }, up.body);
    }

    let at: LatLon | undefined;
    try {
      at = clientLocation(req.headers, url.searchParams);
    } catch (err) {
      return json(res, 400, { error: (err as Error).message });
    }
    if (!at) return json(res, 400, { error: "say where the client is: x-client-lat and x-client-lon headers, or ?lat=&lon=" });
    url.searchParams.delete("lat");
    url.searchParams.delete("lon");
    const path = url.pathname + url.search;
    const body = await readBody(req);

    let simulated = 0;
    const skipped: string[] = [];
    for (const { item: pop, km } of rankPops(at, pops)) {
      const rtt = fibreRttMs(km, inflation);
      if (simulate) await delay(rtt / 2);
      simulated += rtt / 2;
      let up: Upstream;
      try {
        up = await send(agent, pop.url, path, method, req.headers, body);
      } catch (err) {
        // Refused: the request never reached the PoP, so trying the next one is safe.
        if (err instanceof UnreachableError) {
          skipped.push(pop.colo);
          continue;
        }
        throw err;
      }
      if (simulate) await delay(rtt / 2);
      simulated += rtt / 2;
      const headers: IncomingHttpHeaders = {
        ...up.headers,
        "x-meridian-front-pop": pop.colo,
        "x-meridian-front-km": km.toFixed(0),
        "x-meridian-sim-rtt-ms": (simulate ? simulated : 0).toFixed(1),
        "x-meridian-front-upstream-ms": up.ms.toFixed(2),
      };
      if (skipped.length) headers["x-meridian-front-skipped"] = skipped.join(",");
      return reply(res, up.status, headers, up.body);
    }
    return json(res, 503, { error: skipped.length ? `no PoP reachable (refused: ${skipped.join(", ")})` : "every PoP is marked down" }, { "retry-after": "5" });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent) return void res.destroy();
      json(res, 502, { error: `front door: ${err instanceof Error ? err.message : String(err)}` });
    });
  });
  server.keepAliveTimeout = 30_000;
  return { server, agent };
}

// ---------- startup ----------

/**
 * wrangler.toml for one PoP, written into its state dir: paths made absolute, and its own
 * inspector port. wrangler dev probes for a free inspector port from 9229 and binds it later, so
 * parallel starts race for the same port and all but one die with EADDRINUSE.
 */
export function popConfig(dir: string, inspectorPort: number): string {
  let text = readFileSync(join(ROOT, "wrangler.toml"), "utf8");
  for (const key of ["main", "migrations_dir"]) {
    const re = new RegExp(`^(${key}\\s*=\\s*)"([^"]+)"`, "m");
    const m = re.exec(text);
    if (!m) throw new Error(`wrangler.toml has no ${key} = "..."`);
    text = text.replace(re, `$1${JSON.stringify(join(ROOT, m[2]!))}`);
  }
  if (/^\[dev\]/m.test(text)) throw new Error("wrangler.toml already has a [dev] table; popConfig would need to merge it");
  const file = join(dir, "wrangler.toml");
  writeFileSync(file, `# Generated by scripts/mesh.ts from ${join(ROOT, "wrangler.toml")}\n${text}\n[dev]\ninspector_port = ${inspectorPort}\n`);
  return file;
}

export async function startMesh(opts: MeshOptions = {}): Promise<Mesh> {
  const t0 = performance.now();
  const log = opts.log ?? (() => {});
  const inflation = opts.inflation ?? MESH_INFLATION;
  const colos = [...new Set((opts.colos ?? MESH_COLOS).map((c) => c.toUpperCase()))];
  if (colos.length === 0) throw new Error("startMesh: no PoPs");
  const catalogue = colos.map((c) => {
    const pop = popByCode(c);
    if (!pop) throw new Error(`startMesh: ${c} is not in the PoP catalogue (shared/pops.ts)`);
    return pop;
  });
  const ownRoot = opts.stateRoot === undefined;
  const stateRoot = opts.stateRoot ?? mkdtempSync(join(tmpdir(), "meridian-mesh-"));
  const keepState = opts.keepState ?? !ownRoot;
  const credentials = opts.credentials ?? (await devCredentials());

  // Ports first: every PoP's PEERS names the others (through the front door's relay).
  const frontPort = opts.port ?? (await freePort());
  const front = `http://127.0.0.1:${frontPort}`;
  const taken = new Set([frontPort]);
  const port = async () => {
    let p: number;
    do p = await freePort();
    while (taken.has(p));
    taken.add(p);
    return p;
  };
  const ports: number[] = [];
  const inspectorPorts: number[] = [];
  for (const _ of colos) {
    ports.push(await port());
    inspectorPorts.push(await port());
  }
  const popUrl = (i: number) => `http://127.0.0.1:${ports[i]}`;
  const peersFor = (self: number) =>
    JSON.stringify(
      colos.flatMap((colo, i) => (i === self ? [] : [{ colo, url: opts.relayPeers === false ? popUrl(i) : `${front}/_mesh/relay/${colos[self]}/${colo}` }])),
    );

  // Started PoPs are killed (synchronously) if this process exits without stopping them.
  const running: DevServer[] = [];
  const killAll = () => {
    for (const s of running) {
      if (s.process.exitCode === null && s.process.pid !== undefined) {
        try {
          process.kill(-s.process.pid, "SIGKILL");
        } catch {}
      }
    }
  };
  process.once("exit", killAll);
  const cleanup = async () => {
    await Promise.all(running.map((s) => s.stop()));
    process.removeListener("exit", killAll);
    if (!keepState) rmSync(stateRoot, { recursive: true, force: true });
  };

  log(`starting ${colos.length} PoPs in parallel (${colos.join(", ")}), state under ${stateRoot}`);
  // Migrations run once, into a template each new PoP's state starts as a copy of (one wrangler
  // CLI instead of one per PoP: ~2 s alone, 12 s for six in parallel on 2 cores). State that
  // exists already (a kept stateRoot) is migrated in place.
  mkdirSync(stateRoot, { recursive: true });
  const fresh = colos.filter((c) => !existsSync(join(stateRoot, c, "state")));
  const template = join(stateRoot, ".migrated");
  if (fresh.length > 0) {
    const m0 = performance.now();
    try {
      rmSync(template, { recursive: true, force: true });
      await migrate(template);
      for (const c of fresh) cpSync(template, join(stateRoot, c, "state"), { recursive: true });
      rmSync(template, { recursive: true, force: true });
    } catch (err) {
      await cleanup();
      throw err;
    }
    log(`  migrations applied once and copied to ${fresh.join(", ")} in ${((performance.now() - m0) / 1000).toFixed(1)} s`);
  }
  const starts = await Promise.allSettled(
    colos.map(async (colo, i) => {
      const dir = join(stateRoot, colo);
      const stateDir = join(dir, "state");
      mkdirSync(dir, { recursive: true });
      // startSeeded's steps (migrate, wrangler dev, publish the sample models), timed apart.
      const s0 = performance.now();
      if (!fresh.includes(colo)) await migrate(stateDir);
      const migrateMs = performance.now() - s0;
      const server = await startDev({
        port: ports[i],
        stateDir,
        config: popConfig(dir, inspectorPorts[i]!),
        vars: { ...credentialVars(credentials), ...opts.vars, ...opts.popVars?.[colo], POP_COLO: colo, PEERS: peersFor(i) },
        timeoutMs: opts.startTimeoutMs ?? 240_000,
      });
      running.push(server);
      const s1 = performance.now();
      for (let attempt = 1; ; attempt++) {
        try {
          await seedModels(server.url, credentials);
          break;
        } catch (err) {
          // A loaded machine occasionally drops a connection to a just-started workerd.
          if (attempt === 3) throw err;
          log(`  ${colo}: seeding failed (${err instanceof Error ? err.message : String(err)}), retrying`);
          await sleep(1000);
        }
      }
      const startMs = performance.now() - s0;
      log(
        `  ${colo} ready on ${server.url} in ${(startMs / 1000).toFixed(1)} s ` +
          (fresh.includes(colo) ? "(" : `(migrations ${(migrateMs / 1000).toFixed(1)} s, `) +
          `wrangler dev ${(server.readyMs / 1000).toFixed(1)} s, seeding ${((performance.now() - s1) / 1000).toFixed(1)} s)`,
      );
      return { server, startMs };
    }),
  );
  const failed = starts.flatMap((s, i) => (s.status === "rejected" ? [`${colos[i]}: ${s.reason instanceof Error ? s.reason.message : String(s.reason)}`] : []));
  if (failed.length || opts.signal?.aborted) {
    await cleanup();
    throw new Error(opts.signal?.aborted ? "mesh startup aborted" : `mesh startup failed:\n${failed.join("\n")}`);
  }

  let stopping = false;
  const pops: MeshPop[] = starts.map((s, i) => {
    const { server, startMs } = (s as PromiseFulfilledResult<{ server: DevServer; startMs: number }>).value;
    const pop: MeshPop = { colo: colos[i]!, pop: catalogue[i]!, url: server.url, readyMs: server.readyMs, startMs, down: false, alive: server.process.exitCode === null };
    server.process.once("exit", (code) => {
      pop.alive = false;
      if (!stopping) log(`PoP ${pop.colo} exited (${code}); routing around it`);
    });
    return pop;
  });

  const door = frontDoor(pops, inflation);
  try {
    await new Promise<void>((resolve, reject) => {
      door.server.once("error", reject);
      door.server.listen(frontPort, "127.0.0.1", () => resolve());
    });
  } catch (err) {
    await cleanup();
    throw err;
  }

  let stopped: Promise<void> | undefined;
  const byColo = new Map(pops.map((p) => [p.colo, p]));
  return {
    url: front,
    pops,
    startupMs: performance.now() - t0,
    credentials,
    inflation,
    route(at) {
      const best = rankPops(at, pops)[0];
      return best && { pop: best.item, km: best.km, rttMs: fibreRttMs(best.km, inflation) };
    },
    setDown(colo, down) {
      const pop = byColo.get(colo.toUpperCase());
      if (!pop) throw new Error(`no PoP ${colo} in this mesh`);
      pop.down = down;
    },
    stop() {
      stopping = true;
      stopped ??= (async () => {
        door.server.closeAllConnections();
        await new Promise<void>((r) => door.server.close(() => r()));
        door.agent.destroy();
        await cleanup();
      })();
      return stopped;
    },
  };
}

// ---------- CLI ----------

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      colos: { type: "string", default: process.env.MESH_COLOS ?? MESH_COLOS.join(",") },
      port: { type: "string", default: process.env.MESH_PORT ?? "8800" },
      fresh: { type: "boolean", default: false },
    },
  });
  const colos = values.colos.split(",").map((c) => c.trim()).filter(Boolean);
  // Kept between runs (models already serving are not published again); --fresh starts clean.
  const stateRoot = join(ROOT, ".wrangler", "mesh");
  if (values.fresh) rmSync(stateRoot, { recursive: true, force: true });
  const abort = new AbortController();
  let mesh: Mesh | undefined;
  let firstSignal = 0;
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.on(sig, () => {
      // A second Ctrl-C quits at once (the exit hook still kills the PoPs); one delivered twice
      // (terminal and npm/tsx relaying it) within a second counts once.
      if (firstSignal && Date.now() - firstSignal > 1000) process.exit(130);
      if (firstSignal) return;
      firstSignal = Date.now();
      if (!mesh) {
        console.log("\nmesh: stopping once the starting PoPs settle (Ctrl-C again to quit now)");
        abort.abort();
        return;
      }
      console.log("\nmesh: stopping");
      void mesh.stop().then(() => process.exit(0));
    });
  }
  const log = (line: string) => console.log(`mesh: ${line}`);
  try {
    mesh = await startMesh({ colos, port: Number(values.port), stateRoot, keepState: true, log, signal: abort.signal });
  } catch (err) {
    console.error(`mesh: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(abort.signal.aborted ? 0 : 1);
  }
  const rows = mesh.pops.map((p) => `  ${p.colo}  ${p.pop.city.padEnd(12)} ${p.pop.continent}  ${p.pop.region.padEnd(5)} ${p.url}`);
  const u = mesh.url;
  console.log(`
mesh: ${mesh.pops.length} PoPs up in ${(mesh.startupMs / 1000).toFixed(1)} s (started in parallel)
${rows.join("\n")}
mesh: front door ${u}  (simulated delay: fibre 200 km/ms x route inflation ${mesh.inflation})
  curl -si ${u}/v2/models/iris/infer -H 'x-client-lat: 48.86' -H 'x-client-lon: 2.35' \\
    -d '{"inputs":[{"name":"measurements","datatype":"FP32","shape":[1,4],"data":[5.1,3.5,1.4,0.2]}]}'
  curl -si '${u}/v1/predict/iris?lat=-33.87&lon=151.21' -d '{"instances":[[5.1,3.5,1.4,0.2]]}'
  curl -s -X POST ${u}/_mesh/down/${mesh.pops[0]!.colo}     (and /_mesh/up/${mesh.pops[0]!.colo}; GET ${u}/_mesh for state)
Ctrl-C stops everything.
`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();

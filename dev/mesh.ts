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
//   POST /_mesh/fault/<colo> {"mode":"error"|"hang"|"slow"|"reset", "status"?, "delayMs"?, "path"?, "from"?}
//        DELETE /_mesh/fault/<colo>              a fault on PoP→PoP traffic relayed to that PoP
//                                               (health probes too; see MeshFault), like toxiproxy
//   GET  /_mesh/relayed (DELETE clears)          what the relay carried, and what became of it
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
  /** Sets (or, with undefined, clears) the fault the relay applies to traffic relayed to `colo`. */
  setFault(colo: string, fault: MeshFault | undefined): void;
  /** What the relay has carried since the last clearRelayed(), oldest first. */
  relayed(): RelayRecord[];
  clearRelayed(): void;
  /** Stops one PoP's wrangler/workerd (its state is kept); the relay then refuses traffic to it. */
  stopPop(colo: string): Promise<void>;
  /** Starts a stopped PoP again on the same port and state, with `vars` on top of its own. */
  startPop(colo: string, opts?: { vars?: Record<string, string> }): Promise<MeshPop>;
  stop(): Promise<void>;
}

/**
 * A fault the relay injects into PoP→PoP traffic to one PoP (like a toxiproxy toxic), health
 * probes included: `error` answers `status` (default 500) without reaching the PoP, `hang` never
 * answers (until the caller gives up), `slow` passes the request on after `delayMs` more,
 * `reset` drops the connection without an answer. `path` (a prefix, e.g. "/v2/health/ready" or
 * "/v2/models/") and `from` (a colo) narrow what it applies to.
 */
export interface MeshFault {
  mode: "error" | "hang" | "slow" | "reset";
  status?: number;
  delayMs?: number;
  path?: string;
  from?: string;
}

/** One request the relay carried (or refused, or faulted). */
export interface RelayRecord {
  seq: number;
  from: string;
  to: string;
  method: string;
  /** Path and query on the PoP. */
  path: string;
  /** A health probe (x-meridian-probe), not client traffic. */
  probe: boolean;
  /** The x-meridian-hop header: the PoP that forwarded it. */
  hop: string | null;
  fault: MeshFault["mode"] | null;
  /** Epoch ms when the relay received it. */
  at: number;
  /** answered (by the PoP or by an error fault), hung (the caller gave up), reset, down (PoP marked down or stopped), abandoned (the caller left during a slow fault), failed (the PoP could not be reached). */
  outcome: "pending" | "answered" | "hung" | "reset" | "down" | "abandoned" | "failed";
  status: number | null;
  /** Received to answered, or to the caller giving up (ms). */
  ms: number | null;
}

const FAULT_MODES: ReadonlyArray<MeshFault["mode"]> = ["error", "hang", "slow", "reset"];

/** A fault from a /_mesh/fault request body; throws a RangeError naming what is wrong. */
export function parseFault(value: unknown): MeshFault {
  const v = (value ?? {}) as Record<string, unknown>;
  if (typeof v !== "object" || !FAULT_MODES.includes(v.mode as MeshFault["mode"])) throw new RangeError(`fault mode must be one of ${FAULT_MODES.join(", ")}`);
  const fault: MeshFault = { mode: v.mode as MeshFault["mode"] };
  if (v.status !== undefined) {
    if (!Number.isInteger(v.status) || (v.status as number) < 200 || (v.status as number) > 599) throw new RangeError("fault status must be an HTTP status (200-599)");
    fault.status = v.status as number;
  }
  if (v.delayMs !== undefined) {
    if (typeof v.delayMs !== "number" || !Number.isFinite(v.delayMs) || v.delayMs < 0) throw new RangeError("fault delayMs must be a number >= 0");
    fault.delayMs = v.delayMs;
  }
  if (fault.mode === "slow" && fault.delayMs === undefined) throw new RangeError("a slow fault needs delayMs");
  if (v.path !== undefined) {
    if (typeof v.path !== "string" || !v.path.startsWith("/")) throw new RangeError("fault path must be a path prefix starting with /");
    fault.path = v.path;
  }
  if (v.from !== undefined) {
    if (typeof v.from !== "string" || !v.from) throw new RangeError("fault from must be a colo");
    fault.from = v.from.toUpperCase();
  }
  return fault;
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
  /** Faults on traffic relayed to a PoP, by colo. */
  faults: Map<string, MeshFault>;
  relayed: RelayRecord[];
}

function frontDoor(pops: MeshPop[], inflation: number): FrontDoor {
  const byColo = new Map(pops.map((p) => [p.colo, p]));
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const faults = new Map<string, MeshFault>();
  const relayed: RelayRecord[] = [];
  let relaySeq = 0;
  const status = () => ({
    inflation,
    faults: Object.fromEntries(faults),
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

    // POST /_mesh/fault/<colo> {"mode": ...} injects a fault into traffic relayed to that PoP; DELETE clears it.
    const faultRoute = /^\/_mesh\/fault\/([A-Za-z]+)\/?$/.exec(url.pathname);
    if (faultRoute) {
      const colo = faultRoute[1]!.toUpperCase();
      if (!byColo.has(colo)) return json(res, 404, { error: `no PoP ${faultRoute[1]} in this mesh (${[...byColo.keys()].join(", ")})` });
      if (method === "DELETE") {
        faults.delete(colo);
        return json(res, 200, status());
      }
      if (method !== "POST") return json(res, 405, { error: "use POST or DELETE" }, { allow: "POST, DELETE" });
      try {
        faults.set(colo, parseFault(JSON.parse((await readBody(req)).toString() || "{}")));
      } catch (err) {
        return json(res, 400, { error: err instanceof Error ? err.message : String(err) });
      }
      return json(res, 200, status());
    }

    // GET /_mesh/relayed: what the relay carried (DELETE clears the record).
    if (url.pathname === "/_mesh/relayed") {
      if (method === "DELETE") relayed.length = 0;
      else if (method !== "GET") return json(res, 405, { error: "use GET or DELETE" }, { allow: "GET, DELETE" });
      return json(res, 200, { relayed });
    }

    // PoP → PoP (a PoP's failover forwarding): the PoP→PoP delay, and nothing reaches a PoP marked down.
    const relay = /^\/_mesh\/relay\/([A-Za-z]+)\/([A-Za-z]+)(\/.*)$/.exec(url.pathname);
    if (relay) {
      const from = popByCode(relay[1]!);
      const to = byColo.get(relay[2]!.toUpperCase());
      if (!from) return json(res, 400, { error: `relay: ${relay[1]} is not a catalogue PoP` });
      const t0 = performance.now();
      const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0]! : (v ?? null));
      const path = relay[3]! + url.search;
      const fault = to && faults.get(to.colo);
      const applies = fault && (!fault.path || relay[3]!.startsWith(fault.path)) && (!fault.from || fault.from === from.code) ? fault : undefined;
      const record: RelayRecord = {
        seq: ++relaySeq,
        from: from.code,
        to: to?.colo ?? relay[2]!.toUpperCase(),
        method,
        path,
        probe: req.headers["x-meridian-probe"] !== undefined,
        hop: one(req.headers["x-meridian-hop"]),
        fault: applies?.mode ?? null,
        at: Date.now(),
        outcome: "pending",
        status: null,
        ms: null,
      };
      relayed.push(record);
      const done = (outcome: RelayRecord["outcome"], status: number | null = null) => {
        record.outcome = outcome;
        record.status = status;
        record.ms = performance.now() - t0;
      };
      if (!to || to.down || !to.alive) {
        done("down", 503);
        return json(res, 503, { error: `relay: PoP ${relay[2]} is ${to ? "down" : "not in this mesh"}` }, { "retry-after": "5" });
      }
      // Settles when the caller goes away (gave up, or the answer was sent).
      const closed = new Promise<void>((r) => res.once("close", () => r()));
      let gone = false;
      void closed.then(() => (gone = true));
      const body = await readBody(req);
      const rtt = fibreRttMs(haversineKm(from, to.pop), inflation);
      if (simulate) await delay(rtt / 2);
      if (applies?.mode === "reset") {
        done("reset");
        const socket = req.socket as typeof req.socket & { resetAndDestroy?: () => void };
        return void (socket.resetAndDestroy ? socket.resetAndDestroy() : socket.destroy());
      }
      if (applies?.mode === "hang") {
        // Never answers: holds the request until the caller gives up (or the mesh stops).
        await closed;
        return done("hung");
      }
      if (applies?.mode === "slow") {
        // Not passed on if the caller gives up meanwhile (it never got through).
        await Promise.race([delay(applies.delayMs ?? 0), closed]);
        if (gone) return done("abandoned");
      }
      if (applies?.mode === "error") {
        const status = applies.status ?? 500;
        if (simulate) await delay(rtt / 2);
        done("answered", status);
        return json(res, status, { error: `mesh fault: relay to ${to.colo} answers ${status}` }, { "x-mesh-fault": "error", "x-meridian-relay-rtt-ms": rtt.toFixed(1) });
      }
      let up: Upstream;
      try {
        up = await send(agent, to.url, path, method, req.headers, body);
      } catch (err) {
        done("failed");
        throw err;
      }
      if (simulate) await delay(rtt / 2);
      done("answered", up.status);
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
  return { server, agent, faults, relayed };
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
  writeFileSync(file, `# Generated by dev/mesh.ts from ${join(ROOT, "wrangler.toml")}\n${text}\n[dev]\ninspector_port = ${inspectorPort}\n`);
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
  // The front door's port is held until the front door listens on it: the PoPs' wrangler and
  // workerd bind ephemeral ports of their own during the 10-20 s of startup, and one of them took
  // a port chosen but not yet bound (seen: EADDRINUSE once every PoP was up).
  const holdFront = createServer();
  await new Promise<void>((resolve, reject) => {
    holdFront.once("error", reject);
    holdFront.listen(frontPort, "127.0.0.1", () => resolve());
  });
  holdFront.unref();
  const releaseFront = () => new Promise<void>((r) => (holdFront.listening ? holdFront.close(() => r()) : r()));
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

  // Started PoPs. One this process exits (or dies) without stopping is stopped by its reaper
  // (startDev runs wrangler under dev/reaper.mjs), so no exit hook is needed.
  const running: DevServer[] = [];
  const cleanup = async () => {
    await releaseFront();
    await Promise.all(running.map((s) => s.stop()));
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
        signal: opts.signal, // a stop signal during startup ends the PoPs still starting at once
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
    await releaseFront();
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

  // Stopping and starting one PoP (its state dir, port and vars stay those it started with).
  const servers = new Map(starts.map((s, i) => [colos[i]!, (s as PromiseFulfilledResult<{ server: DevServer }>).value.server]));
  const popOf = (colo: string) => {
    const pop = byColo.get(colo.toUpperCase());
    if (!pop) throw new Error(`no PoP ${colo} in this mesh`);
    return pop;
  };
  const stopPop = async (colo: string) => {
    const pop = popOf(colo);
    // Resolves once wrangler's whole process group (its workerd too) is gone: a second workerd on
    // the same state dir misbehaves, and startPop reuses the port.
    await servers.get(pop.colo)!.stop();
    pop.alive = false;
  };
  const startPop = async (colo: string, o: { vars?: Record<string, string> } = {}) => {
    const pop = popOf(colo);
    if (stopping) throw new Error("the mesh is stopping");
    if (pop.alive) throw new Error(`PoP ${pop.colo} is running: stopPop first`);
    const i = colos.indexOf(pop.colo);
    const dir = join(stateRoot, pop.colo);
    const t = performance.now();
    const server = await startDev({
      port: ports[i],
      stateDir: join(dir, "state"),
      config: popConfig(dir, inspectorPorts[i]!),
      // The vars it started with (as above), then the overrides.
      vars: { ...credentialVars(credentials), ...opts.vars, ...opts.popVars?.[pop.colo], POP_COLO: pop.colo, PEERS: peersFor(i), ...o.vars },
      timeoutMs: opts.startTimeoutMs ?? 240_000,
    });
    running.push(server);
    servers.set(pop.colo, server);
    server.process.once("exit", (code) => {
      if (servers.get(pop.colo) !== server) return;
      pop.alive = false;
      if (!stopping) log(`PoP ${pop.colo} exited (${code}); routing around it`);
    });
    Object.assign(pop, { url: server.url, readyMs: server.readyMs, startMs: performance.now() - t, alive: true });
    log(`  ${pop.colo} restarted on ${server.url} in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    return pop;
  };

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
    setFault(colo, fault) {
      const pop = popOf(colo);
      if (fault) door.faults.set(pop.colo, parseFault(fault));
      else door.faults.delete(pop.colo);
    },
    relayed: () => door.relayed.map((r) => ({ ...r })),
    clearRelayed: () => void (door.relayed.length = 0),
    stopPop,
    startPop,
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
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
      // A second Ctrl-C quits at once (the PoPs' reapers still stop them); one delivered twice
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

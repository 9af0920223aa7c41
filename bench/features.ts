// `npm run bench:features`: what online features cost a prediction, how fast rows go in, and how
// far bounded copies trail.
//
// Two local PoPs, FRA (weur) and SIN (apac), share one set of Durable Objects, D1, KV and R2
// (dev/fleet.ts: separate Workers in ONE programmatic Miniflare). Every entity is written through
// FRA, so its home is weur; a caller at SIN is a traveller. Three models share one graph: plain
// (no views), strong (a strong view) and bounded (a bounded view, FEATURES_BOUND_MS).
//
// MEASURED, here: service time of predictions (interleaved rounds, closed loop, one request at a
// time per case, cycling over a warmed hot set of entities), ingestion rows/s (new entities, then the same entities again), prediction p99
// while ingestion runs beside it, the offline log folded as of now (as `features export` does), and the age of the bounded copies served (the replication lag
// the caller sees) against the bound, with how often a bounded read had to go home.
// MODELLED: all Durable Objects are in one process here, so the hop to a home shard in another
// region costs nothing locally. The "modelled" columns add the fibre round trip (great circle ×
// 2.1 / 200 km/ms, shared/geo.ts) from the PoP to the region hub of each Durable Object a request
// calls on its path (home shard; replica, and home again for a copy past its bound).
//
// Options (environment): FEATURES_ENTITIES=2000, FEATURES_REQUESTS=300 (per case and round),
// FEATURES_ROUNDS=3, FEATURES_BOUND_MS=1000, FEATURES_BATCH=500. Writes features.json
// (bench/results/, or BENCH_RESULTS_DIR).
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { foldLog } from "../shared/feature-history";
import type { FeatureBinding } from "../shared/features";
import { fibreRttMs, haversineKm } from "../shared/geo";
import { encodeModel, floatTensor, graph, node, attr, valueInfo } from "../shared/onnx/build";
import { manifestFor } from "../shared/onnx/manifest";
import { popByCode, regionPop, type RegionHint } from "../shared/pops";
import { ROOT } from "../dev/local";
import { bundleWorker, startFleet, type Fleet } from "../dev/fleet";
import { runUnderReaper } from "../dev/supervise";
import { contention, describeContention, envNumber, resultsDir } from "./host";
import { pcts, rounded, table, type Pcts } from "./lib";

await runUnderReaper();

const ENTITIES = envNumber("FEATURES_ENTITIES", 2000);
const REQUESTS = envNumber("FEATURES_REQUESTS", 300);
const ROUNDS = envNumber("FEATURES_ROUNDS", 3);
const BOUND_MS = envNumber("FEATURES_BOUND_MS", 1000);
const BATCH = envNumber("FEATURES_BATCH", 500);
/** Latency cases cycle over this many entities (all warmed first): the steady state of a hot set. */
const HOT = Math.min(100, ENTITIES);
const OUT = join(resultsDir(ROOT), "features.json");
const log = (line: string) => process.stderr.write(`${line}\n`);

const model = () =>
  encodeModel(
    graph({
      name: "scorer",
      nodes: [node("Concat", ["item", "user"], ["x"], { axis: attr.int(1) }), node("MatMul", ["x", "w"], ["y"])],
      inputs: [valueInfo("item", "FP32", [-1, 2]), valueInfo("user", "FP32", [-1, 4])],
      outputs: [valueInfo("y", "FP32", [-1, 2])],
      initializers: [floatTensor("w", [6, 2], [0.5, -1, 2, 0.25, -0.75, 1.5, 1, 3, -2, 0.5, 0.125, -4])],
    }),
  );
const view = (name: string, consistency: "strong" | "bounded"): FeatureBinding => ({
  name,
  entity: "user",
  consistency,
  ...(consistency === "bounded" ? { maxStalenessMs: BOUND_MS } : {}),
  features: [{ name: "vec", datatype: "FP32", shape: [4] }],
  input: "user",
});

const entity = (i: number) => `bench-user-${i}`;
const rowsFor = (t: number) => Array.from({ length: ENTITIES }, (_, i) => ({ entity_id: entity(i), values: { vec: [i % 7, 1, -1, (i % 3) / 2] }, event_time: t }));

async function ingest(fleet: Fleet, viewName: string, rows: unknown[]): Promise<{ rows: number; seconds: number; rowsPerSecond: number; rejected: number }> {
  const t0 = performance.now();
  let rejected = 0;
  for (let i = 0; i < rows.length; i += BATCH) rejected += (await fleet.admin.putFeatures(viewName, rows.slice(i, i + BATCH))).rejected.length;
  const seconds = (performance.now() - t0) / 1000;
  return { rows: rows.length, seconds: rounded(seconds, 3), rowsPerSecond: Math.round(rows.length / seconds), rejected };
}

interface Case {
  name: string;
  colo: "FRA" | "SIN";
  model: "bench-plain" | "bench-strong" | "bench-bounded";
  /** x-user-id (the caller is the entity), parameters.entity_id (anonymous), or neither. */
  entityBy: "header" | "parameter" | "none";
}
const CASES: Case[] = [
  { name: "plain, anonymous", colo: "FRA", model: "bench-plain", entityBy: "none" },
  { name: "plain, counted (x-user-id) at home", colo: "FRA", model: "bench-plain", entityBy: "header" },
  { name: "strong, x-user-id at home", colo: "FRA", model: "bench-strong", entityBy: "header" },
  { name: "plain, counted (x-user-id) travelling", colo: "SIN", model: "bench-plain", entityBy: "header" },
  { name: "strong, x-user-id travelling", colo: "SIN", model: "bench-strong", entityBy: "header" },
  { name: "strong, entity_id from abroad", colo: "SIN", model: "bench-strong", entityBy: "parameter" },
  { name: "bounded, entity_id from abroad", colo: "SIN", model: "bench-bounded", entityBy: "parameter" },
  { name: "bounded, entity_id at home", colo: "FRA", model: "bench-bounded", entityBy: "parameter" },
];

interface Sample {
  ms: number;
  consistency?: string;
  ageMs?: number;
}

async function predict(url: string, c: Case, i: number): Promise<Sample> {
  const who = entity(i % HOT);
  const body: Record<string, unknown> = { inputs: [{ name: "item", datatype: "FP32", shape: [1, 2], data: [1, 2] }] };
  if (c.entityBy === "parameter") body.parameters = { entity_id: who };
  if (c.model === "bench-plain") (body.inputs as unknown[]).push({ name: "user", datatype: "FP32", shape: [1, 4], data: [1, 1, -1, 0.5] });
  const t0 = performance.now();
  const res = await fetch(`${url}/v2/models/${c.model}/infer`, { method: "POST", headers: { "content-type": "application/json", ...(c.entityBy === "header" ? { "x-user-id": who } : {}) }, body: JSON.stringify(body) });
  const answer = (await res.json()) as { parameters?: { feature_consistency?: string; feature_age_ms?: number }; error?: string };
  const ms = performance.now() - t0;
  if (res.status !== 200) throw new Error(`${c.name}: ${res.status} ${answer.error}`);
  return { ms, consistency: answer.parameters?.feature_consistency, ageMs: answer.parameters?.feature_age_ms };
}

/** The modelled network: a fibre round trip from the PoP to each region hub a request calls. */
function hopMs(colo: string, region: RegionHint): number {
  return fibreRttMs(haversineKm(popByCode(colo)!, regionPop(region)));
}
function modelledExtraMs(c: Case, s: Sample): number {
  if (c.entityBy === "none") return 0;
  if (c.model === "bench-bounded" && c.colo === "SIN") {
    // The replica is in the PoP's region; a copy past its bound also costs the replica's hop home.
    return hopMs(c.colo, "apac") + (s.consistency === "strong" ? fibreRttMs(haversineKm(regionPop("apac"), regionPop("weur"))) : 0);
  }
  return hopMs(c.colo, "weur");
}

async function main(): Promise<void> {
  const before = await contention();
  log(`bench:features: ${ENTITIES} entities, ${REQUESTS} requests × ${ROUNDS} rounds per case, bound ${BOUND_MS} ms; ${describeContention(before)}`);
  const bundle = await bundleWorker();
  const fleet = await startFleet(bundle, { colos: ["FRA", "SIN"], vars: { RATE_LIMIT_PER_MINUTE: "0", METRICS_ENABLED: "false", POINTER_TTL_MS: "60000" }, log });
  try {
    const url = Object.fromEntries(fleet.pops.map((p) => [p.colo, p.url])) as Record<"FRA" | "SIN", string>;
    const bytes = model();
    for (const [name, features] of [["bench-plain", undefined], ["bench-strong", [view("bench_strong", "strong")]], ["bench-bounded", [view("bench_bounded", "bounded")]]] as const) {
      const m = await manifestFor(bytes, { name, version: 1, quantization: "none", ...(features ? { features: [...features] } : {}) });
      await fleet.admin.publish(m, bytes, fleet.privateKey, { promote: true });
    }

    // ---------- ingestion ----------
    const t = Date.now() - 1000;
    const ingestion = {
      newEntities: await ingest(fleet, "bench_strong", rowsFor(t)),
      knownEntities: await ingest(fleet, "bench_bounded", rowsFor(t)),
      replay: await ingest(fleet, "bench_strong", rowsFor(t)),
    };
    log(table(["ingestion (MEASURED, through FRA)", "rows", "s", "rows/s", "refused"], Object.entries(ingestion).map(([k, v]) => [k, v.rows, v.seconds, v.rowsPerSecond, v.rejected])));

    // ---------- export: the offline log folded as of now (what `meridian features export` does) ----------
    const e0 = performance.now();
    const fold = await foldLog(fleet.admin.featureLog("bench_strong"), Date.now());
    const exportSeconds = (performance.now() - e0) / 1000;
    const exported = { rows: fold.counts.rows, entities: fold.size, seconds: rounded(exportSeconds, 3), rowsPerSecond: Math.round(fold.counts.rows / exportSeconds) };
    log(table(["export as of now (MEASURED, log of bench_strong)", "rows folded", "entities", "s", "rows/s"], [[exported.rows, exported.entities, exported.seconds, exported.rowsPerSecond]]));

    // ---------- latency: interleaved rounds ----------
    const samples = new Map<string, Sample[]>(CASES.map((c) => [c.name, []]));
    for (const c of CASES) for (let i = 0; i < HOT; i++) await predict(url[c.colo], c, i); // warm: sessions, home caches, copies
    for (let round = 0; round < ROUNDS; round++) {
      for (const c of CASES) {
        const out = samples.get(c.name)!;
        for (let i = 0; i < REQUESTS; i++) out.push(await predict(url[c.colo], c, round * REQUESTS + i));
      }
      log(`  round ${round + 1}/${ROUNDS} done`);
    }
    const latency = CASES.map((c) => {
      const s = samples.get(c.name)!;
      const measured = pcts(s.map((x) => x.ms));
      const modelled = pcts(s.map((x) => x.ms + modelledExtraMs(c, x)));
      const bounded = s.filter((x) => x.consistency === "bounded");
      return { case: c.name, colo: c.colo, model: c.model, entityBy: c.entityBy, n: s.length, measuredMs: rounded(measured, 3), modelledMs: rounded(modelled, 4), fromReplica: bounded.length };
    });
    const base = (name: string) => latency.find((l) => l.case === name)!.measuredMs;
    const added = (name: string, over: string): Pcts => {
      const a = latency.find((l) => l.case === name)!.measuredMs;
      const b = base(over);
      return rounded({ p50: a.p50 - b.p50, p95: a.p95 - b.p95, p99: a.p99 - b.p99 }, 3);
    };
    log(table(["case", "PoP", "MEASURED p50 ms", "p99", "MODELLED p50 ms", "p99", "from replica"], latency.map((l) => [l.case, l.colo, l.measuredMs.p50, l.measuredMs.p99, l.modelledMs.p50, l.modelledMs.p99, l.entityBy === "parameter" && l.model === "bench-bounded" ? `${l.fromReplica}/${l.n}` : ""])));
    const featureRead = {
      atHome: added("strong, x-user-id at home", "plain, counted (x-user-id) at home"),
      travelling: added("strong, x-user-id travelling", "plain, counted (x-user-id) travelling"),
    };
    log(`feature read added to a counted prediction (MEASURED, p50/p99 ms): at home ${featureRead.atHome.p50}/${featureRead.atHome.p99}, travelling ${featureRead.travelling.p50}/${featureRead.travelling.p99}`);

    // ---------- replication lag of bounded copies ----------
    const lagCase = CASES.find((c) => c.name === "bounded, entity_id from abroad")!;
    const lag: Sample[] = [];
    const hot = HOT;
    const tLag = performance.now();
    while (performance.now() - tLag < Math.max(5000, 5 * BOUND_MS)) lag.push(await predict(url.SIN, lagCase, lag.length % hot));
    const ages = lag.filter((s) => s.consistency === "bounded").map((s) => s.ageMs ?? 0);
    const replication = { boundMs: BOUND_MS, reads: lag.length, fromReplica: ages.length, wentHome: lag.length - ages.length, ageMs: rounded(pcts(ages), 1), maxAgeMs: Math.max(...ages), overBound: ages.filter((a) => a > BOUND_MS).length };
    log(`bounded copies (MEASURED, ${hot} hot entities read at SIN for ${Math.round(performance.now() - tLag)} ms): ${ages.length}/${lag.length} from the replica, age p50 ${replication.ageMs.p50} p99 ${replication.ageMs.p99} max ${replication.maxAgeMs} ms against the bound ${BOUND_MS}; over the bound: ${replication.overBound}`);

    // ---------- prediction p99 while ingestion runs ----------
    const quietCase = CASES.find((c) => c.name === "strong, x-user-id at home")!;
    const quiet: number[] = [];
    for (let i = 0; i < REQUESTS; i++) quiet.push((await predict(url.FRA, quietCase, i)).ms);
    let writing = true;
    const writer = (async () => {
      let rows = 0;
      const t0 = performance.now();
      while (writing) rows += (await fleet.admin.putFeatures("bench_strong", rowsFor(Date.now() - 10).slice(0, BATCH))).accepted;
      return { rows, rowsPerSecond: Math.round(rows / ((performance.now() - t0) / 1000)) };
    })();
    const busy: number[] = [];
    for (let i = 0; i < REQUESTS; i++) busy.push((await predict(url.FRA, quietCase, i)).ms);
    writing = false;
    const during = await writer;
    const underIngestion = { quietMs: rounded(pcts(quiet), 3), duringIngestionMs: rounded(pcts(busy), 3), ingestion: during };
    log(`strong prediction at home (MEASURED): p50/p99 ${underIngestion.quietMs.p50}/${underIngestion.quietMs.p99} ms quiet, ${underIngestion.duringIngestionMs.p50}/${underIngestion.duringIngestionMs.p99} ms while ${during.rowsPerSecond} rows/s go in`);

    const after = await contention();
    await mkdir(resultsDir(ROOT), { recursive: true });
    await writeFile(
      OUT,
      `${JSON.stringify(
        {
          generatedAt: new Date().toISOString(),
          options: { entities: ENTITIES, requests: REQUESTS, rounds: ROUNDS, boundMs: BOUND_MS, batch: BATCH },
          contention: { before, after },
          notes: [
            "MEASURED: one Miniflare, FRA and SIN Workers sharing Durable Objects; service times only (no network between PoPs and Durable Objects).",
            "MODELLED: measured + fibre RTT (great circle × 2.1 / 200 km/ms) from the PoP to the region hub of each Durable Object on the request's path.",
          ],
          ingestion,
          exported,
          latency,
          featureRead,
          replication,
          underIngestion,
        },
        null,
        2,
      )}\n`,
    );
    log(`wrote ${OUT}`);
  } finally {
    await fleet.stop();
  }
}

await main();

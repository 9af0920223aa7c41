// `npm run versus:edge [rev] [model] [json|binary] [rounds] [seconds]`: a change's effect on the
// Worker's CPU per prediction, measured against another revision (default HEAD) in the same run.
// Each side is a frozen copy (test/fuzz/snapshot: the working tree, or the revision) under its own
// `wrangler dev`; per round, both sides' floor (GET /v2/health/live) and one prediction cell get
// closed-loop autocannon load in turn (order alternating), and the Worker's workerd CPU per answer
// is read as bench:dataplane does (the model published without serving settings: no batching or
// cache, as bench:dataplane's section 1). Prints per round and the medians: CPU above the floor, the ratio,
// and the paired difference (working tree − rev) of the CPU above the floor. An A/A run (HEAD against
// an unchanged tree, 4 rounds) gave a paired difference of 36 (−12 to 40) µs on a 2-core machine:
// smaller differences are noise (more rounds narrow it).
// VERSUS_LOOP=n: in-isolate mode. Each side runs LOOP_ENTRY around its Worker, and a cell is one
// request that has the Worker's fetch answer the floor or the prediction n times in a row inside
// the isolate; CPU per call is the workerd's CPU over it divided by n. No HTTP
// layers around the Worker, but what the Worker does per request outside its fetch (body streams
// from the socket) is not in it, and the ratio to the floor means nothing there (not printed).
// Nothing is written: it is a tool for a change in progress, not a benchmark of record.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type * as Local from "../../dev/local";
import { buildFixtureModels } from "../../dev/samples/index";
import { AdminClient } from "../../shared/admin-client";
import { snapshot as frozenCopy, type Snapshot } from "../../test/fuzz/snapshot";
import { devConfig, envNumber } from "../host";
import { fmt, fmtSpread, spread, table } from "../lib";
import { closedLoop, type HttpRequest } from "./load";
import { fixtureBytes, inferRequest, publish, sampleRow } from "./models";
import { cpuMs, devProcesses, type DevProcesses } from "./proc";

const log = (line: string) => process.stderr.write(`${line}\n`);

const loopN = Math.round(envNumber("VERSUS_LOOP", 0));

/**
 * The Worker, plus /__loop?n=&path=: the request it was sent, answered n times in a row by the
 * Worker's own fetch inside the isolate. Written next to edge/index.ts in each frozen copy.
 */
const LOOP_ENTRY = `import worker from "./index";
export * from "./index";
export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname !== "/__loop") return worker.fetch(request, env, ctx);
    const n = Number(url.searchParams.get("n"));
    const body = request.method === "POST" ? await request.arrayBuffer() : null;
    const headers = [...request.headers].filter(([k]) => k === "content-type" || k === "content-length" || k.startsWith("inference-header"));
    const statuses = new Set();
    for (let i = 0; i < n; i++) {
      const answer = await worker.fetch(new Request(new URL(url.searchParams.get("path"), url), body === null ? {} : { method: "POST", body, headers }), env, ctx);
      await answer.arrayBuffer();
      statuses.add(answer.status);
    }
    return Response.json({ n, statuses: [...statuses] });
  },
};
`;

/** Worker CPU per call (µs) of n calls of `req` inside the isolate (loop-entry.ts). */
async function inIsolate(url: string, worker: number, req: HttpRequest, n: number): Promise<number> {
  const t0 = await cpuMs(worker);
  const answer = await fetch(`${url}/__loop?n=${n}&path=${encodeURIComponent(req.path)}`, { method: req.method, headers: req.headers, body: req.body && new Uint8Array(req.body) });
  const { statuses } = (await answer.json()) as { statuses: number[] };
  if (!answer.ok || statuses.some((s) => s !== 200)) throw new Error(`${req.method} ${req.path} in a loop answered ${answer.status}, inside ${statuses.join(", ")}`);
  return (((await cpuMs(worker)) - t0) * 1000) / n;
}

async function main(): Promise<void> {
  const [rev = "HEAD", model = "iris", encoding = "json", roundsArg = "4", secondsArg = "4"] = process.argv.slice(2);
  const rounds = Number(roundsArg);
  const seconds = Number(secondsArg);
  if (encoding !== "json" && encoding !== "binary") throw new Error(`encoding "${encoding}": expected json or binary`);
  if (!Number.isInteger(rounds) || rounds < 1 || !(seconds > 0)) throw new Error(`rounds "${roundsArg}" and seconds "${secondsArg}": expected a positive integer and a positive number`);
  const fixture = (await buildFixtureModels()).find((m) => m.manifest.name === model);
  if (!fixture) throw new Error(`no sample model ${model}`);
  const cells: Record<string, HttpRequest> = { floor: { method: "GET", path: "/v2/health/live" }, predict: inferRequest(model, [sampleRow(model, fixture.manifest.inputs[0]!)], encoding === "binary" ? "binary" : "json") };

  const tmp = await mkdtemp(join(tmpdir(), "meridian-versus-"));
  const copies: Snapshot[] = [];
  const servers: Array<{ stop(): Promise<void> }> = [];
  const stop = async () => {
    for (const s of servers.splice(0)) await s.stop();
    for (const c of copies.splice(0)) c.remove();
    await rm(tmp, { recursive: true, force: true });
  };
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(sig, () => void stop().then(() => process.exit(130)));
  try {
    const sides: Array<{ name: string; url: string; procs: DevProcesses }> = [];
    for (const [name, source] of [[rev, rev], ["working tree", null]] as const) {
      const code = frozenCopy(source);
      copies.push(code);
      const local = await code.load<typeof Local>("dev/local.ts");
      const dir = join(tmp, String(sides.length));
      const credentials = await local.devCredentials(join(dir, "credentials"));
      await local.migrate(join(dir, "state"));
      let main: string | undefined;
      if (loopN) {
        main = join(code.root, "edge", "loop-entry.ts");
        await writeFile(main, LOOP_ENTRY);
      }
      const config = await devConfig(join(code.root, "wrangler.toml"), join(dir, "config"), { main, inspectorPort: await local.freePort() });
      const server = await local.startDev({ stateDir: join(dir, "state"), vars: local.credentialVars(credentials), quiet: true, config });
      servers.push(server);
      const admin = new AdminClient(server.url, credentials.adminToken, { actor: "versus" });
      await publish(admin, credentials.privateKey, fixtureBytes(fixture), fixture.manifest, model, undefined, { promote: true });
      sides.push({ name: source === null ? name : `${name} (${code.source.slice(0, 12)})`, url: server.url, procs: await devProcesses(server.process.pid!) });
    }
    /** Worker CPU per answer (µs) of one cell; a warm-up is a shorter run whose figure is dropped. */
    const measure = async (side: (typeof sides)[number], cell: string, req: HttpRequest, warmUp = false): Promise<number> => {
      if (loopN) return inIsolate(side.url, side.procs.worker, req, warmUp ? Math.ceil(loopN / 4) : loopN);
      const run = await closedLoop(side.url, side.procs, req, { connections: 4, durationS: warmUp ? 2 : seconds });
      if (run.non2xx + run.errors + run.timeouts) throw new Error(`${side.name} ${cell}: ${run.non2xx} not 2xx, ${run.errors} errors ${JSON.stringify(run.errorBodies)}`);
      return run.workerCpuMsPerReq * 1000;
    };
    for (const s of sides) for (const [cell, req] of Object.entries(cells)) await measure(s, cell, req, true);
    const cpu = sides.map(() => ({ floor: [] as number[], predict: [] as number[] }));
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? [0, 1] : [1, 0];
      for (const i of order) {
        for (const [cell, req] of Object.entries(cells) as Array<[keyof (typeof cpu)[number], HttpRequest]>) {
          cpu[i]![cell].push(await measure(sides[i]!, cell, req));
        }
      }
      log(`round ${r + 1}/${rounds}: ${sides.map((s, i) => `${s.name}: floor ${fmt(cpu[i]!.floor[r]!)} µs, ${model} ${encoding} ${fmt(cpu[i]!.predict[r]!)} µs`).join(" | ")}`);
    }
    const above = cpu.map((c) => c.predict.map((p, r) => p - c.floor[r]!));
    const ratio = cpu.map((c) => c.predict.map((p, r) => p / c.floor[r]!));
    const how = loopN ? `in-isolate loops of ${loopN} calls` : `${seconds} s; 4 connections`;
    console.log(`Worker CPU per request (µs, median (min–max) over ${rounds} rounds of ${how}): ${model} ${encoding} against the floor`);
    console.log(
      table(
        ["code", "floor µs", "prediction µs", "above floor µs", ...(loopN ? [] : ["× floor"])],
        sides.map((s, i) => [s.name, fmtSpread(spread(cpu[i]!.floor)), fmtSpread(spread(cpu[i]!.predict)), fmtSpread(spread(above[i]!)), ...(loopN ? [] : [fmtSpread(spread(ratio[i]!))])]),
      ),
    );
    const paired = above[1]!.map((b, r) => b - above[0]![r]!);
    console.log(`working tree − ${rev}, CPU above the floor, paired by round: ${fmtSpread(spread(paired))} µs`);
  } finally {
    await stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});

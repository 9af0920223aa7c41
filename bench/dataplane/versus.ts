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
// Nothing is written: it is a tool for a change in progress, not a benchmark of record.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type * as Local from "../../dev/local";
import { buildFixtureModels } from "../../dev/samples/index";
import { AdminClient } from "../../shared/admin-client";
import { snapshot as frozenCopy, type Snapshot } from "../../test/fuzz/snapshot";
import { devConfig } from "../host";
import { fmt, fmtSpread, spread, table } from "../lib";
import { closedLoop, type HttpRequest } from "./load";
import { fixtureBytes, inferRequest, publish, sampleRow } from "./models";
import { devProcesses, type DevProcesses } from "./proc";

const log = (line: string) => process.stderr.write(`${line}\n`);

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
      const config = await devConfig(join(code.root, "wrangler.toml"), join(dir, "config"), { inspectorPort: await local.freePort() });
      const server = await local.startDev({ stateDir: join(dir, "state"), vars: local.credentialVars(credentials), quiet: true, config });
      servers.push(server);
      const admin = new AdminClient(server.url, credentials.adminToken, { actor: "versus" });
      await publish(admin, credentials.privateKey, fixtureBytes(fixture), fixture.manifest, model, undefined, { promote: true });
      sides.push({ name: source === null ? name : `${name} (${code.source.slice(0, 12)})`, url: server.url, procs: await devProcesses(server.process.pid!) });
    }
    for (const s of sides) for (const c of Object.values(cells)) await closedLoop(s.url, s.procs, c, { connections: 4, durationS: 2 }); // warm-up
    const cpu = sides.map(() => ({ floor: [] as number[], predict: [] as number[] }));
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? [0, 1] : [1, 0];
      for (const i of order) {
        for (const [cell, req] of Object.entries(cells) as Array<[keyof (typeof cpu)[number], HttpRequest]>) {
          const run = await closedLoop(sides[i]!.url, sides[i]!.procs, req, { connections: 4, durationS: seconds });
          if (run.non2xx + run.errors + run.timeouts) throw new Error(`${sides[i]!.name} ${cell}: ${run.non2xx} not 2xx, ${run.errors} errors ${JSON.stringify(run.errorBodies)}`);
          cpu[i]![cell].push(run.workerCpuMsPerReq * 1000);
        }
      }
      log(`round ${r + 1}/${rounds}: ${sides.map((s, i) => `${s.name}: floor ${fmt(cpu[i]!.floor[r]!)} µs, ${model} ${encoding} ${fmt(cpu[i]!.predict[r]!)} µs`).join(" | ")}`);
    }
    const above = cpu.map((c) => c.predict.map((p, r) => p - c.floor[r]!));
    const ratio = cpu.map((c) => c.predict.map((p, r) => p / c.floor[r]!));
    console.log(`Worker CPU per request (µs, median (min–max) over ${rounds} rounds of ${seconds} s; 4 connections): ${model} ${encoding} against the floor`);
    console.log(
      table(
        ["code", "floor µs", "prediction µs", "above floor µs", "× floor"],
        sides.map((s, i) => [s.name, fmtSpread(spread(cpu[i]!.floor)), fmtSpread(spread(cpu[i]!.predict)), fmtSpread(spread(above[i]!)), fmtSpread(spread(ratio[i]!))]),
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

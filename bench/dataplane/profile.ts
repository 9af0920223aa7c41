// `npm run profile:edge [model] [json|binary|floor|post-floor] [seconds]`: where the Worker's CPU
// goes for one kind of request (post-floor: the model's request sent to a path with no POST route,
// a 404 that never reads the body). Starts `wrangler dev` (quiet) on a fresh state, publishes the
// sample model, puts steady autocannon load on the cell and records a CPU profile through
// workerd's inspector (bench/inspector.ts), then prints
// self and total time by function and self time by source module (esbuild's `// path` markers
// in the bundle), with the Worker's CPU per request measured as bench:dataplane does (workerd
// utime+stime / answers; profiling on). A profile inflates stack captures and JS<->WASM calls:
// judge a cut with `npm run versus:edge`, not by it.
// Writes the raw profile to $TMPDIR/meridian-<cell>.cpuprofile (open it in Chrome DevTools).
// Knobs: PROFILE_CONNECTIONS=4, PROFILE_INTERVAL_US=50, PROFILE_TOP=40.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildFixtureModels } from "../../dev/samples/index";
import { devCredentials, credentialVars, freePort, migrate, startDev, ROOT, type DevServer } from "../../dev/local";
import { AdminClient } from "../../shared/admin-client";
import { devConfig, envNumber } from "../host";
import { Inspector } from "../inspector";
import { fmt, table } from "../lib";
import { closedLoop, type HttpRequest } from "./load";
import { fixtureBytes, inferRequest, publish, sampleRow } from "./models";
import { devProcesses } from "./proc";

interface CallFrame {
  functionName: string;
  scriptId: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const log = (line: string) => process.stderr.write(`${line}\n`);

/** Self time (ms) per key, from the samples. */
function selfTimes(profile: Profile, key: (f: CallFrame) => string): Map<string, number> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const out = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]!)!;
    const k = key(node.callFrame);
    out.set(k, (out.get(k) ?? 0) + (profile.timeDeltas[i + 1] ?? 0) / 1000);
  }
  return out;
}

/** Total time (ms) under each function (counted once per sample even when recursive). */
function totalTimes(profile: Profile, key: (f: CallFrame) => string): Map<string, number> {
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const out = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    const seen = new Set<string>();
    for (let id: number | undefined = profile.samples[i]; id !== undefined; id = parent.get(id)) {
      const k = key(byId.get(id)!.callFrame);
      if (seen.has(k)) continue;
      seen.add(k);
      out.set(k, (out.get(k) ?? 0) + dt);
    }
  }
  return out;
}

const short = (url: string) => url.replace(/^.*\/(node_modules\/)?/, "$1").replace(/^file:\/\//, "") || "(native)";

interface Namer {
  /** A function: its name (or, for the bundle's anonymous ones, the code that starts it) and where it is. */
  fn(f: CallFrame): string;
  /** The module a function comes from: esbuild marks each module's start in the bundle with a `// path` line. */
  module(f: CallFrame): string;
}

async function namer(inspector: Inspector, profile: Profile): Promise<Namer> {
  await inspector.send("Debugger.enable");
  const sources = new Map<string, { lines: string[]; modules: string[] }>();
  for (const id of new Set(profile.nodes.map((n) => n.callFrame.scriptId).filter((id) => id && id !== "0"))) {
    const { scriptSource } = await inspector.send<{ scriptSource?: string }>("Debugger.getScriptSource", { scriptId: id }).catch(() => ({ scriptSource: "" }));
    if (!scriptSource) continue;
    const lines = scriptSource.split("\n");
    let current = "";
    const modules = lines.map((line) => (current = /^\/\/ ([\w@./-]+\.[cm]?[jt]s)$/.exec(line)?.[1] ?? current));
    sources.set(id, { lines, modules });
  }
  await inspector.send("Debugger.disable");
  return {
    fn: (f) => {
      const where = `${short(f.url)}:${f.lineNumber + 1}`;
      if (f.functionName) return `${f.functionName} ${where}`;
      const code = sources.get(f.scriptId)?.lines[f.lineNumber]?.slice(Math.max(0, f.columnNumber - 30), f.columnNumber + 30).trim();
      return `(anonymous) ${where}${code ? ` «${code.replace(/\s+/g, " ")}»` : ""}`;
    },
    module: (f) => {
      if (/^(wasm-function|js-to-wasm|wasm-to-js)/.test(f.functionName)) return "onnxruntime-web WASM (and its JS<->WASM calls)";
      return sources.get(f.scriptId)?.modules[f.lineNumber]?.replace(/^.*node_modules\//, "") || (f.url ? short(f.url) : `(native) ${f.functionName}`);
    },
  };
}

async function main(): Promise<void> {
  const [model = "iris", encoding = "json", secondsArg = "10"] = process.argv.slice(2);
  const seconds = Number(secondsArg);
  const encodings = ["json", "binary", "floor", "post-floor"];
  if (!encodings.includes(encoding)) throw new Error(`cell "${encoding}": expected one of ${encodings.join(", ")}`);
  if (!(seconds > 0)) throw new Error(`seconds "${secondsArg}": expected a positive number`);
  const connections = Math.round(envNumber("PROFILE_CONNECTIONS", 4));
  const top = Math.round(envNumber("PROFILE_TOP", 40));
  const tmp = await mkdtemp(join(tmpdir(), "meridian-profile-"));
  let server: DevServer | undefined;
  const stop = async () => {
    await server?.stop();
    await rm(tmp, { recursive: true, force: true });
  };
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(sig, () => void stop().then(() => process.exit(130)));
  try {
    const credentials = await devCredentials(join(tmp, "credentials"));
    const stateDir = join(tmp, "state");
    await migrate(stateDir);
    const inspectorPort = await freePort();
    const config = await devConfig(join(ROOT, "wrangler.toml"), join(tmp, "config"), { inspectorPort });
    server = await startDev({ stateDir, vars: credentialVars(credentials), quiet: true, config });
    const admin = new AdminClient(server.url, credentials.adminToken, { actor: "profile" });
    const fixtures = await buildFixtureModels();
    const fixture = fixtures.find((m) => m.manifest.name === model);
    if (encoding !== "floor" && !fixture) throw new Error(`no sample model ${model} (have ${fixtures.map((m) => m.manifest.name).join(", ")})`);
    if (fixture) await publish(admin, credentials.privateKey, fixtureBytes(fixture), fixture.manifest, model, undefined, { promote: true });
    const spec = fixture?.manifest.inputs[0];
    const infer = spec && inferRequest(model, [sampleRow(model, spec)], encoding === "binary" ? "binary" : "json");
    const floor: HttpRequest = { method: "GET", path: "/v2/health/live" };
    const request: HttpRequest = !infer || encoding === "floor" ? floor : encoding === "post-floor" ? { ...infer, path: floor.path } : infer;
    const procs = await devProcesses(server.process.pid!);
    log(`warming up ${model} ${encoding}`);
    await closedLoop(server.url, procs, request, { connections, durationS: 3 });
    const session = await Inspector.connect(inspectorPort);
    await session.send("Profiler.enable");
    await session.send("Profiler.setSamplingInterval", { interval: Math.round(envNumber("PROFILE_INTERVAL_US", 50)) });
    await session.send("Profiler.start");
    const run = await closedLoop(server.url, procs, request, { connections, durationS: seconds });
    const { profile } = await session.send<{ profile: Profile }>("Profiler.stop", {}, 120_000);
    const names = await namer(session, profile);
    session.close();
    const cell = encoding === "floor" ? "floor" : `${model}-${encoding}`;
    const saved = join(tmpdir(), `meridian-${cell}.cpuprofile`);
    await writeFile(saved, JSON.stringify(profile));
    log(`profile written to ${saved}`);

    const answers = run.responses;
    const perRequest = (ms: number) => (ms * 1000) / answers;
    const sampled = (profile.endTime - profile.startTime) / 1000;
    console.log(`${cell}: ${answers} answers in ${seconds} s; Worker workerd CPU ${fmt(run.workerCpuMsPerReq)} ms/request (profiling on); profile spans ${fmt(sampled)} ms`);
    const rowsOf = (m: Map<string, number>) =>
      [...m.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, top)
        .map(([k, ms]) => [k, fmt(perRequest(ms)), `${fmt((100 * ms) / sampled)}%`]);
    console.log("\nself time, µs per request");
    console.log(table(["function", "µs/req", "share"], rowsOf(selfTimes(profile, names.fn))));
    console.log("\ntotal time, µs per request");
    console.log(table(["function", "µs/req", "share"], rowsOf(totalTimes(profile, names.fn))));
    console.log("\nself time by module, µs per request");
    console.log(table(["module", "µs/req", "share"], rowsOf(selfTimes(profile, names.module))));
  } finally {
    await stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});

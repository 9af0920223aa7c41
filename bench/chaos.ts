// `npm run bench:chaos`: a cluster run whose coordinators are killed and paused while it trains.
// Real processes throughout: redis-server (ours, or REDIS_URL), 2 `meridian worker`s, a
// `meridian train --cluster` and 2 `meridian coordinator --standby --once` waiting beside it (a new
// standby is started whenever one takes over). At seeded random steps the current coordinator is
// SIGSTOPped (once; SIGCONT after its successor's first step) or SIGKILLed. Measured per event:
//   takeover gap   from the signal to the start of the successor's first step (its step event's
//                  arrival minus the step's own duration); target: the lease plus one second
//   resumed from   the checkpoint step the successor started from, and the steps computed again
//   the paused one after SIGCONT: whether it reported its writes refused ("lost the lease": a
//                  `train` process exits 1, a standby stands by again) and the writes (checkpoints)
//                  that landed after it woke (must be none)
// and at the end the run's model bytes against an uninterrupted run of the same command (equal:
// no step applied twice or lost). Both gradient paths: the hub and --reduce replicated.
// Writes bench/results/chaos.json. Options: CHAOS_LEASE_MS=2000, CHAOS_KILLS=3, CHAOS_SEED=1,
// CHAOS_REDUCE=hub,replicated.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startRedis, type TestRedis } from "../dev/redis";
import { onJsonLines } from "../dev/json-lines";
import { supervise, type Supervised } from "../dev/supervise";
import { spawnWorker, type WorkerProcess } from "../dev/workers";
import { seededNormal, seededRandom } from "../shared/random";
import { envNumber, resultsDir } from "./host";
import { fmt, rounded, table } from "./lib";

const ROOT = join(import.meta.dirname, "..");
const CLI = fileURLToPath(new URL("../cli/meridian.ts", import.meta.url));
const LEASE_MS = envNumber("CHAOS_LEASE_MS", 2000);
const KILLS = Math.round(envNumber("CHAOS_KILLS", 3));
const SEED = Math.round(envNumber("CHAOS_SEED", 1));
const REDUCE = (process.env.CHAOS_REDUCE ?? "hub,replicated").split(",").map((s) => s.trim()).filter(Boolean);
const CHECKPOINT_EVERY = 5;
const log = (line: string): void => void process.stderr.write(`${line}\n`);

type Ev = { event: string; at: number; step?: number; ms?: number; resumedFrom?: number | null; totalSteps?: number; message?: string; takeover?: string; finished?: string; failed?: string };

/** A coordinator process (a `train --cluster` or a standby) and what it printed. */
class Coordinator {
  readonly events: Ev[] = [];
  stderr = "";
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  private waiters: (() => void)[] = [];
  constructor(
    readonly name: string,
    readonly sup: Supervised,
  ) {
    sup.process.stderr!.on("data", (d: Buffer) => (this.stderr += d.toString()));
    onJsonLines<Omit<Ev, "at">>(sup.process.stdout!, (e) => {
      this.events.push({ ...e, at: performance.now() });
      for (const w of this.waiters.splice(0)) w();
    });
    this.exited = new Promise((resolve) => sup.process.once("exit", (code, signal) => resolve({ code, signal })));
    void this.exited.then(() => {
      for (const w of this.waiters.splice(0)) w();
    });
  }
  get running(): boolean {
    return this.sup.process.exitCode === null && this.sup.process.signalCode === null;
  }
  lastStep(): number {
    return Math.max(0, ...this.events.filter((e) => e.event === "step").map((e) => e.step!));
  }
  /** Resolves with the first event matching `pred` (already seen or to come); rejects if the process ends first or after timeoutMs. */
  async waitFor(pred: (e: Ev) => boolean, timeoutMs: number, what: string): Promise<Ev> {
    const until = performance.now() + timeoutMs;
    for (;;) {
      const hit = this.events.find(pred);
      if (hit) return hit;
      if (!this.running) throw new Error(`${this.name} ended before ${what}: ${this.stderr.trim().split("\n").pop() ?? ""}`);
      if (performance.now() > until) throw new Error(`${this.name}: no ${what} within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 200);
      });
    }
  }
}

type Outcome = {
  kind: "kill -9" | "SIGSTOP";
  victim: string;
  signalledAtStep: number;
  successor: string;
  resumedFrom: number;
  /** Steps the victim had completed past the checkpoint the successor resumed from (computed again). */
  recomputedSteps: number;
  gapMs: number;
  metTarget: boolean;
  /**
   * The paused coordinator after SIGCONT: how it ended, whether it reported its writes refused,
   * the writes that landed anyway (checkpoints: must be none) and the steps it finished in memory
   * from gradients that had arrived before the pause (harmless: its next publish is refused).
   */
  paused?: { exitCode: number | null; lastLine: string; refused: boolean; writesAfterResume: number; stepsInMemory: number };
};

async function scenario(redis: TestRedis, reduce: string, csv: string, dir: string) {
  const prefix = `${redis.prefix}-chaos-${reduce}`;
  const procs: Coordinator[] = [];
  const workers: WorkerProcess[] = [];
  const start = (name: string, args: string[]): Coordinator => {
    const c = new Coordinator(name, supervise(process.execPath, ["--import", "tsx", CLI, ...args], { cwd: ROOT, env: { ...process.env, REDIS_URL: redis.url }, graceMs: 3000 }));
    procs.push(c);
    return c;
  };
  const trainArgs = (out: string) => [
    "train", "--dataset", `csv:${csv}`, "--out", out, "--json", "--cluster", "--prefix", prefix, "--shards", "2", "--epochs", "3", "--batch-size", "64",
    "--hidden", "64", "--checkpoint-every", String(CHECKPOINT_EVERY), "--backend", "auto", "--lease-ms", String(LEASE_MS), "--reduce", reduce,
  ];
  let standbyN = 0;
  const standby = () => start(`standby-${++standbyN}`, ["coordinator", "--standby", "--once", "--json", "--prefix", prefix, "--poll-ms", "100"]);
  try {
    workers.push(...(await Promise.all([0, 1].map(() => spawnWorker({ redisUrl: redis.url, prefix, args: ["--lock-ms", "3000", "--stalled-ms", "1000"] })))));
    // The uninterrupted run: the reference bytes (it clears its checkpoint and spec when done).
    const ref = start("reference", trainArgs(join(dir, "ref")));
    const refExit = await ref.exited;
    if (refExit.code !== 0) throw new Error(`reference run failed: ${ref.stderr.slice(-500)}`);
    const total = ref.events.find((e) => e.event === "run_start")!.totalSteps!;
    const refBytes = readFileSync(join(dir, "ref", "model.onnx"));

    // Where to strike: one pause and KILLS kills at distinct seeded steps, spread over the run.
    const rand = seededRandom(SEED + (reduce === "hub" ? 0 : 1000));
    const points = new Set<number>();
    while (points.size < KILLS + 1) points.add(10 + Math.floor(rand() * (total - 30)));
    const sorted = [...points].sort((a, b) => a - b);
    const pauseIndex = Math.floor(rand() * sorted.length);
    const plan = sorted.map((step, i) => ({ step, kind: (i === pauseIndex ? "SIGSTOP" : "kill -9") as Outcome["kind"] }));

    const idle = [standby(), standby()];
    let current = start("train", trainArgs(join(dir, "chaos")));
    const outcomes: Outcome[] = [];
    for (const p of plan) {
      await current.waitFor((e) => e.event === "step" && e.step! >= p.step, 120_000, `step ${p.step}`);
      const t0 = performance.now();
      current.sup.signal(p.kind === "SIGSTOP" ? "SIGSTOP" : "SIGKILL");
      const victim = current;
      const signalledAtStep = victim.lastStep();
      // The successor: the first standby to start the run (run_start comes once it holds the lease).
      const successor = await Promise.any(idle.map((s) => s.waitFor((e) => e.event === "run_start" && e.at > t0, 60_000, "taking over").then(() => s)));
      const first = await successor.waitFor((e) => e.event === "step" && e.at > t0, 60_000, "a step");
      const resumedFrom = successor.events.find((e) => e.event === "run_start" && e.at > t0)!.resumedFrom ?? 0;
      const gapMs = first.at - first.ms! - t0;
      const o: Outcome = {
        kind: p.kind,
        victim: victim.name,
        signalledAtStep,
        successor: successor.name,
        resumedFrom,
        recomputedSteps: Math.max(0, signalledAtStep - resumedFrom),
        gapMs,
        metTarget: gapMs <= LEASE_MS + 1000,
      };
      if (p.kind === "SIGSTOP") {
        const tCont = performance.now();
        victim.sup.signal("SIGCONT");
        // A `train` process exits 1; a standby logs the failed run and stands by again (then we stop it).
        const refused = await Promise.race([
          victim.exited.then(() => /lost the lease/.test(victim.stderr)),
          victim.waitFor((e) => e.failed !== undefined && e.at > tCont && /lost the lease/.test(e.message ?? ""), 30_000, "the refusal").then(() => true),
        ]).catch(() => false);
        if (victim.running) await victim.sup.stop();
        const exit = await victim.exited;
        o.paused = {
          exitCode: exit.code,
          lastLine: (victim.stderr.trim().split("\n").pop() || victim.events.filter((e) => e.failed).pop()?.message || "").slice(0, 200),
          refused,
          writesAfterResume: victim.events.filter((e) => e.event === "checkpoint" && e.at > tCont).length,
          stepsInMemory: victim.events.filter((e) => e.event === "step" && e.at > tCont).length,
        };
      }
      outcomes.push(o);
      log(`  ${reduce}: ${o.kind} ${o.victim} at step ${o.signalledAtStep} → ${o.successor} resumed from ${o.resumedFrom}, first step ${fmt(o.gapMs)} ms after the signal${o.paused ? `; paused one: exit ${o.paused.exitCode}, refused ${o.paused.refused}, ${o.paused.writesAfterResume} writes landed after SIGCONT, "${o.paused.lastLine}"` : ""}`);
      idle.splice(idle.indexOf(successor), 1);
      idle.push(standby());
      current = successor;
    }
    await current.waitFor((e) => e.finished !== undefined, 300_000, "the end of the run");
    const chaosBytes = readFileSync(join(dir, "chaos", "model.onnx"));
    return { reduce, totalSteps: total, leaseMs: LEASE_MS, checkpointEvery: CHECKPOINT_EVERY, outcomes, sameModelBytes: chaosBytes.equals(refBytes) };
  } finally {
    await Promise.all(procs.filter((p) => p.running).map((p) => p.sup.stop()));
    await Promise.all(workers.map((w) => w.stop()));
  }
}

/** Four Gaussian blobs in 32 dimensions as a CSV (the data set every coordinator reads). */
function writeBlobs(path: string): void {
  const F = 32;
  const normal = seededNormal(SEED);
  const centers = Array.from({ length: 4 }, () => Array.from({ length: F }, () => normal() * 0.5));
  const lines = [`${Array.from({ length: F }, (_, i) => `f${i}`).join(",")},label`];
  for (let r = 0; r < 4000; r++) lines.push(`${centers[r % 4]!.map((c) => (c + normal()).toFixed(5)).join(",")},c${r % 4}`);
  writeFileSync(path, lines.join("\n") + "\n");
}

async function main(): Promise<void> {
  const started = new Date().toISOString();
  const load0 = loadavg();
  const dir = mkdtempSync(join(tmpdir(), "meridian-chaos-"));
  let redis: TestRedis | undefined;
  const results = [];
  try {
    const csv = join(dir, "blobs.csv");
    writeBlobs(csv);
    redis = await startRedis();
    for (const reduce of REDUCE) {
      log(`${reduce}: reference run, then the chaos run (lease ${LEASE_MS} ms)`);
      results.push(await scenario(redis, reduce, csv, join(dir, reduce)));
    }
  } finally {
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const load1 = loadavg();
  for (const r of results) {
    console.log(`\n${r.reduce}: ${r.totalSteps} steps, checkpoint every ${r.checkpointEvery}, lease ${r.leaseMs} ms; model bytes equal to the uninterrupted run's: ${r.sameModelBytes ? "yes" : "NO"}`);
    console.log(
      table(
        ["event", "victim", "at step", "successor", "resumed from", "recomputed", "gap ms", `≤ lease+1 s`, "paused one after SIGCONT"],
        r.outcomes.map((o) => [o.kind, o.victim, o.signalledAtStep, o.successor, o.resumedFrom, o.recomputedSteps, o.gapMs, o.metTarget ? "met" : "missed", o.paused ? `refused: ${o.paused.refused}, writes landed: ${o.paused.writesAfterResume}, steps in memory: ${o.paused.stepsInMemory}` : "-"]),
      ),
    );
  }
  console.log(`\nload average ${load0.map((l) => l.toFixed(2)).join(" ")} at start, ${load1.map((l) => l.toFixed(2)).join(" ")} at end (${cpus().length} cores)`);
  const met = results.every((r) => r.sameModelBytes && r.outcomes.every((o) => o.metTarget && (!o.paused || (o.paused.refused && o.paused.writesAfterResume === 0))));
  const out = join(resultsDir(ROOT), "chaos.json");
  await mkdir(resultsDir(ROOT), { recursive: true });
  await writeFile(
    out,
    JSON.stringify(
      rounded({
        started,
        machine: { cores: cpus().length, cpu: cpus()[0]?.model, node: process.version, loadAverageStart: load0, loadAverageEnd: load1 },
        method: {
          gap: "signal → start of the successor's first step (its step event's arrival minus the step's duration), measured in this process",
          target: `gap ≤ lease + 1000 ms; the paused coordinator's writes refused and none landed after SIGCONT; model bytes equal to an uninterrupted run's`,
          seed: SEED,
        },
        results,
        met,
      }),
      null,
      2,
    ) + "\n",
  );
  log(`wrote ${out}`);
  if (!met) process.exitCode = 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:chaos failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

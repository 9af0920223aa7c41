// CPU-time timing for a machine others load too: a round's wall time counts the time other
// processes held the core, its CPU time does not. The clock of a workerd is the sum of its
// threads' on-CPU nanoseconds (/proc/<pid>/task/*/schedstat), read before and after a request.
import { readdir, readFile } from "node:fs/promises";
import { spread, summarize, type Spread, type Summary } from "../lib";

/** Nanoseconds on CPU, monotonic. */
export type CpuClock = () => Promise<number>;

export const processCpuClock: CpuClock = async () => {
  const { user, system } = process.cpuUsage();
  return (user + system) * 1000;
};

/** Sum of the on-CPU time of every thread of `pid` (GC and compiler threads included). */
export function threadsCpuClock(pid: number): CpuClock {
  return async () => {
    let ns = 0;
    for (const tid of await readdir(`/proc/${pid}/task`)) {
      const stat = await readFile(`/proc/${pid}/task/${tid}/schedstat`, "utf8").catch(() => "0"); // a thread that just ended
      ns += Number(stat.split(" ")[0]);
    }
    return ns;
  };
}

/** The workerd below `root` (the reaper of a wrangler dev) that runs the Worker: of wrangler's two, the one with an inspector. */
export async function workerPid(root: number): Promise<number> {
  const procs: { pid: number; ppid: number; comm: string }[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    const close = stat.lastIndexOf(")");
    if (close > 0) procs.push({ pid: Number(entry), ppid: Number(stat.slice(close + 2).split(" ")[1]), comm: stat.slice(stat.indexOf("(") + 1, close) });
  }
  const below = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of procs) if (below.has(p.ppid) && !below.has(p.pid)) grew = Boolean(below.add(p.pid));
  }
  for (const p of procs.filter((p) => p.comm === "workerd" && below.has(p.pid))) {
    const cmdline = await readFile(`/proc/${p.pid}/cmdline`, "utf8").catch(() => "");
    if (cmdline.includes("--inspector-addr")) return p.pid;
  }
  throw new Error(`no workerd with an inspector below pid ${root}`);
}

/** Runs `n` (≥ 0) times what is timed; may answer the wall milliseconds it measured itself. */
export type Batch = (n: number) => Promise<number | void>;

export interface CpuTiming {
  /** CPU microseconds per run, request overhead taken off, over rounds. */
  cpuPerRunUs: Summary;
  /** The same per round, in round order (rounds of interleaved batches pair up by index). */
  cpuPerRoundUs: number[];
  /** Wall microseconds per run as the batch measured it, if it did. */
  wallPerRunUs: Summary | null;
  rounds: number;
  runsPerRound: number;
  /** CPU of an empty batch (the request around the runs), median over rounds. */
  overheadUs: number;
}

const cpuOf = async (batch: Batch, n: number, clock: CpuClock) => {
  const c0 = await clock();
  const wallMs = await batch(n);
  return { cpuNs: (await clock()) - c0, wallMs: typeof wallMs === "number" ? wallMs : null };
};

/**
 * Times batches against a CPU clock in rounds: each warmed up for `warmupMs` of CPU and sized to
 * about `roundMs` of CPU, then `rounds` rounds, every batch once per round (order rotated each
 * round, so a slow spell hits all alike), each preceded by an empty batch of its own: the median
 * of those is the request overhead taken off.
 */
export async function timeCpu(batches: Batch[], clock: CpuClock, opts: { warmupMs: number; roundMs: number; rounds: number }): Promise<CpuTiming[]> {
  const sizes: number[] = [];
  for (const batch of batches) {
    let spent = 0;
    let perRunNs = 0;
    for (let n = 1; spent < opts.warmupMs * 1e6; n *= 2) {
      const { cpuNs } = await cpuOf(batch, n, clock);
      spent += cpuNs;
      perRunNs = cpuNs / n;
    }
    sizes.push(Math.max(1, Math.ceil((opts.roundMs * 1e6) / perRunNs)));
  }
  const raw: number[][] = batches.map(() => []);
  const empty: number[][] = batches.map(() => []);
  const wall: number[][] = batches.map(() => []);
  for (let r = 0; r < opts.rounds; r++) {
    for (let s = 0; s < batches.length; s++) {
      const j = (r + s) % batches.length;
      empty[j]!.push((await cpuOf(batches[j]!, 0, clock)).cpuNs);
      const m = await cpuOf(batches[j]!, sizes[j]!, clock);
      raw[j]!.push(m.cpuNs);
      if (m.wallMs !== null) wall[j]!.push((m.wallMs * 1e3) / sizes[j]!);
    }
  }
  return batches.map((_, j) => {
    const overheadNs = summarize(empty[j]!).median;
    const cpu = raw[j]!.map((ns) => (ns - overheadNs) / sizes[j]! / 1e3);
    return { cpuPerRunUs: summarize(cpu), cpuPerRoundUs: cpu, wallPerRunUs: wall[j]!.length ? summarize(wall[j]!) : null, rounds: opts.rounds, runsPerRound: sizes[j]!, overheadUs: overheadNs / 1e3 };
  });
}

/**
 * GFLOP/s of a peak loop: `call(iterations)` sized by doubling until it takes 20 ms of CPU, then
 * to about `ms`, then `rounds` calls, by CPU time (less an empty call's) and, if the call
 * measured it, by wall time.
 */
export async function peakGflops(call: Batch, flopsPerIteration: number, clock: CpuClock, opts: { ms: number; rounds: number }): Promise<{ gflops: Spread; wallGflops: Spread | null; iterations: number }> {
  const overheads = [];
  for (let i = 0; i < 5; i++) overheads.push((await cpuOf(call, 0, clock)).cpuNs);
  const overheadNs = summarize(overheads).median;
  let n = 1024;
  let probe = await cpuOf(call, n, clock);
  while (probe.cpuNs < 20e6) probe = await cpuOf(call, (n *= 2), clock);
  const iterations = Math.ceil((n * opts.ms * 1e6) / (probe.cpuNs - overheadNs));
  const cpu: number[] = [];
  const wall: number[] = [];
  for (let r = 0; r < opts.rounds; r++) {
    const m = await cpuOf(call, iterations, clock);
    cpu.push((iterations * flopsPerIteration) / (m.cpuNs - overheadNs));
    if (m.wallMs !== null) wall.push((iterations * flopsPerIteration) / m.wallMs / 1e6);
  }
  return { gflops: spread(cpu), wallGflops: wall.length ? spread(wall) : null, iterations };
}

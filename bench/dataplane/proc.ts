// The processes of one `wrangler dev` and their CPU time, from /proc. wrangler dev runs two
// workerd processes: the one that runs the Worker (started with --inspector-addr) and the proxy in
// front of it. Both are read around every measured cell, so the attribution can be checked: the
// Worker's is the one whose CPU grows with the work a route does, the proxy's grows per request.
import { execFileSync } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";

/** Clock ticks per second (USER_HZ) of utime/stime in /proc/<pid>/stat. */
export const CLOCK_TICKS: number = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

export interface Proc {
  pid: number;
  ppid: number;
  comm: string;
}

async function allProcs(): Promise<Proc[]> {
  const procs: Proc[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    const close = stat.lastIndexOf(")");
    if (close < 0) continue;
    procs.push({ pid: Number(entry), ppid: Number(stat.slice(close + 2).split(" ")[1]), comm: stat.slice(stat.indexOf("(") + 1, close) });
  }
  return procs;
}

/** Every process below `root` (root excluded). */
export async function descendants(root: number): Promise<Proc[]> {
  const procs = await allProcs();
  const below = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of procs) if (below.has(p.ppid) && !below.has(p.pid)) grew = Boolean(below.add(p.pid));
  }
  return procs.filter((p) => p.pid !== root && below.has(p.pid));
}

export interface DevProcesses {
  /** The workerd that runs the Worker (the one given --inspector-addr). */
  worker: number;
  /** wrangler's other workerd (its proxy), when there is one. */
  proxies: number[];
  /** Everything else below the reaper (wrangler's node process, esbuild). */
  others: number[];
}

/** The processes of a wrangler dev started under dev/reaper.mjs with pid `root`. */
export async function devProcesses(root: number): Promise<DevProcesses> {
  const below = await descendants(root);
  const workerds = below.filter((p) => p.comm === "workerd");
  let worker: number | undefined;
  for (const p of workerds) {
    const cmdline = await readFile(`/proc/${p.pid}/cmdline`, "utf8").catch(() => "");
    if (cmdline.includes("--inspector-addr")) worker = p.pid;
  }
  if (worker === undefined) throw new Error(`no workerd with --inspector-addr below pid ${root} (found ${workerds.map((w) => w.pid).join(", ") || "no workerd"})`);
  return { worker, proxies: workerds.filter((p) => p.pid !== worker).map((p) => p.pid), others: below.filter((p) => p.comm !== "workerd").map((p) => p.pid) };
}

/** utime + stime of a process (all its threads), in ms; NaN once it is gone. */
export async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  const close = stat.lastIndexOf(")");
  if (close < 0) return NaN;
  const fields = stat.slice(close + 2).split(" "); // fields from 3 (state) on: utime is field 14, stime 15
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}

/** Sum of the on-CPU ns of every thread of a process (/proc/<pid>/task/<tid>/schedstat), in ms: a finer cross-check of cpuMs. */
export async function schedMs(pid: number): Promise<number> {
  let ns = 0;
  const tasks = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  for (const tid of tasks) {
    const s = await readFile(`/proc/${pid}/task/${tid}/schedstat`, "utf8").catch(() => "0");
    ns += Number(s.split(" ")[0]);
  }
  return ns / 1e6;
}

export interface CpuSnapshot {
  at: number;
  workerMs: number;
  workerSchedMs: number;
  proxyMs: number;
  otherMs: number;
  benchMs: number;
}

export async function snapshot(p: DevProcesses): Promise<CpuSnapshot> {
  const sum = async (pids: number[]) => (await Promise.all(pids.map(cpuMs))).reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
  const [workerMs, workerSchedMs, proxyMs, otherMs] = await Promise.all([cpuMs(p.worker), schedMs(p.worker), sum(p.proxies), sum(p.others)]);
  const { user, system } = process.cpuUsage();
  return { at: performance.now(), workerMs, workerSchedMs, proxyMs, otherMs, benchMs: (user + system) / 1000 };
}

export interface CpuDelta {
  wallMs: number;
  workerMs: number;
  workerSchedMs: number;
  proxyMs: number;
  otherMs: number;
  benchMs: number;
}

export function delta(a: CpuSnapshot, b: CpuSnapshot): CpuDelta {
  return {
    wallMs: b.at - a.at,
    workerMs: b.workerMs - a.workerMs,
    workerSchedMs: b.workerSchedMs - a.workerSchedMs,
    proxyMs: b.proxyMs - a.proxyMs,
    otherMs: b.otherMs - a.otherMs,
    benchMs: b.benchMs - a.benchMs,
  };
}

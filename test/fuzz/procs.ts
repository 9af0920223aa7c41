// The processes a fuzz run started (wrangler, workerd, and whatever wraps them), found through
// /proc by parentage, so leftovers can be killed by id and a restart seen.
import { readdirSync, readFileSync } from "node:fs";

export interface Proc {
  pid: number;
  ppid: number;
  /** Start time in clock ticks since boot: a pid reused by another process will not match. */
  start: string;
  command: string;
}

function readProc(pid: number): Proc | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const close = stat.lastIndexOf(")");
    // After the command name: state, ppid, pgrp, ... field 22 of the whole line is the start time.
    const fields = stat.slice(close + 2).split(" ");
    if (fields[0] === "Z") return null;
    return { pid, ppid: Number(fields[1]), start: fields[19]!, command: stat.slice(stat.indexOf("(") + 1, close) };
  } catch {
    return null; // exited meanwhile
  }
}

/** `root` and all of its live descendants. */
export function processTree(root: number): Proc[] {
  const all = readdirSync("/proc")
    .filter((e) => /^\d+$/.test(e))
    .map((e) => readProc(Number(e)))
    .filter((p): p is Proc => p !== null);
  const out = all.filter((p) => p.pid === root);
  for (let i = 0; i < out.length; i++) out.push(...all.filter((p) => p.ppid === out[i]!.pid));
  return out;
}

/** Kills those of `procs` still running (the same processes: pid and start time match). */
export function killSurvivors(procs: readonly Proc[]): number[] {
  const killed: number[] = [];
  for (const p of procs) {
    const now = readProc(p.pid);
    if (!now || now.start !== p.start) continue;
    try {
      process.kill(p.pid, "SIGKILL");
      killed.push(p.pid);
    } catch {
      // gone already
    }
  }
  return killed;
}

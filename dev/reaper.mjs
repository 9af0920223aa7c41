#!/usr/bin/env node
// Runs a command in its own process group and makes sure the whole group ends with it, or with
// whoever started us. Plain JS (no tsx) so it starts fast and has nothing to go wrong.
//
//   node dev/reaper.mjs <graceMs> <command> [args...]
//
// - SIGINT, SIGTERM, SIGHUP sent to the reaper go to the command's group.
// - Each line on stdin names a signal for the group: how a parent sends SIGKILL (a crash), which
//   a real SIGKILL to the reaper would not pass on.
// - stdin reaching EOF means the parent is gone, however it died (the kernel closes its end even
//   after SIGKILL): the group gets SIGTERM.
// - Once asked to stop, what is left of the group after graceMs gets SIGKILL; when the command
//   itself exits, the rest of its group (e.g. wrangler's workerd) is stopped the same way.
// - Exits as the command did: same code, or the same signal.
import { spawn } from "node:child_process";
import { fstatSync, readdirSync, readFileSync } from "node:fs";
import { constants } from "node:os";

const [grace, command, ...args] = process.argv.slice(2);
const graceMs = Number(grace);
if (!command || !Number.isFinite(graceMs)) {
  console.error("usage: reaper.mjs <graceMs> <command> [args...]");
  process.exit(2);
}

const child = spawn(command, args, { stdio: ["ignore", "inherit", "inherit"], detached: true });

/** Signals the command's group; false once nothing of it is left. */
function group(signal) {
  try {
    process.kill(-child.pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Whether any of the group still runs. kill(-pgid, 0) also counts zombies, which init may take a
 * while to reap (about 1 s on some VMs), so on Linux the group's live members are looked up in /proc. */
function groupRuns() {
  if (!group(0)) return false;
  if (process.platform !== "linux") return true;
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
      continue; // exited meanwhile
    }
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(pgrp) === child.pid && state !== "Z") return true;
  }
  return false;
}

let killTimer;
function terminate(signal) {
  group(signal);
  killTimer ??= setTimeout(() => group("SIGKILL"), graceMs);
}

for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => terminate(signal));

// Only a pipe from a parent: /dev/null would read as EOF at once, a terminal never closes.
const stdin = fstatSync(0);
if (stdin.isFIFO() || stdin.isSocket()) {
  let buffered = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (chunk) => {
    buffered += chunk;
    const lines = buffered.split("\n");
    buffered = lines.pop();
    for (const line of lines) if (line.trim() in constants.signals) terminate(line.trim());
  });
  process.stdin.on("end", () => terminate("SIGTERM"));
  process.stdin.on("error", () => terminate("SIGTERM"));
}

child.on("error", (err) => {
  console.error(`reaper: cannot start ${command}: ${err.message}`);
  process.exit(127);
});

child.on("exit", async (code, signal) => {
  // The leader is gone, maybe not its group.
  if (groupRuns()) {
    terminate("SIGTERM");
    while (groupRuns()) await new Promise((r) => setTimeout(r, 50));
  }
  clearTimeout(killTimer);
  if (code !== null) process.exit(code);
  process.removeAllListeners(signal);
  process.kill(process.pid, signal);
});

// Long-running children (wrangler dev, redis-server, training workers) started under
// dev/reaper.mjs, so they stop with us: on a signal, on stop(), and when this process dies in
// any way, SIGKILL included (the reaper sees its stdin close).
import { spawn, type ChildProcess } from "node:child_process";
import { constants as osConstants } from "node:os";
import { fileURLToPath } from "node:url";

const REAPER = fileURLToPath(new URL("./reaper.mjs", import.meta.url));

type Output = "pipe" | "inherit" | "ignore";

export interface Supervised {
  /** The reaper. It exits as the command did (code or signal), once its whole group is gone. */
  process: ChildProcess;
  /** Sends a signal to the command's whole process group; SIGKILL is a crash, no cleanup. */
  signal(signal: NodeJS.Signals): void;
  /** SIGTERM to the group, SIGKILL to what is left after the grace period; resolves once it is all gone. */
  stop(): Promise<void>;
}

export function supervise(
  command: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; stdout?: Output; stderr?: Output; graceMs?: number } = {},
): Supervised {
  const proc = spawn(process.execPath, [REAPER, String(opts.graceMs ?? 5000), command, ...args], {
    cwd: opts.cwd,
    env: opts.env,
    // Its own group too, so that a signal to our whole group (SIGKILL included) cannot take the
    // reaper down before it has stopped the command; it learns that we died from its stdin.
    detached: true,
    stdio: ["pipe", opts.stdout ?? "pipe", opts.stderr ?? "pipe"],
  });
  proc.stdin!.on("error", () => {}); // the reaper already exited: nothing left to tell it
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  const signal = (s: NodeJS.Signals) => {
    if (proc.exitCode === null && proc.signalCode === null) proc.stdin!.write(`${s}\n`);
  };
  return {
    process: proc,
    signal,
    async stop() {
      signal("SIGTERM");
      await exited;
    },
  };
}

/**
 * For a script whose long-running children are not spawned by us (Miniflare starts its workerd
 * itself): in the first run, runs the same script again under the reaper, passes stop signals on,
 * exits as it does and never returns; in that second run it returns at once.
 */
export async function runUnderReaper(): Promise<void> {
  if (process.env.MERIDIAN_UNDER_REAPER) return;
  const self = supervise(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    env: { ...process.env, MERIDIAN_UNDER_REAPER: "1" },
    stdout: "inherit",
    stderr: "inherit",
  });
  for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(s, () => self.signal(s));
  await new Promise<never>(() =>
    self.process.on("exit", (code, signal) => process.exit(code ?? 128 + (signal ? osConstants.signals[signal] : 0))),
  );
}

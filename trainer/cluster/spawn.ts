// Starts `meridian worker` processes (benchmarks, tests, local clusters): each in its own process
// group so stopping it also stops anything it started.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const CLI = fileURLToPath(new URL("../../cli/meridian.ts", import.meta.url));

export type WorkerProcess = {
  proc: ChildProcess;
  pid: number;
  /** Worker id, once it printed "ready". */
  id: string;
  /** JSON events it printed so far. */
  events: Record<string, unknown>[];
  stderr: () => string;
  /** SIGKILL: a crash, no cleanup. */
  kill(): void;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
};

export async function spawnWorker(o: {
  redisUrl: string;
  prefix: string;
  args?: string[];
  readyTimeoutMs?: number;
}): Promise<WorkerProcess> {
  const proc = spawn(process.execPath, ["--import", "tsx", CLI, "worker", "--json", "--prefix", o.prefix, ...(o.args ?? [])], {
    env: { ...process.env, REDIS_URL: o.redisUrl },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  const events: Record<string, unknown>[] = [];
  let err = "";
  let buf = "";
  proc.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  const id = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker did not start within ${o.readyTimeoutMs ?? 30000} ms: ${err.slice(-500)}`)), o.readyTimeoutMs ?? 30_000);
    proc.stdout!.on("data", (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          const e = JSON.parse(line) as Record<string, unknown>;
          events.push(e);
          if (e.event === "ready") {
            clearTimeout(timer);
            resolve(String(e.worker));
          }
        } catch {
          // not JSON: ignore
        }
      }
    });
    proc.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`worker exited with ${code} before it was ready: ${err.trim().split("\n").pop() ?? ""}`));
    });
  });
  const signal = (s: NodeJS.Signals): void => {
    try {
      process.kill(-proc.pid!, s);
    } catch {
      // already gone
    }
  };
  return {
    proc,
    pid: proc.pid!,
    id,
    events,
    stderr: () => err,
    kill: () => signal("SIGKILL"),
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      signal("SIGTERM");
      const t = setTimeout(() => signal("SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

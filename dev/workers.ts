// Starts `meridian worker` processes (benchmarks, tests, local clusters) under the reaper
// (dev/supervise.ts): each in its own process group, so stopping it also stops anything it
// started, and stopped when the process that started it dies.
import { type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { onJsonLines } from "./json-lines";
import { supervise } from "./supervise";

const CLI = fileURLToPath(new URL("../cli/meridian.ts", import.meta.url));

export type WorkerProcess = {
  /** The reaper the worker runs under: it exits as the worker did. */
  proc: ChildProcess;
  pid: number;
  /** Worker id, once it printed "ready". */
  id: string;
  /** JSON events it printed so far. */
  events: Record<string, unknown>[];
  stderr: () => string;
  /** SIGKILL: a crash, no cleanup. */
  kill(): void;
  /** SIGTERM (SIGKILL after 5 s) and wait for exit. */
  stop(): Promise<void>;
};

export async function spawnWorker(o: {
  redisUrl: string;
  prefix: string;
  args?: string[];
  readyTimeoutMs?: number;
}): Promise<WorkerProcess> {
  const worker = supervise(process.execPath, ["--import", "tsx", CLI, "worker", "--json", "--prefix", o.prefix, ...(o.args ?? [])], {
    env: { ...process.env, REDIS_URL: o.redisUrl },
  });
  const proc = worker.process;
  const events: Record<string, unknown>[] = [];
  let err = "";
  proc.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const id = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker did not start within ${o.readyTimeoutMs ?? 30000} ms: ${err.slice(-500)}`)), o.readyTimeoutMs ?? 30_000);
    onJsonLines(proc.stdout!, (e) => {
      events.push(e);
      if (e.event === "ready") {
        clearTimeout(timer);
        resolve(String(e.worker));
      }
    });
    proc.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`worker exited with ${code} before it was ready: ${err.trim().split("\n").pop() ?? ""}`));
    });
  }).catch(async (e: unknown) => {
    await worker.stop(); // timed out: not left running
    throw e;
  });
  return {
    proc,
    pid: proc.pid!,
    id,
    events,
    stderr: () => err,
    kill: () => worker.signal("SIGKILL"),
    stop: worker.stop,
  };
}

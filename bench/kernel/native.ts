// The native peak loops of peak.cpp: compiled at bench time (no binary checked in) and served by
// a child process, so their calls are timed like the Worker's (CPU time of the process around each
// call) and can be interleaved with onnxruntime-node's runs.
import { execFile, spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { threadsCpuClock, type Batch, type CpuClock } from "./cpu";

const run = promisify(execFile);
export const FLAGS = ["-O2", "-mavx2", "-mfma"];

/** Loops peak.cpp serves: lanes per instruction and accumulator counts; avx512 only with avx512f. */
export const NATIVE_LOOPS = [
  { loop: "sse-muladd", lanes: 4, accumulators: [12, 14] },
  { loop: "avx2-fma", lanes: 8, accumulators: [8, 12] },
  { loop: "avx512-fma", lanes: 16, accumulators: [8, 12] },
];

export interface Native {
  compiler: string;
  /** One call of a loop: n iterations, answers its wall ms. */
  call(loop: string, accumulators: number): Batch;
  /** On-CPU time of the child. */
  clock: CpuClock;
  stop(): void;
}

export async function startNative(tmp: string, source: string, signal?: AbortSignal): Promise<Native> {
  const exe = join(tmp, "peak");
  await run("g++", [...FLAGS, "-o", exe, source], { signal });
  const compiler = `${(await run("g++", ["--version"])).stdout.split("\n")[0]} ${FLAGS.join(" ")}`;
  const child = spawn(exe, [], { stdio: ["pipe", "pipe", "inherit"], signal });
  child.on("error", () => {}); // an abort kills it; the pending call fails below
  child.stdin!.on("error", () => {}); // it died: the exit handler fails the pending call
  const waiting: { resolve: (line: string) => void; reject: (err: Error) => void }[] = [];
  createInterface({ input: child.stdout! }).on("line", (line) => waiting.shift()?.resolve(line));
  child.on("exit", (code, sig) => waiting.splice(0).forEach((w) => w.reject(new Error(`peak exited (${code ?? sig})`))));
  const ask = (line: string) =>
    new Promise<string>((resolve, reject) => {
      waiting.push({ resolve, reject });
      child.stdin!.write(`${line}\n`);
    });
  return {
    compiler,
    call: (loop, accumulators) => async (n) => {
      const answer = await ask(`${loop} ${accumulators} ${n}`);
      if (answer === "error") throw new Error(`peak has no loop ${loop} with ${accumulators} accumulators`);
      return Number(answer);
    },
    clock: threadsCpuClock(child.pid!),
    stop: () => void child.kill(),
  };
}

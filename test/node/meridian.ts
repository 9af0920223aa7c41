// Runs the `meridian` CLI as a user would (bin/meridian.mjs in a child process) with a clean
// MERIDIAN_* environment plus `env`: what the CLI and operator-loop tests share.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "../../dev/local";

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runMeridian(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("MERIDIAN_")));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, "bin", "meridian.mjs"), ...args], { cwd: ROOT, env: { ...base, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

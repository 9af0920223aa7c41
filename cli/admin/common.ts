// Shared plumbing for the admin subcommands: connection flags, argument parsers and plain-text
// tables (the failure contract is cli/failure.ts).
import { InvalidArgumentError, type Command } from "commander";
import { MODEL_NAME } from "../../shared/manifest";
import { DEFAULT_TIMEOUT_MS } from "../../shared/admin-client";
import { connect, DEFAULT_URL, type AdminClient } from "./client";

export interface ConnectionFlags {
  url?: string;
  token?: string;
  timeout?: number;
  json?: boolean;
}

/** Flags per subcommand (not on the root program, which other commands share). */
export function withConnection(cmd: Command): Command {
  return cmd
    .option("--url <url>", `edge base URL (env MERIDIAN_URL, default ${DEFAULT_URL})`)
    .option("--token <token>", "admin bearer token (env MERIDIAN_TOKEN)")
    .option("--timeout <seconds>", "fail a call to the edge after this long without progress (env MERIDIAN_TIMEOUT, default 30)", parseSeconds)
    .option("--json", "print machine-readable JSON on stdout");
}

export function clientFor(flags: ConnectionFlags, env: NodeJS.ProcessEnv = process.env): AdminClient {
  const token = flags.token ?? env.MERIDIAN_TOKEN;
  if (!token) throw new Error("no admin token: pass --token or set MERIDIAN_TOKEN");
  const url = flags.url ?? env.MERIDIAN_URL ?? DEFAULT_URL;
  if (!/^https?:\/\//.test(url)) throw new Error(`--url must start with http:// or https:// (got ${url})`);
  const seconds = flags.timeout ?? (env.MERIDIAN_TIMEOUT ? parseSeconds(env.MERIDIAN_TIMEOUT) : DEFAULT_TIMEOUT_MS / 1000);
  return connect({ url, token, timeoutMs: seconds * 1000 });
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

// ---------- argument parsers (commander reports their errors as "error: ... invalid ...") ----------

export function parseModelName(value: string): string {
  if (!MODEL_NAME.test(value)) throw new InvalidArgumentError("model names match [a-z0-9][a-z0-9_-]{0,63}.");
  return value;
}

export function parseSeconds(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError("a timeout is a positive number of seconds.");
  return n;
}

export function parseVersion(value: string): number {
  if (!/^[1-9][0-9]*$/.test(value)) throw new InvalidArgumentError("versions are positive integers.");
  return Number(value);
}

/** --expected: the serving version you saw, or "none" when nothing was serving. */
export function parseExpected(value: string): number | null {
  if (value === "none" || value === "null") return null;
  if (!/^[1-9][0-9]*$/.test(value)) throw new InvalidArgumentError('expected a positive integer or "none".');
  return Number(value);
}

export function parsePercent(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0 || n > 100) throw new InvalidArgumentError("percent must be a number from 0 to 100.");
  return n;
}

// ---------- human output ----------

export function table(headers: string[], rows: Array<Array<string | number | null | undefined>>): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === null || c === undefined || c === "" ? "-" : String(c))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")).join("\n");
}

export const v = (n: number | null | undefined): string => (n === null || n === undefined ? "none" : `v${n}`);

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

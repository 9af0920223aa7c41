// A Redis for tests: REDIS_URL if set (with a unique key prefix, cleaned up afterwards), else a
// private redis-server on a free port, started here and stopped after. Never the machine's
// shared 6379 unless REDIS_URL points there. The server runs under the reaper
// (dev/supervise.ts), so it also stops when the test process dies without calling stop().
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";

export type TestRedis = {
  url: string;
  /** A key prefix unique to this test file: pass it to the trainer's --prefix. */
  prefix: string;
  /** True when the server was started here (and is stopped by stop()). */
  owned: boolean;
  stop(): Promise<void>;
};

import { freePort } from "./local";
import { supervise } from "./supervise";

export { freePort };

async function waitForPing(url: string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on("error", () => {});
    try {
      await r.connect();
      if ((await r.ping()) === "PONG") return;
    } catch (err) {
      last = err;
    } finally {
      r.disconnect();
    }
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`redis at ${url} did not answer PING within ${timeoutMs} ms: ${String(last)}`);
}

async function deleteByPrefix(url: string, prefix: string): Promise<void> {
  const r = new Redis(url, { maxRetriesPerRequest: 1 });
  r.on("error", () => {});
  try {
    let cursor = "0";
    do {
      const [next, keys] = await r.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      cursor = next;
      if (keys.length) await r.unlink(...keys);
    } while (cursor !== "0");
  } finally {
    r.disconnect();
  }
}

export async function startRedis(): Promise<TestRedis> {
  const prefix = `mtest-${randomBytes(4).toString("hex")}`;
  const external = process.env.REDIS_URL?.trim();
  if (external) {
    await waitForPing(external, 5000);
    return { url: external, prefix, owned: false, stop: () => deleteByPrefix(external, prefix) };
  }
  const port = await freePort();
  const server = supervise("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    stdout: "ignore",
    graceMs: 3000,
  });
  const proc = server.process;
  let stderr = "";
  proc.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const spawnError = new Promise<never>((_, reject) => {
    proc.once("exit", (code) =>
      reject(new Error(code === 127 ? `cannot start redis-server (is it installed?): ${stderr.trim()}` : `redis-server exited with ${code}: ${stderr.trim()}`)),
    );
  });
  spawnError.catch(() => {});
  const url = `redis://127.0.0.1:${port}`;
  await Promise.race([waitForPing(url, 10_000), spawnError]);
  return {
    url,
    prefix,
    owned: true,
    stop: server.stop,
  };
}

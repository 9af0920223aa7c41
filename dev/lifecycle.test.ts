// Nothing outlives what started it: `npm start` stopped by SIGTERM (also mid-seeding), SIGHUP or
// SIGKILL of its whole process group, and the harnesses (startDev, the test Redis, training
// workers) when the process using them is SIGKILLed. Every process below the starter is recorded
// from /proc while it runs (pid + start time, so a reused pid is not mistaken for a survivor) and
// must be gone afterwards; the ports must be free. Also: `npm start`'s ready line means ready to
// predict.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { freePort, ROOT } from "./local";

type Proc = { pid: number; ppid: number; state: string; start: string; cmd: string };

function stat(pid: number): Proc | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = s.slice(s.lastIndexOf(")") + 2).split(" "); // fields after comm: state ppid pgrp ... starttime (22nd)
    const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ").trim();
    return { pid, ppid: Number(f[1]), state: f[0]!, start: f[19]!, cmd };
  } catch {
    return null; // gone meanwhile
  }
}

/** Every live process below `root` (by ppid links), the root included. */
function tree(root: number): Proc[] {
  const all = readdirSync("/proc").filter((e) => /^\d+$/.test(e)).flatMap((e) => stat(Number(e)) ?? []);
  const below = new Map<number, Proc>();
  const rootProc = all.find((p) => p.pid === root);
  if (rootProc) below.set(root, rootProc);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of all) if (below.has(p.ppid) && !below.has(p.pid) && p.state !== "Z") grew = Boolean(below.set(p.pid, p));
  }
  return [...below.values()];
}

/** Whatever a test started is killed after it, passed or failed (a failing one must not leak). */
const started: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((kill) => kill()));
});

/** Keeps recording `root`'s tree until stopped (processes appear while it starts up). */
function track(root: number) {
  const seen = new Map<string, Proc>();
  const add = () => tree(root).forEach((p) => seen.set(`${p.pid}:${p.start}`, p));
  add();
  const timer = setInterval(add, 100);
  const tracked = {
    stop: () => (add(), clearInterval(timer)),
    seen: () => [...seen.values()],
  };
  started.push(() => (tracked.stop(), survivors(tracked.seen(), 0)));
  return tracked;
}

const running = (p: Proc) => {
  const now = stat(p.pid);
  return now !== null && now.start === p.start && now.state !== "Z";
};

/** Waits until none of `procs` runs; returns (and kills, so a failing test leaks nothing) the survivors. */
async function survivors(procs: Proc[], ms: number): Promise<string[]> {
  const until = Date.now() + ms;
  while (procs.some(running) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
  const left = procs.filter(running);
  for (const p of left) {
    try {
      process.kill(p.pid, "SIGKILL");
    } catch {}
  }
  return left.map((p) => `${p.pid} ${p.cmd.slice(0, 160)}`);
}

function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => (s.destroy(), resolve(true)));
    s.once("error", () => resolve(false));
  });
}

/** Output of a child, and a wait for a line matching `re`. */
function lines(child: ChildProcess) {
  let out = "";
  const waiters: Array<{ re: RegExp; resolve: (m: RegExpMatchArray) => void }> = [];
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const w of [...waiters]) {
      const m = out.match(w.re);
      if (m) waiters.splice(waiters.indexOf(w), 1), w.resolve(m);
    }
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  return {
    output: () => out,
    exited,
    async wait(re: RegExp, ms: number): Promise<RegExpMatchArray> {
      const m = out.match(re);
      if (m) return m;
      let timer: NodeJS.Timeout | undefined;
      try {
        return await Promise.race([
          new Promise<RegExpMatchArray>((resolve) => waiters.push({ re, resolve })),
          exited.then(() => Promise.reject(new Error(`exited before ${re}:\n${out.slice(-3000)}`))),
          new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no ${re} within ${ms} ms:\n${out.slice(-3000)}`)), ms))),
        ]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

const WORKERD = /workerd-linux-64\/bin\/workerd|bin\/workerd serve/;
const state = mkdtempSync(join(tmpdir(), "meridian-lifecycle-"));
afterAll(() => rmSync(state, { recursive: true, force: true }));

describe("npm start", () => {
  /** `npm start` in its own process group, on a free port with this file's state dir. */
  async function npmStart() {
    const port = await freePort();
    const child = spawn("npm", ["start"], {
      cwd: ROOT,
      env: { ...process.env, PORT: String(port), MERIDIAN_STATE_DIR: state },
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    return { child, port, out: lines(child), procs: track(child.pid!) };
  }

  async function expectAllGone(s: Awaited<ReturnType<typeof npmStart>>, signal: NodeJS.Signals) {
    const seen = s.procs.seen();
    expect(seen.filter((p) => WORKERD.test(p.cmd)).length, "both workerd seen").toBeGreaterThanOrEqual(2);
    process.kill(-s.child.pid!, signal);
    await s.out.exited;
    s.procs.stop();
    expect(await survivors(s.procs.seen(), 15_000), `left running after ${signal}`).toEqual([]);
    expect(await portInUse(s.port)).toBe(false);
  }

  it("SIGTERM while seeding stops wrangler and both workerd", async () => {
    const s = await npmStart();
    await s.out.wait(/meridian: \S+: published v\d/, 90_000); // wrangler serves, seeding under way
    await expectAllGone(s, "SIGTERM");
    expect(s.out.output()).not.toMatch(/ready to predict/);
  });

  it("prints the ready line once it predicts; SIGTERM then stops everything", async () => {
    const s = await npmStart();
    const [, url, n] = await s.out.wait(/meridian: ready to predict on (http:\/\/127\.0\.0\.1:\d+) \((\d+) models\)/, 90_000);
    expect(url).toBe(`http://127.0.0.1:${s.port}`);
    expect(Number(n)).toBe(7);
    const res = await fetch(`${url}/v2/models/iris/infer`, {
      method: "POST",
      body: JSON.stringify({ inputs: [{ name: "measurements", datatype: "FP32", shape: [1, 4], data: [5.1, 3.5, 1.4, 0.2] }] }),
    });
    expect(res.status, await res.clone().text()).toBe(200);
    await expectAllGone(s, "SIGTERM");
  });

  for (const signal of ["SIGHUP", "SIGKILL"] as const) {
    it(`${signal} to its process group stops everything`, async () => {
      const s = await npmStart();
      await s.out.wait(/meridian: ready to predict on/, 90_000);
      await expectAllGone(s, signal);
    });
  }
});

describe("harnesses, when the process using them is SIGKILLed", () => {
  /** Runs `code` (TypeScript, top-level await) in a child node with tsx. */
  function script(code: string) {
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], {
      cwd: ROOT,
      env: { ...process.env, REDIS_URL: "" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    return { child, out: lines(child), procs: track(child.pid!) };
  }
  const mod = (path: string) => JSON.stringify(pathToFileURL(join(ROOT, path)).href);

  it("startDev: wrangler dev and both workerd", async () => {
    const s = script(`
      const { startDev } = await import(${mod("dev/local.ts")});
      const server = await startDev({ stateDir: ${JSON.stringify(join(state, "dev"))}, readyPath: "/v2/health/live" });
      console.log("up " + server.url);
    `);
    const [, port] = await s.out.wait(/up http:\/\/127\.0\.0\.1:(\d+)/, 90_000);
    await new Promise((r) => setTimeout(r, 300)); // let the tracker see the second workerd
    expect(s.procs.seen().filter((p) => WORKERD.test(p.cmd)).length).toBeGreaterThanOrEqual(2);
    s.child.kill("SIGKILL");
    await s.out.exited;
    s.procs.stop();
    expect(await survivors(s.procs.seen(), 15_000)).toEqual([]);
    expect(await portInUse(Number(port))).toBe(false);
  });

  it("the test Redis and a training worker", async () => {
    const s = script(`
      const { startRedis } = await import(${mod("dev/redis.ts")});
      const { spawnWorker } = await import(${mod("dev/workers.ts")});
      const redis = await startRedis();
      await spawnWorker({ redisUrl: redis.url, prefix: redis.prefix });
      console.log("up " + redis.url);
    `);
    const [, port] = await s.out.wait(/up redis:\/\/127\.0\.0\.1:(\d+)/, 60_000);
    const seen = s.procs.seen();
    expect(seen.some((p) => /^redis-server /.test(p.cmd))).toBe(true);
    expect(seen.some((p) => / worker --json /.test(p.cmd))).toBe(true);
    s.child.kill("SIGKILL");
    await s.out.exited;
    s.procs.stop();
    expect(await survivors(s.procs.seen(), 15_000)).toEqual([]);
    expect(await portInUse(Number(port))).toBe(false);
  });
});

describe("reaper", () => {
  const REAPER = join(ROOT, "dev", "reaper.mjs");
  const reaper = (sh: string) => {
    const c = spawn(process.execPath, [REAPER, "500", "sh", "-c", sh], { stdio: ["pipe", "pipe", "pipe"] });
    track(c.pid!); // only for the cleanup after a failure
    return c;
  };
  const exit = (c: ChildProcess) => new Promise<[number | null, string | null]>((r) => c.once("exit", (code, sig) => r([code, sig])));

  it("exits as the command did, after stopping what the command left in its group", async () => {
    const c = reaper("sleep 60 & echo $!; exit 3");
    const out = lines(c);
    const [, pid] = await out.wait(/(\d+)\n/, 5000);
    const orphan = stat(Number(pid))!;
    expect(await exit(c)).toEqual([3, null]);
    expect(running(orphan)).toBe(false);
  });

  it("a signal name on stdin goes to the group (SIGKILL: no grace), and it exits with that signal", async () => {
    const c = reaper("trap '' TERM; echo up; sleep 60");
    await lines(c).wait(/up/, 5000);
    const t0 = Date.now();
    c.stdin!.write("SIGKILL\n");
    expect(await exit(c)).toEqual([null, "SIGKILL"]);
    expect(Date.now() - t0).toBeLessThan(400);
  });

  it("stdin closing (the parent died) stops the group, SIGKILL after the grace period", async () => {
    const c = reaper("trap '' TERM; sleep 60 & echo $!; wait");
    const [, pid] = await lines(c).wait(/(\d+)\n/, 5000);
    const sleeper = stat(Number(pid))!;
    c.stdin!.end();
    expect(await exit(c)).toEqual([null, "SIGKILL"]);
    expect(running(sleeper)).toBe(false);
  });
});

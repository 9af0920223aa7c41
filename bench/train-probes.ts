// Machine probes for `npm run bench:train`: what the hardware allows at the moment, so that the
// cluster's figures can be read against a ceiling and a floor measured in the same run.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { Worker as Thread } from "node:worker_threads";
import type { Dataset } from "../trainer/data";
import { computeGradient, gatherRows, initParams } from "../trainer/train/model";
import { summarize } from "./lib";

/**
 * How many cores this process can actually get right now: the same CPU-bound loop on 1 thread,
 * then on 2 threads at once. 2.0 means two idle cores; on a machine shared with other jobs it is
 * less, and no 2-worker speed-up can exceed it.
 */
export async function parallelCapacity(): Promise<{ oneMs: number; twoMs: number; cores: number }> {
  const src = `
    const { parentPort } = require("node:worker_threads");
    let x = 0;
    const t0 = performance.now();
    for (let i = 0; i < 150_000_000; i++) x = (x + Math.imul(i, 2654435761)) | 0;
    parentPort.postMessage({ ms: performance.now() - t0, x });`;
  const run = (n: number): Promise<number> =>
    Promise.all(
      Array.from(
        { length: n },
        () =>
          new Promise<number>((resolve, reject) => {
            const t = new Thread(src, { eval: true });
            t.once("message", (m: { ms: number }) => resolve(m.ms));
            t.once("error", reject);
          }),
      ),
    ).then((ms) => Math.max(...ms));
  await run(1); // warm-up
  const oneMs = Math.min(await run(1), await run(1));
  const twoMs = Math.min(await run(2), await run(2));
  return { oneMs, twoMs, cores: (2 * oneMs) / twoMs };
}

/**
 * The floor under any Redis-mediated step: a payload goes from this thread to another (RPUSH →
 * BLPOP) and the same size comes back — two hops and two wake-ups, like weights out and a
 * gradient back. Median round trip in ms over `n` tries.
 */
export async function redisPingPong(url: string, bytes: number, n = 40): Promise<number> {
  const src = `
    const { parentPort, workerData } = require("node:worker_threads");
    const { Redis } = require("ioredis");
    const r = new Redis(workerData.url);
    (async () => {
      parentPort.postMessage("ready");
      for (;;) {
        const got = await r.blpopBuffer(workerData.ping, 0);
        if (got[1].length === 1) break;
        await r.rpush(workerData.pong, got[1]);
      }
      r.disconnect();
    })();`;
  const tag = Math.random().toString(36).slice(2, 8);
  const keys = { ping: `bench-ping-${tag}`, pong: `bench-pong-${tag}` };
  const t = new Thread(src, { eval: true, workerData: { url, ...keys } });
  await new Promise((res) => t.once("message", res));
  const { Redis } = await import("ioredis");
  const r = new Redis(url);
  const payload = Buffer.alloc(bytes, 7);
  const times: number[] = [];
  for (let i = 0; i < n + 3; i++) {
    const t0 = performance.now();
    await r.rpush(keys.ping, payload);
    await r.blpopBuffer(keys.pong, 5);
    if (i >= 3) times.push(performance.now() - t0);
  }
  await r.rpush(keys.ping, Buffer.from("x"));
  r.disconnect();
  await new Promise((res) => t.once("exit", res));
  return summarize(times).median;
}

/** Late enough for both children to have started and warmed up (tsx start-up takes seconds here). */
const START_DELAY_MS = 8000;

/**
 * The compute-only ceiling for 2 workers, without Redis or BullMQ: the gradient of the full batch
 * in one process, then in two processes at once either half the batch each ("split": strong
 * scaling; ceiling = full ÷ half, at most 2) or the full batch each ("replicate": weak scaling;
 * ceiling = full alone ÷ full beside another, at most 1) (median ms each). The two start computing
 * at the same agreed instant and keep going for the same wall time (`measureMs`), so their
 * measured steps really overlap (process start-up varies by more than a whole measurement). On
 * this kind of VM the two slow each other down (shared memory bandwidth), so splitting a batch
 * gains less than 2x before any coordination cost.
 */
export async function splitCeiling(
  sizes: number[],
  batch: number,
  measureMs: number,
  mode: "split" | "replicate" = "split",
): Promise<{ fullMs: number; halfConcurrentMs: number; ceiling: number }> {
  const root = join(import.meta.dirname, "..");
  const code = `(async () => {
    const [b, m, d] = await Promise.all([import(${JSON.stringify(join(root, "trainer/train/backend.ts"))}), import(${JSON.stringify(join(root, "trainer/train/model.ts"))}), import(${JSON.stringify(join(root, "shared/random.ts"))})]);
    await b.selectBackend(${JSON.stringify(process.env.BENCH_BACKEND ?? "auto")});
    const sizes = ${JSON.stringify(sizes)}; const rows = Number(process.argv[1]); const startAt = Number(process.argv[2]);
    const p = m.initParams(sizes, 1); const x = d.normalRows(rows, sizes[0], 2).map(Math.abs);
    const y = Int32Array.from({ length: rows }, (_, i) => i % sizes[sizes.length - 1]);
    for (let i = 0; i < 3; i++) m.computeGradient(sizes, p, x, y); // warm-up
    while (Date.now() < startAt) await new Promise((r) => setTimeout(r, Math.min(50, startAt - Date.now())));
    const t = [];
    while (Date.now() < startAt + ${measureMs} || t.length < 5) { const t0 = performance.now(); m.computeGradient(sizes, p, x, y); t.push(performance.now() - t0); }
    t.sort((a, b) => a - b); process.stdout.write(String(t[t.length >> 1]));
  })()`;
  const run = (rows: number, startAt = Date.now() + START_DELAY_MS): Promise<number> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ["--import", "tsx", "-e", code, String(rows), String(startAt)], { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
      let out = "";
      child.stdout.on("data", (d: Buffer) => (out += d.toString()));
      child.on("close", (c) => (c === 0 ? resolve(Number(out)) : reject(new Error(`split probe exited with ${c}`))));
    });
  const fullMs = await run(batch);
  const startAt = Date.now() + START_DELAY_MS;
  const rows = mode === "split" ? [Math.ceil(batch / 2), Math.floor(batch / 2)] : [batch, batch];
  const halves = await Promise.all(rows.map((n) => run(n, startAt)));
  const halfConcurrentMs = Math.max(...halves);
  return { fullMs, halfConcurrentMs, ceiling: fullMs / halfConcurrentMs };
}

/**
 * In-process gradient time for a batch of `batch` rows: the minimum of 7 runs after 2 warm-ups
 * (on a shared machine the minimum is the least disturbed figure).
 */
export function gradientMs(data: Dataset, sizes: number[], batch: number): number {
  const params = initParams(sizes, 1);
  const rows = Int32Array.from({ length: batch }, (_, i) => i % data.train.rows);
  const x = gatherRows(data.train.x, data.features, rows);
  const y = Int32Array.from(rows, (r) => data.train.y[r]!);
  const times: number[] = [];
  for (let i = 0; i < 9; i++) {
    const t0 = performance.now();
    computeGradient(sizes, params, x, y);
    times.push(performance.now() - t0);
  }
  return Math.min(...times.slice(2));
}

/** The (even) batch whose in-process gradient takes about `targetMs`: doubling, then interpolation. */
export function calibrateBatch(data: Dataset, sizes: number[], targetMs: number): { batch: number; probes: { batch: number; ms: number }[] } {
  const probes = [{ batch: 32, ms: gradientMs(data, sizes, 32) }];
  while (probes.at(-1)!.ms < targetMs && probes.at(-1)!.batch < 8192) {
    const batch = probes.at(-1)!.batch * 2;
    probes.push({ batch, ms: gradientMs(data, sizes, batch) });
  }
  let batch = probes.at(-1)!.batch;
  if (probes.length >= 2) {
    const [a, b] = probes.slice(-2) as [{ batch: number; ms: number }, { batch: number; ms: number }];
    const perRow = (b.ms - a.ms) / (b.batch - a.batch);
    if (perRow > 0) batch = a.batch + (targetMs - a.ms) / perRow;
  }
  batch = Math.min(Math.max(Math.round(batch / 2) * 2, 32), 8192);
  probes.push({ batch, ms: gradientMs(data, sizes, batch) });
  return { batch, probes };
}

/**
 * splitCeiling measured three times, the median kept: one probe disturbed by a passing job can
 * read far off (a "split" ceiling below 1x, or near 3x, on two cores).
 */
export async function medianCeiling(sizes: number[], batch: number, measureMs: number, mode: "split" | "replicate" = "split"): Promise<Awaited<ReturnType<typeof splitCeiling>>> {
  const probes = [];
  for (let i = 0; i < 3; i++) probes.push(await splitCeiling(sizes, batch, measureMs, mode));
  return probes.sort((a, b) => a.ceiling - b.ceiling)[1]!;
}

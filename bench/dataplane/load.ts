// Load generators, each measuring the Worker's CPU around what it sends:
//  - closedLoop: autocannon, fixed connections, each sends its next request when the last answered
//  - openLoop: a fixed arrival rate (requests evenly spaced in time, sent whether or not earlier
//    ones answered; latency counted from each request's scheduled time, so a server or client that
//    falls behind is charged for it). autocannon's -R is not that: it gives each connection a quota
//    per second, sent back to back at the start of each second (lib/httpClient.js _doRequest,
//    reqsMadeThisSecond), so its arrivals come in bursts.
//  - sequential: one request at a time (first request after a swap).
import { request as httpRequest, Agent } from "node:http";
import { createRequire } from "node:module";
import { percentile } from "../lib";
import { delta, snapshot, type CpuDelta, type DevProcesses } from "./proc";

const require = createRequire(import.meta.url);

export interface HttpRequest {
  method: "GET" | "POST";
  path: string;
  headers?: Record<string, string>;
  body?: Buffer;
}

/** A request, or a request made anew for each send (unique inputs). */
export type RequestSource = HttpRequest | { make: () => HttpRequest };

interface AutocannonResult {
  duration: number;
  errors: number;
  timeouts: number;
}
interface AutocannonClient {
  on(event: "headers", fn: (info: { statusCode: number; headers: string[] }) => void): void;
}
type Autocannon = (
  opts: Record<string, unknown>,
  done: (err: Error | null, result: AutocannonResult) => void,
) => { on(event: "response", fn: (client: unknown, status: number, bytes: number, ms: number) => void): void; stop(): void };
const autocannon = require("autocannon") as Autocannon;

/** What a load run saw: the client's side, the response headers we count, and the processes' CPU. */
export interface LoadRun {
  responses: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  wallS: number;
  reqPerS: number;
  p50Ms: number;
  p99Ms: number;
  /** Mean bytes received per response (status line, headers and body). */
  responseBytes: number;
  /** Answers by HTTP status, and the first bodies of answers that were not 2xx (up to 3 distinct, truncated). */
  statuses: Record<string, number>;
  errorBodies: string[];
  /** x-meridian-cache values seen, and x-meridian-batch-rows (sum, count). */
  cache: Record<string, number>;
  batchRows: { sum: number; n: number };
  cpu: CpuDelta;
  /** CPU ms per answered request: the Worker's workerd (utime+stime), the same by schedstat, wrangler's proxy workerd, this bench process. */
  workerCpuMsPerReq: number;
  workerSchedMsPerReq: number;
  proxyCpuMsPerReq: number;
  benchCpuMsPerReq: number;
}

function finish(
  cpu: CpuDelta,
  latencies: number[],
  counts: { responses: number; ok: number; non2xx: number; errors: number; timeouts: number; bytes: number },
  headers: { cache: Record<string, number>; batchRows: { sum: number; n: number } },
  statuses: Record<string, number>,
  errorBodies: string[],
): LoadRun {
  const sorted = latencies.sort((a, b) => a - b);
  const n = Math.max(1, counts.responses);
  const wallS = cpu.wallMs / 1000;
  return {
    responses: counts.responses,
    ok: counts.ok,
    non2xx: counts.non2xx,
    errors: counts.errors,
    timeouts: counts.timeouts,
    wallS,
    reqPerS: counts.responses / wallS,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    responseBytes: counts.bytes / n,
    statuses,
    errorBodies,
    cache: headers.cache,
    batchRows: headers.batchRows,
    cpu,
    workerCpuMsPerReq: cpu.workerMs / n,
    workerSchedMsPerReq: cpu.workerSchedMs / n,
    proxyCpuMsPerReq: cpu.proxyMs / n,
    benchCpuMsPerReq: cpu.benchMs / n,
  };
}

function headerCounter() {
  const cache: Record<string, number> = {};
  const batchRows = { sum: 0, n: 0 };
  const see = (name: string, value: string) => {
    const key = name.toLowerCase();
    if (key === "x-meridian-cache") cache[value] = (cache[value] ?? 0) + 1;
    else if (key === "x-meridian-batch-rows") {
      batchRows.sum += Number(value);
      batchRows.n++;
    }
  };
  return { cache, batchRows, see };
}

/**
 * autocannon with `connections` connections for `durationS` seconds (or `amount` requests), the
 * Worker's CPU read right before and right after.
 */
export async function closedLoop(
  url: string,
  procs: DevProcesses,
  source: RequestSource,
  opts: { connections: number; durationS?: number; amount?: number; timeoutS?: number },
): Promise<LoadRun> {
  const latencies: number[] = [];
  const counts = { responses: 0, ok: 0, non2xx: 0, errors: 0, timeouts: 0, bytes: 0 };
  const headers = headerCounter();
  const statuses: Record<string, number> = {};
  const errorBodies: string[] = [];
  const first = "make" in source ? source.make() : source;
  const request: Record<string, unknown> = { method: first.method, path: first.path, headers: first.headers ?? {} };
  if (first.body) request.body = first.body;
  if ("make" in source) {
    request.setupRequest = (req: Record<string, unknown>) => {
      const next = source.make();
      return { ...req, method: next.method, path: next.path, headers: next.headers ?? {}, body: next.body };
    };
  }
  const before = await snapshot(procs);
  const result = await new Promise<AutocannonResult>((resolve, reject) => {
    const instance = autocannon(
      {
        url,
        connections: opts.connections,
        ...(opts.amount ? { amount: opts.amount } : { duration: opts.durationS ?? 5 }),
        timeout: opts.timeoutS ?? 30,
        requests: [request],
        setupClient: (client: AutocannonClient) =>
          client.on("headers", (info) => {
            const h = info.headers;
            for (let i = 0; i + 1 < h.length; i += 2) headers.see(h[i]!, h[i + 1]!);
          }),
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    instance.on("response", (_client, status, bytes, ms) => {
      statuses[status] = (statuses[status] ?? 0) + 1;
      counts.responses++;
      counts.bytes += bytes;
      if (status >= 200 && status < 300) {
        counts.ok++;
        latencies.push(ms);
      } else counts.non2xx++;
    });
  });
  const after = await snapshot(procs);
  counts.errors = result.errors;
  counts.timeouts = result.timeouts;
  const cpu = delta(before, after);
  return finish(cpu, latencies, counts, headers, statuses, errorBodies);
}

export interface OpenLoopRun extends LoadRun {
  offeredPerS: number;
  /** Answered (2xx) requests per second, from the first scheduled send to the last answer. */
  achievedPerS: number;
  /** How late the generator sent requests against their schedule (its own lag on a busy machine). */
  sendLagP99Ms: number;
  /** Requests still unanswered when the run gave up on them (counted as timeouts). */
  abandoned: number;
}

/**
 * `rate` requests per second for `durationS` seconds, evenly spaced, over at most `connections`
 * keep-alive connections (beyond that they queue in the client, and the wait counts in their latency).
 */
export async function openLoop(
  url: string,
  procs: DevProcesses,
  req: HttpRequest,
  opts: { rate: number; durationS: number; connections: number; timeoutMs: number },
): Promise<OpenLoopRun> {
  const { hostname, port } = new URL(url);
  const agent = new Agent({ keepAlive: true, maxSockets: opts.connections, maxFreeSockets: opts.connections });
  const total = Math.max(1, Math.round(opts.rate * opts.durationS));
  const spacing = 1000 / opts.rate;
  const latencies: number[] = [];
  const lags: number[] = [];
  const counts = { responses: 0, ok: 0, non2xx: 0, errors: 0, timeouts: 0, bytes: 0 };
  const headers = headerCounter();
  const statuses: Record<string, number> = {};
  const errorBodies: string[] = [];
  const pending = new Set<Promise<void>>();
  let lastAnswer = 0;
  const body = req.body ?? Buffer.alloc(0);
  const reqHeaders = { ...req.headers, "content-length": String(body.byteLength) };

  const fire = (due: number) => {
    lags.push(performance.now() - due);
    let settled = false;
    const p = new Promise<void>((resolve) => {
      const done = (kind: "ok" | "non2xx" | "error" | "timeout", bytes = 0, status?: number, text?: string) => {
        if (settled) return;
        const label = status !== undefined ? String(status) : kind;
        statuses[label] = (statuses[label] ?? 0) + 1;
        if (text !== undefined && errorBodies.length < 3 && !errorBodies.includes(text)) errorBodies.push(text);
        settled = true;
        clearTimeout(timer);
        const now = performance.now();
        if (kind === "ok" || kind === "non2xx") {
          counts.responses++;
          counts.bytes += bytes;
          lastAnswer = now;
        }
        if (kind === "ok") {
          counts.ok++;
          latencies.push(now - due);
        } else if (kind === "non2xx") counts.non2xx++;
        else if (kind === "error") counts.errors++;
        else counts.timeouts++;
        resolve();
      };
      const r = httpRequest({ hostname, port, path: req.path, method: req.method, headers: reqHeaders, agent }, (res) => {
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === "string") headers.see(k, v);
        let bytes = 0;
        const ok = res.statusCode! >= 200 && res.statusCode! < 300;
        const kept: Buffer[] = [];
        res.on("data", (chunk: Buffer) => {
          bytes += chunk.byteLength;
          if (!ok) kept.push(chunk);
        });
        res.on("end", () => done(ok ? "ok" : "non2xx", bytes, res.statusCode, ok ? undefined : `${res.statusCode} ${Buffer.concat(kept).toString("utf8").slice(0, 160)}`));
        res.on("error", () => done("error"));
      });
      const timer = setTimeout(() => {
        done("timeout");
        r.destroy();
      }, opts.timeoutMs + Math.max(0, due - performance.now()));
      r.on("error", () => done("error"));
      r.end(body);
    });
    pending.add(p);
    void p.then(() => pending.delete(p));
  };

  const before = await snapshot(procs);
  const t0 = performance.now() + 5;
  let i = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      while (i < total && t0 + i * spacing <= now) fire(t0 + i++ * spacing);
      if (i >= total) return resolve();
      setTimeout(tick, Math.max(0, t0 + i * spacing - performance.now())); // Node waits at least 1 ms
    };
    setTimeout(tick, 5);
  });
  const abandoned = pending.size;
  await Promise.all(pending);
  const after = await snapshot(procs);
  agent.destroy();
  const cpu = delta(before, after);
  const run = finish(cpu, latencies, counts, headers, statuses, errorBodies);
  const sortedLags = lags.sort((a, b) => a - b);
  return {
    ...run,
    offeredPerS: opts.rate,
    achievedPerS: lastAnswer > t0 ? counts.ok / ((lastAnswer - t0) / 1000) : 0,
    sendLagP99Ms: percentile(sortedLags, 99),
    abandoned: Math.min(abandoned, counts.timeouts),
  };
}

/** One request over a keep-alive agent: status, wall ms (send → last byte), headers, body. */
export async function timed(url: string, req: HttpRequest, agent?: Agent): Promise<{ status: number; ms: number; headers: Record<string, string>; body: Buffer }> {
  const { hostname, port } = new URL(url);
  const body = req.body ?? Buffer.alloc(0);
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const r = httpRequest({ hostname, port, path: req.path, method: req.method, headers: { ...req.headers, "content-length": String(body.byteLength) }, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const h: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === "string") h[k] = v;
        resolve({ status: res.statusCode!, ms: performance.now() - t0, headers: h, body: Buffer.concat(chunks) });
      });
      res.on("error", reject);
    });
    r.on("error", reject);
    r.end(body);
  });
}

/** Exact bytes on the wire of one exchange on a fresh connection: request and response, headers included, and the bodies alone. */
export async function wireBytes(url: string, req: HttpRequest): Promise<{ status: number; requestBytes: number; responseBytes: number; requestBodyBytes: number; responseBodyBytes: number }> {
  const { hostname, port } = new URL(url);
  const body = req.body ?? Buffer.alloc(0);
  return new Promise((resolve, reject) => {
    const r = httpRequest({ hostname, port, path: req.path, method: req.method, headers: { ...req.headers, "content-length": String(body.byteLength), connection: "close" }, agent: false }, (res) => {
      let bodyBytes = 0;
      res.on("data", (c: Buffer) => (bodyBytes += c.byteLength));
      res.on("end", () => {
        const socket = r.socket!;
        const measure = () => resolve({ status: res.statusCode!, requestBytes: socket.bytesWritten, responseBytes: socket.bytesRead, requestBodyBytes: body.byteLength, responseBodyBytes: bodyBytes });
        if (socket.destroyed) measure();
        else socket.once("close", measure);
      });
      res.on("error", reject);
    });
    r.on("error", reject);
    r.end(body);
  });
}

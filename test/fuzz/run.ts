// Runs a fuzz campaign against a server: bad cases with bounded concurrency over keep-alive,
// valid controls in between, and the known predictions compared before and after.
import type { Agent } from "node:http";
import { isDeepStrictEqual } from "node:util";
import { Tally } from "./classify";
import { controlCase, generateCase, type FuzzCase, type GenContext, type Kind } from "./generate";
import { toJson } from "./json";
import { Rng } from "./prng";
import { keepAliveAgent, send } from "./send";
import { knownIrisRequest, validOip, type ModelInfo } from "./valid";

export interface RunOptions {
  url: string;
  ctx: GenContext;
  seed: number;
  count: number;
  concurrency: number;
  timeoutMs: number;
  /** One valid control request after every this many bad ones. */
  controlEvery: number;
  /** Only these kinds (default: all). */
  kinds?: readonly Kind[];
  onProgress?: (done: number, tally: Tally) => void;
}

export interface PredictionCheck {
  ok: boolean;
  /** Model names whose outputs changed, or that no longer answered 200. */
  changed: string[];
}

export interface RunResult {
  tally: Tally;
  check: PredictionCheck;
  seconds: number;
}

/** One fixed request per model (the known Iris rows for iris): outputs must not change during a run. */
export function knownRequests(models: readonly ModelInfo[]): Array<{ model: string; body: string }> {
  return models.map((m) => ({
    model: m.name,
    body: toJson(m.name === "iris" ? knownIrisRequest() : validOip(new Rng(1234), m, 2)),
  }));
}

export async function predictions(url: string, models: readonly ModelInfo[]): Promise<Map<string, unknown>> {
  const out = new Map<string, unknown>();
  for (const { model, body } of knownRequests(models)) {
    const res = await fetch(`${url}/v2/models/${model}/infer`, { method: "POST", headers: { "content-type": "application/json" }, body });
    const json: unknown = await res.json().catch(() => null);
    out.set(model, res.status === 200 ? (json as { outputs?: unknown }).outputs : { status: res.status, json });
  }
  return out;
}

export function comparePredictions(before: Map<string, unknown>, after: Map<string, unknown>): PredictionCheck {
  const changed = [...before.keys()].filter((m) => !isDeepStrictEqual(before.get(m), after.get(m)));
  const answered = [...before.values()].every((v) => Array.isArray(v));
  return { ok: changed.length === 0 && answered, changed };
}

/** A control must answer 200 with predictions. */
function controlOk(status: number, body: Buffer): string | null {
  if (status !== 200) return `status ${status}: ${body.toString("utf8").slice(0, 200)}`;
  try {
    const json = JSON.parse(body.toString("utf8")) as { outputs?: unknown; predictions?: unknown };
    return Array.isArray(json.outputs) || Array.isArray(json.predictions) ? null : "200 without outputs";
  } catch {
    return "200 whose body is not JSON";
  }
}

/**
 * Lets cases run side by side, except "solo" ones, which run alone. A body over the limit is
 * refused (413) before the Worker has read it; under `wrangler dev` the proxy in front of the
 * Worker is then still streaming it, and the connection between the two breaks: whichever request
 * uses it next fails with the proxy's own 503 ("worker restarted mid-request"; a GET or HEAD hangs
 * instead, queued for a reload that never comes). That is the harness, not an answer of the
 * Worker, so an oversize case runs alone and a throwaway request takes the broken connection
 * before anything else runs. A waiting solo case holds back new ones, so it cannot starve.
 */
class Gate {
  private active = 0;
  private solo = false;
  private soloWaiting = 0;
  private waiters: Array<() => void> = [];

  async run<T>(solo: boolean, fn: () => Promise<T>): Promise<T> {
    if (solo) this.soloWaiting++;
    while (this.solo || (solo ? this.active > 0 : this.soloWaiting > 0)) await new Promise<void>((r) => this.waiters.push(r));
    if (solo) {
      this.soloWaiting--;
      this.solo = true;
    }
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      if (solo) this.solo = false;
      for (const wake of this.waiters.splice(0)) wake();
    }
  }
}

/** Throwaway POSTs (not counted) until one is answered by the Worker rather than by the proxy. */
async function flushProxy(base: URL, agent: Agent, timeoutMs: number): Promise<void> {
  const probe: FuzzCase = { index: -1, kind: "flush", variant: "flush", method: "POST", path: "/__fuzz/flush", headers: {}, body: new Uint8Array([0x7b, 0x7d]), framing: "length" };
  for (let i = 0; i < 3; i++) {
    const o = await send(base, probe, agent, timeoutMs);
    if (o.type === "response" && o.status === 404) return;
  }
}

export async function runFuzz(opts: RunOptions): Promise<RunResult> {
  const t0 = performance.now();
  const base = new URL(opts.url);
  const agent = keepAliveAgent(opts.concurrency);
  const before = await predictions(opts.url, opts.ctx.models);
  const tally = new Tally();
  // Work items: bad case i, and a control after every controlEvery-th.
  const items: Array<() => FuzzCase> = [];
  for (let i = 0; i < opts.count; i++) {
    items.push(() => generateCase(opts.seed, i, opts.ctx, opts.kinds));
    if ((i + 1) % opts.controlEvery === 0) items.push(() => controlCase(opts.seed, i, opts.ctx));
  }
  let next = 0;
  let done = 0;
  const gate = new Gate();
  const worker = async () => {
    while (next < items.length) {
      const c = items[next++]!();
      const solo = (c.body?.length ?? 0) > opts.ctx.maxBodyBytes;
      const outcome = await gate.run(solo, async () => {
        const o = await send(base, c, agent, opts.timeoutMs);
        if (solo) await flushProxy(base, agent, opts.timeoutMs);
        return o;
      });
      tally.add(c, outcome, controlOk);
      opts.onProgress?.(++done, tally);
    }
  };
  try {
    await Promise.all(Array.from({ length: opts.concurrency }, worker));
  } finally {
    agent.destroy();
  }
  const after = await predictions(opts.url, opts.ctx.models);
  return { tally, check: comparePredictions(before, after), seconds: (performance.now() - t0) / 1000 };
}


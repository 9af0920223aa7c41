// Classifies fuzz outcomes: counts by status and by kind, and keeps a reproducer for every
// failure (a 5xx, a dropped connection, a 4xx without a JSON error, a control that went wrong).
import type { FuzzCase } from "./generate";
import type { Outcome } from "./send";

/**
 * "harness": an error page of `wrangler dev`'s own proxy (plain text, never the Worker's JSON),
 * seen when the hop between the proxy and the Worker breaks; listed, but it fails no run.
 */
export type FailureClass = "5xx" | "crash" | "bad-error-body" | "control" | "harness";

const PROXY_PAGES = ["Your worker restarted mid-request", "Cannot reconstruct a Request with a used body"];

export interface Reproducer {
  index: number;
  kind: string;
  variant: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  framing: FuzzCase["framing"];
  bodyBytes: number;
  /** The body's start (UTF-8, invalid bytes replaced), cut to keep the report readable. */
  bodySample: string;
}

export interface Failure {
  class: FailureClass;
  /** HTTP status, or null for a crash. */
  status: number | null;
  /** The response's error message, or the client-side error. */
  error: string;
  repro: Reproducer;
}

/** Answers that are not failures but deserve a look (e.g. a 200 whose outputs hold null). */
export interface Observation {
  count: number;
  example: Reproducer;
}

export interface KindCounts {
  total: number;
  /** Sum of the response times (ms): where a run's time goes. */
  totalMs: number;
  byStatus: Record<string, number>;
  failures: number;
}

const SAMPLE_CHARS = 300;
const MAX_KEPT_FAILURES = 2000;
const LARGE_ERROR_BYTES = 64 << 10;

export function reproducerOf(c: FuzzCase): Reproducer {
  const body = c.body ?? new Uint8Array(0);
  const text = Buffer.from(body.subarray(0, SAMPLE_CHARS * 4)).toString("utf8");
  const headers = Object.fromEntries(Object.entries(c.headers).map(([k, v]) => [k, v.length > 120 ? `${v.slice(0, 120)}… (${v.length} chars)` : v]));
  return {
    index: c.index,
    kind: c.kind,
    variant: c.variant,
    method: c.method,
    path: c.path.length > 300 ? `${c.path.slice(0, 300)}… (${c.path.length} chars)` : c.path,
    headers,
    framing: c.framing,
    bodyBytes: body.length,
    bodySample: text.length > SAMPLE_CHARS ? `${text.slice(0, SAMPLE_CHARS)}…` : text,
  };
}

/** The `error` of a JSON error body, or why the body is not one. */
export function errorBodyOf(body: Buffer): { ok: true; error: string } | { ok: false; why: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString("utf8"));
  } catch {
    return { ok: false, why: `not JSON: ${JSON.stringify(body.subarray(0, 80).toString("utf8"))}` };
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) return { ok: false, why: "not a JSON object" };
  const error = (parsed as { error?: unknown }).error;
  if (typeof error !== "string" || error.trim() === "") return { ok: false, why: `"error" is ${JSON.stringify(error) ?? "missing"}` };
  return { ok: true, error };
}

export class Tally {
  readonly byStatus = new Map<string, number>();
  readonly byKind = new Map<string, KindCounts>();
  readonly failures: Failure[] = [];
  readonly failureCounts: Record<FailureClass, number> = { "5xx": 0, crash: 0, "bad-error-body": 0, control: 0, harness: 0 };
  readonly observations = new Map<string, Observation>();
  sent = 0;
  controls = 0;
  bodyBytes = 0;

  add(c: FuzzCase, o: Outcome, controlOk?: (status: number, body: Buffer) => string | null): void {
    const status = o.type === "response" ? String(o.status) : "no response";
    if (c.kind === "control") this.controls++;
    else this.sent++;
    this.bodyBytes += c.body?.length ?? 0;
    this.byStatus.set(status, (this.byStatus.get(status) ?? 0) + 1);
    const k = this.kindCounts(c.kind);
    k.total++;
    k.totalMs += o.ms;
    k.byStatus[status] = (k.byStatus[status] ?? 0) + 1;
    if (o.type === "response" && o.status === 200 && !o.truncated) this.observe(c, o.body);
    if (o.type === "response" && o.status >= 400 && o.body.length > LARGE_ERROR_BYTES) this.note("error body over 64 KB (the message echoes the input)", c);
    const failure = this.judge(c, o, controlOk);
    if (failure) {
      k.failures++;
      this.failureCounts[failure.class]++;
      if (this.failures.length < MAX_KEPT_FAILURES) this.failures.push(failure);
    }
  }

  private judge(c: FuzzCase, o: Outcome, controlOk?: (status: number, body: Buffer) => string | null): Failure | null {
    const fail = (cls: FailureClass, status: number | null, error: string): Failure => ({ class: cls, status, error, repro: reproducerOf(c) });
    if (o.type === "failure") return fail("crash", null, o.error);
    if (o.status >= 500) {
      const text = o.body.subarray(0, 200).toString("utf8");
      if (PROXY_PAGES.some((p) => text.includes(p))) return fail("harness", o.status, text.slice(0, 120));
      const parsed = errorBodyOf(o.body);
      const retry = o.headers["retry-after"] ? ` (retry-after: ${String(o.headers["retry-after"])})` : "";
      return fail("5xx", o.status, (parsed.ok ? parsed.error : parsed.why) + retry);
    }
    if (c.kind === "control") {
      const why = controlOk ? controlOk(o.status, o.body) : o.status === 200 ? null : `status ${o.status}`;
      return why ? fail("control", o.status, why) : null;
    }
    // HEAD answers carry no body by definition.
    if (o.status >= 400 && c.method !== "HEAD") {
      const parsed = errorBodyOf(o.body);
      if (!parsed.ok) return fail("bad-error-body", o.status, parsed.why);
    }
    return null;
  }

  /** A successful prediction must be JSON; NaN outputs (serialised as null) are worth knowing about. */
  private observe(c: FuzzCase, body: Buffer): void {
    if (c.method !== "POST" || !/\/(infer|predict\/)/.test(c.path)) return;
    const note = (what: string) => this.note(what, c);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString("utf8"));
    } catch {
      return note("200 whose body is not JSON");
    }
    const text = JSON.stringify(parsed);
    if (/[[,]null[\],]/.test(text)) note("200 with null (NaN or Infinity) in the outputs");
  }

  private note(what: string, c: FuzzCase): void {
    const o = this.observations.get(what);
    if (o) o.count++;
    else this.observations.set(what, { count: 1, example: reproducerOf(c) });
  }

  private kindCounts(kind: string): KindCounts {
    let k = this.byKind.get(kind);
    if (!k) this.byKind.set(kind, (k = { total: 0, totalMs: 0, byStatus: {}, failures: 0 }));
    return k;
  }

  /** Failures that fail the run (harness pages excluded). */
  get failed(): number {
    const { harness: _, ...counts } = this.failureCounts;
    return Object.values(counts).reduce((a, b) => a + b, 0);
  }
}

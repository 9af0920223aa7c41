// The fleet API's shapes, shared by the edge that answers and the clients that read them: a
// window's figures per version, and a rollout with its gates and history. Types only.

/** What a request came to. */
export type Outcome = "success" | "client_error" | "server_error" | "rate_limited" | "unavailable";

export interface Figures {
  version: string;
  variant: string;
  /** Absent when PoPs are added up. */
  pop?: string;
  requests: number;
  /** Requests per second over the window. */
  rate: number;
  outcomes: Record<Outcome, number>;
  /** Server errors and unavailable answers, as a share of requests (0..1; 0 without requests). */
  errorRate: number;
  /** Client errors as a share of requests. */
  clientErrorRate: number;
  /** Whole-request latency quantiles in seconds (null without requests). */
  p50: number | null;
  p95: number | null;
  p99: number | null;
  /** Whole-request latency histogram: counts per bucket of `LATENCY_BUCKETS` (shared/metrics.ts), +Inf last. */
  latency: number[];
  /** session.run of the version: p99 (seconds, null without runs) and its histogram, as `latency`. */
  computeP99: number | null;
  compute: number[];
  /** Shadow runs only: rows whose answer agreed with what was served. */
  agreement?: { agree: number; disagree: number; rate: number | null };
  /** Requests this PoP forwarded or failed over to a peer (counted where they ran, too). */
  forwarded: number;
}

/** What `meridian rollout` asks for (every field but the version has a default at the edge). */
export interface RolloutSpec {
  version: number;
  steps: number[];
  intervalMs: number;
  maxErrorRate: number;
  maxP99Ratio: number;
  minRequests: number;
  minAgreement?: number;
  shadowPercent?: number;
  regions?: string[];
  pops?: string[];
  byRegion: boolean;
  expected?: number | null;
}

/** A part of the world a phase moves; null is everywhere (what earlier phases left). */
export type Scope = { regions: string[] } | { pops: string[] } | null;

export type GateName = "min_requests" | "error_rate" | "p99_ratio" | "load" | "agreement";

export interface GateResult {
  gate: GateName;
  pass: boolean;
  /** Whether the figures are enough to decide (min_requests: whether the step may end). */
  decided: boolean;
  value: number | null;
  limit: number;
  detail: string;
}

export type RolloutState = "running" | "succeeded" | "rolled_back" | "aborted";

export interface HistoryLine {
  at: string;
  action: "start" | "shadow" | "step" | "wait" | "rollback" | "complete" | "abort";
  phase: number;
  /** Index into the steps; -1 is the shadow phase. */
  step: number;
  percent: number;
  scope: string;
  gates?: GateResult[];
  note: string;
}

export interface Rollout {
  model: string;
  version: number;
  /** The version serving when the rollout started: what a rollback keeps. */
  stable: number;
  spec: RolloutSpec;
  phases: Scope[];
  phase: number;
  step: number;
  state: RolloutState;
  startedAt: number;
  stepStartedAt: number;
  /** Seq of the pointer that announced the current step: load failures from then on count. */
  announcedSeq: number;
  /** Set once the step's min_requests wait was recorded (one history line per step). */
  waiting?: boolean;
  endedAt?: number;
  /** The latest tick's gates and figures (what `rollout status` and the dashboard show). */
  last?: { at: number; gates: GateResult[]; candidate: Figures | null; stable: Figures | null };
  history: HistoryLine[];
}

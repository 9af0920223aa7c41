// Progressive delivery, the decisions only: how a rollout's plan is laid out (phases over parts
// of the world, steps of canary share, an optional shadow phase first), the canary and shadow a
// step announces, and the gates that decide, from one window's figures, whether to advance, wait
// or roll back. Stateless and idempotent, like the serving policy; RegistryDO holds the state
// and runs it on alarms.
import { LATENCY_BUCKETS } from "../../shared/metrics";
import { REGION_HINTS, popByCode } from "../../shared/pops";
import type { Figures, GateResult, Rollout, RolloutSpec, Scope } from "../../shared/fleet";
import type { Canary, Shadow } from "./pointer";

// The spec's schema lives in shared/ so `meridian train --rollout` can check it before training.
export { RolloutSpecSchema } from "../../shared/rollout-spec";

/** Phases: the named part of the world first (one region at a time with byRegion), then the rest. */
export function phasesOf(spec: RolloutSpec): Scope[] {
  if (spec.pops) return [{ pops: spec.pops.map((p) => p.toUpperCase()) }, null];
  if (spec.byRegion) return [...(spec.regions ?? REGION_HINTS).map((r) => ({ regions: [r] })), null];
  if (spec.regions) return [{ regions: spec.regions }, null];
  return [null];
}

export function scopeText(scope: Scope): string {
  if (!scope) return "everywhere";
  return "regions" in scope ? `regions ${scope.regions.join(",")}` : `PoPs ${scope.pops.join(",")}`;
}

/** Whether a PoP is in a scope. */
export function inScope(scope: Scope, colo: string): boolean {
  if (!scope) return true;
  if ("pops" in scope) return scope.pops.includes(colo.toUpperCase());
  const region = popByCode(colo)?.region;
  return region !== undefined && scope.regions.includes(region);
}

/** The share the current step gives, and what the pointer announces for it. */
export function announcement(r: Pick<Rollout, "version" | "spec" | "phases" | "phase" | "step">): { canary: Canary | null; shadow: Shadow | null; percent: number } {
  const { spec } = r;
  if (r.step < 0) return { canary: null, shadow: { version: r.version, percent: spec.shadowPercent ?? 0 }, percent: 0 };
  const percent = spec.steps[r.step]!;
  const scope = r.phases[r.phase]!;
  const where: Record<string, number> = {};
  for (const done of r.phases.slice(0, r.phase)) for (const key of keysOf(done)) where[key] = 100;
  if (scope) for (const key of keysOf(scope)) where[key] = percent;
  const canary: Canary = { version: r.version, percent: scope ? 0 : percent };
  if (Object.keys(where).length) canary.where = where;
  return { canary, shadow: null, percent };
}

const keysOf = (scope: Scope) => (!scope ? [] : "regions" in scope ? scope.regions : scope.pops);

/** The step after the current one, or null when the rollout is complete. */
export function nextStep(r: Pick<Rollout, "spec" | "phases" | "phase" | "step">): { phase: number; step: number } | null {
  if (r.step + 1 < r.spec.steps.length) return { phase: r.phase, step: r.step + 1 };
  if (r.phase + 1 < r.phases.length) return { phase: r.phase + 1, step: 0 };
  return null;
}

export interface GateInputs {
  /** The candidate's figures in the window (the canary, or in the shadow phase the shadow). */
  candidate: Figures | undefined;
  stable: Figures | undefined;
  /** Load failures of the candidate since the step was announced, as "PoP: error". */
  loadFailures: string[];
}

/**
 * Every gate on one window. A gate fails early, before min_requests, when the figures already
 * settle it: more errors (or disagreements) than the limit allows even if every request still
 * needed went well. The p99 gate waits for min_requests on both sides.
 */
export function evaluate(spec: RolloutSpec, shadowPhase: boolean, g: GateInputs): GateResult[] {
  const c = g.candidate;
  const n = c?.requests ?? 0;
  const enough = n >= spec.minRequests;
  const gates: GateResult[] = [
    { gate: "min_requests", pass: enough, decided: enough, value: n, limit: spec.minRequests, detail: `${n} of ${spec.minRequests} requests` },
    {
      gate: "load",
      pass: g.loadFailures.length === 0,
      decided: g.loadFailures.length > 0,
      value: g.loadFailures.length,
      limit: 0,
      detail: g.loadFailures.length ? `cannot load at ${g.loadFailures.join("; ")}` : "loaded everywhere it was asked to",
    },
  ];
  // Client errors count against the candidate only above stable's share of them: a caller's bad
  // request fails on any version, a request only the candidate refuses is the candidate's.
  const excessClient = c ? Math.max(0, c.outcomes.client_error - (g.stable?.clientErrorRate ?? 0) * n) : 0;
  const errors = c ? c.outcomes.server_error + c.outcomes.unavailable + excessClient : 0;
  const rate = n > 0 ? errors / n : 0;
  const errorsTooMany = errors > spec.maxErrorRate * Math.max(spec.minRequests, n);
  gates.push({
    gate: "error_rate",
    pass: !errorsTooMany && (!enough || rate <= spec.maxErrorRate),
    decided: errorsTooMany || enough,
    value: rate,
    limit: spec.maxErrorRate,
    detail: `${pct(rate)} of ${n} requests failed (${c?.outcomes.server_error ?? 0} server errors, ${c?.outcomes.unavailable ?? 0} unavailable, ${Math.round(excessClient)} client errors above stable's ${pct(g.stable?.clientErrorRate ?? 0)}); limit ${pct(spec.maxErrorRate)}`,
  });
  // p99 gate: is the candidate's p99 above maxP99Ratio × stable's, in the same window? On the
  // version's own time, session.run: canary and stable requests share each isolate's one event
  // loop, so a slower candidate delays stable's requests as much as its own and whole-request
  // p99s move together. p99 from a few hundred runs is close to their maximum and swings, so the
  // gate answers with confidence: the candidate's p99 is above the limit exactly when more than
  // 1% of its runs are, and it fails once its runs slower than the limit (counted in buckets
  // wholly above it) are too many for 1% by chance (one-sided binomial test, p < P99_ALPHA),
  // which a much slower candidate reaches in a few runs, before min_requests. Without stable runs
  // in the window (the 100% step) there is nothing to compare with, and the gate passes.
  const stableP99 = g.stable && g.stable.computeP99 !== null ? g.stable.computeP99 : null;
  const candidateP99 = c?.computeP99 ?? null;
  const runs = c ? c.compute.reduce((k, x) => k + x, 0) : 0;
  const ratio = candidateP99 !== null && stableP99 ? candidateP99 / stableP99 : null;
  const limitS = stableP99 ? spec.maxP99Ratio * stableP99 : null;
  const slower = limitS !== null && c ? c.compute.reduce((k, count, i) => k + ((LATENCY_BUCKETS[i - 1] ?? 0) >= limitS ? count : 0), 0) : 0;
  const chance = limitS !== null && runs > 0 ? binomialTail(slower, runs, 0.01) : 1;
  const tooSlow = chance < P99_ALPHA;
  gates.push({
    gate: "p99_ratio",
    pass: !tooSlow,
    decided: tooSlow || (enough && limitS !== null),
    value: ratio,
    limit: spec.maxP99Ratio,
    detail:
      limitS === null
        ? "no stable runs in the window to compare with"
        : `session.run p99: candidate ${ms(candidateP99)} / stable ${ms(stableP99)} = ${ratio === null ? "n/a" : ratio.toFixed(2)}; ${slower} of ${runs} runs slower than ${ms(limitS)} (${spec.maxP99Ratio} × stable p99), ${tooSlow ? "too many for p99 to be within it" : "consistent with p99 within it"} (chance ${chance < 1e-6 ? "< 1e-6" : chance.toPrecision(2)})`,
  });
  // Agreement is measured in the shadow phase only: a canary's answers are served, not compared.
  if (spec.minAgreement !== undefined && shadowPhase) {
    const a = c?.agreement;
    const compared = (a?.agree ?? 0) + (a?.disagree ?? 0);
    const tooMany = (a?.disagree ?? 0) > (1 - spec.minAgreement) * Math.max(spec.minRequests, compared);
    const settled = compared >= spec.minRequests;
    gates.push({
      gate: "agreement",
      pass: !tooMany && (!settled || (a?.rate ?? 1) >= spec.minAgreement),
      decided: tooMany || settled,
      value: a?.rate ?? null,
      limit: spec.minAgreement,
      detail: `${a?.agree ?? 0} of ${compared} shadow rows agreed (${a?.rate === null || a?.rate === undefined ? "n/a" : pct(a.rate)}); limit ${pct(spec.minAgreement)}`,
    });
  }
  return gates;
}

/** What the gates say: roll back when one failed, advance when every one passed and the step is over. */
export function verdict(gates: GateResult[], stepOver: boolean): "rollback" | "advance" | "wait" | "continue" {
  if (gates.some((g) => !g.pass && g.decided && g.gate !== "min_requests")) return "rollback";
  if (!stepOver) return "continue";
  return gates.every((g) => g.pass) ? "advance" : "wait";
}

/** One line naming the failed gates with their figures (what the history keeps). */
export function failureText(gates: GateResult[]): string {
  return gates
    .filter((g) => !g.pass && g.decided && g.gate !== "min_requests")
    .map((g) => `${g.gate}: ${g.detail}`)
    .join("; ");
}

/** The p99 gate fails when the candidate's slow requests would come by chance less often than this. */
export const P99_ALPHA = 0.001;

/** P(X ≥ x) for X ~ Binomial(n, p), summed in log space (n can be large). */
export function binomialTail(x: number, n: number, p: number): number {
  if (x <= 0) return 1;
  if (x > n) return 0;
  const logP = Math.log(p);
  const logQ = Math.log1p(-p);
  // log pmf(k) by the recurrence pmf(k+1) = pmf(k)·(n−k)/(k+1)·p/q, from pmf(0) = qⁿ.
  let logPmf = n * logQ;
  let below = -Infinity; // log P(X < x)
  for (let k = 0; k < x; k++) {
    below = below === -Infinity ? logPmf : Math.max(below, logPmf) + Math.log1p(Math.exp(-Math.abs(below - logPmf)));
    logPmf += Math.log((n - k) / (k + 1)) + logP - logQ;
  }
  return Math.max(0, -Math.expm1(below));
}

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
const ms = (s: number | null) => (s === null ? "n/a" : `${(s * 1000).toPrecision(3)} ms`);

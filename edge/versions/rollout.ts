// Progressive delivery, the decisions only: how a rollout's plan is laid out (phases over parts
// of the world, steps of canary share, an optional shadow phase first), the canary and shadow a
// step announces, and the gates that decide, from one window's figures, whether to advance, wait
// or roll back. Stateless and idempotent, like the serving policy; RegistryDO holds the state
// and runs it on alarms.
import { z } from "zod";
import { REGION_HINTS, popByCode } from "../../shared/pops";
import type { Figures, GateResult, Rollout, RolloutSpec, Scope } from "../../shared/fleet";
import type { Canary, Shadow } from "./pointer";

const Percent = z.number().gt(0).max(100);

export const RolloutSpecSchema = z
  .object({
    version: z.number().int().positive(),
    steps: z.array(Percent).min(1).max(20).default([1, 5, 25, 50, 100]),
    intervalMs: z.number().int().min(1000).max(86_400_000).default(60_000),
    /** Share of a step's requests the canary may fail (0..1). */
    maxErrorRate: z.number().min(0).max(1).default(0.005),
    maxP99Ratio: z.number().min(1).max(100).default(1.5),
    minRequests: z.number().int().min(1).max(10_000_000).default(200),
    /** With a shadow phase: the share of its rows that agree with stable must reach this (0..1). */
    minAgreement: z.number().min(0).max(1).optional(),
    /** Runs a shadow phase first, on this share of stable's requests. */
    shadowPercent: Percent.optional(),
    regions: z.array(z.enum(REGION_HINTS)).min(1).optional(),
    pops: z.array(z.string().regex(/^[A-Za-z]{3}$/, "a PoP is a three-letter colo code")).min(1).optional(),
    byRegion: z.boolean().default(false),
    expected: z.number().int().positive().nullable().optional(),
  })
  .superRefine((s, ctx) => {
    const issue = (message: string) => ctx.addIssue({ code: "custom", message });
    s.steps.forEach((p, i) => i > 0 && p <= s.steps[i - 1]! && issue(`steps must increase: ${s.steps.join(",")}`));
    if (s.steps.at(-1) !== 100) issue(`the last step must be 100 (the candidate then serves everyone): ${s.steps.join(",")}`);
    if (s.regions && s.pops) issue("give --regions or --pops, not both");
    if (s.byRegion && s.pops) issue("--by-region moves region by region; it does not take --pops");
    if (s.minAgreement !== undefined && s.shadowPercent === undefined) {
      issue("the agreement gate cannot be evaluated without shadow traffic: add a shadow phase (--shadow <percent>)");
    }
    for (const p of s.pops ?? []) if (!popByCode(p)) issue(`unknown PoP "${p}"`);
  });







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
  baselineP99: number | null;
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
  const stableP99 = g.stable && g.stable.requests >= spec.minRequests && g.stable.p99 !== null ? g.stable.p99 : g.baselineP99;
  const candidateP99 = c?.p99 ?? null;
  const ratio = enough && candidateP99 !== null && stableP99 ? candidateP99 / stableP99 : null;
  gates.push({
    gate: "p99_ratio",
    pass: ratio === null || ratio <= spec.maxP99Ratio,
    decided: ratio !== null,
    value: ratio,
    limit: spec.maxP99Ratio,
    detail:
      ratio === null
        ? "not yet: needs min_requests on the candidate and a stable p99"
        : `candidate p99 ${ms(candidateP99)} / stable p99 ${ms(stableP99)} = ${ratio.toFixed(2)}; limit ${spec.maxP99Ratio}`,
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

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
const ms = (s: number | null) => (s === null ? "n/a" : `${(s * 1000).toFixed(1)} ms`);

// The flags of a progressive rollout, one parser for every command that starts one: `meridian
// rollout <name> <version>` and `meridian train --rollout`. The edge holds every default.
import { InvalidArgumentError, type Command } from "commander";
import type { RolloutSpec } from "../../shared/fleet";
import { describeZodError } from "../../shared/oip";
import { RolloutSpecSchema } from "../../shared/rollout-spec";
import { parseExpected, parsePercent } from "./common";

export interface RolloutFlags {
  steps?: number[];
  interval?: number;
  maxErrorRate?: number;
  maxP99Ratio?: number;
  minRequests?: number;
  minAgreement?: number;
  shadow?: number;
  regions?: string[];
  pops?: string[];
  byRegion?: boolean;
  expected?: number | null;
}

export type RolloutRequest = Partial<RolloutSpec> & { version: number };

/** Adds the rollout's flags to a command (`meridian rollout`, `meridian train`). */
export function withRolloutOptions(cmd: Command): Command {
  return cmd
    .option("--steps <list>", "canary shares in percent, increasing, ending at 100 (default 1,5,25,50,100)", parseSteps)
    .option("--interval <duration>", "how long each step runs before its gates decide: 30s, 1m, 1h (default 1m)", parseDuration)
    .option("--max-error-rate <rate>", "share of the canary's requests that may fail: 0.5% or 0.005 (default 0.5%)", parseRate)
    .option("--max-p99-ratio <x>", "canary p99 over stable p99 (default 1.5)", parseNumber(1, 100))
    .option("--min-requests <n>", "canary requests a step needs before it may pass (default 200)", parseNumber(1, 1e7, true))
    .option("--shadow <percent>", "start with a shadow phase on this share of stable's requests", parsePercent)
    .option("--min-agreement <rate>", "with --shadow: share of shadow rows that must agree with stable (98% or 0.98)", parseRate)
    .option("--regions <list>", "canary in these regions first (weur,enam,...), then everywhere", parseList)
    .option("--pops <list>", "canary at these PoPs first (FRA,IAD,...), then everywhere", parseList)
    .option("--by-region", "move region by region (the --regions order, else every region)")
    .option("--expected <version>", "the serving version you expect to replace", parseExpected);
}

const FLAG_NAMES: Record<keyof RolloutFlags, string> = {
  steps: "--steps",
  interval: "--interval",
  maxErrorRate: "--max-error-rate",
  maxP99Ratio: "--max-p99-ratio",
  minRequests: "--min-requests",
  minAgreement: "--min-agreement",
  shadow: "--shadow",
  regions: "--regions",
  pops: "--pops",
  byRegion: "--by-region",
  expected: "--expected",
};

/** The rollout flags that were given (for a command where they only apply with another flag). */
export function rolloutFlagsGiven(flags: RolloutFlags): string[] {
  return (Object.keys(FLAG_NAMES) as Array<keyof RolloutFlags>).filter((k) => flags[k] !== undefined).map((k) => FLAG_NAMES[k]);
}

/** The request the flags make: only what they set (the edge fills in the rest). */
export function rolloutRequest(version: number, flags: RolloutFlags): RolloutRequest {
  const spec: RolloutRequest = { version };
  if (flags.steps) spec.steps = flags.steps;
  if (flags.interval !== undefined) spec.intervalMs = flags.interval;
  if (flags.maxErrorRate !== undefined) spec.maxErrorRate = flags.maxErrorRate;
  if (flags.maxP99Ratio !== undefined) spec.maxP99Ratio = flags.maxP99Ratio;
  if (flags.minRequests !== undefined) spec.minRequests = flags.minRequests;
  if (flags.minAgreement !== undefined) spec.minAgreement = flags.minAgreement;
  if (flags.shadow !== undefined) spec.shadowPercent = flags.shadow;
  if (flags.regions) spec.regions = flags.regions;
  if (flags.pops) spec.pops = flags.pops;
  if (flags.byRegion) spec.byRegion = true;
  if (flags.expected !== undefined) spec.expected = flags.expected;
  return spec;
}

export class RolloutSpecError extends Error {
  override name = "RolloutSpecError";
}

/**
 * Checks the flags against the edge's own schema (steps that increase and end at 100, agreement
 * only with a shadow phase, known PoPs, …) for a version not known yet, so a mistake costs
 * nothing. The edge checks again when the rollout starts.
 */
export function checkRolloutFlags(flags: RolloutFlags): void {
  const parsed = RolloutSpecSchema.safeParse(rolloutRequest(1, flags));
  if (!parsed.success) throw new RolloutSpecError(`rollout flags: ${describeZodError(parsed.error)}`);
}

// ---------- argument parsers (commander reports their errors as "error: ... invalid ...") ----------

function parseSteps(value: string): number[] {
  const steps = value.split(",").map((s) => Number(s.trim()));
  if (steps.some((s) => !Number.isFinite(s) || s <= 0 || s > 100)) throw new InvalidArgumentError("steps are percentages above 0 and at most 100, comma-separated.");
  return steps;
}

/** 30s, 5m, 1h, or milliseconds as a plain number. */
function parseDuration(value: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError("a duration is a number with ms, s, m or h (30s, 1m).");
  return Math.round(Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? "ms") as "ms" | "s" | "m" | "h"]);
}

/** "0.5%" or 0.005. */
function parseRate(value: string): number {
  const percent = value.trim().endsWith("%");
  const n = Number(percent ? value.trim().slice(0, -1) : value);
  const rate = percent ? n / 100 : n;
  if (value.trim() === "" || !Number.isFinite(rate) || rate < 0 || rate > 1) throw new InvalidArgumentError("a rate is from 0 to 1, or a percentage (0.5%).");
  return rate;
}

function parseNumber(min: number, max: number, integer = false) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
      throw new InvalidArgumentError(`expected ${integer ? "an integer" : "a number"} from ${min} to ${max}.`);
    }
    return n;
  };
}

function parseList(value: string): string[] {
  const items = value.split(",").map((s) => s.trim()).filter(Boolean);
  if (!items.length) throw new InvalidArgumentError("expected a comma-separated list.");
  return items;
}

// What a rollout request may say, with the edge's defaults: the one schema the edge parses a
// rollout with and the CLI checks flags against before it does anything costly (training).
import { z } from "zod";
import { REGION_HINTS, popByCode } from "./pops";

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

// Operating the fleet: `rollout` (start, status, abort), `shadow`, and `metrics` (per version and
// PoP over a window). The edge holds every default and runs the rollout; these only ask and print.
import { InvalidArgumentError, type Command } from "commander";
import type { Figures, GateResult, Rollout, RolloutSpec } from "../../shared/fleet";
import { action } from "../failure";
import { expectedServing } from "./serving";
import { clientFor, parseExpected, parseModelName, parsePercent, parseVersion, printJson, table, v, withConnection, type ConnectionFlags } from "./common";

interface RolloutFlags extends ConnectionFlags {
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

export function registerFleet(program: Command): void {
  withConnection(
    program
      .command("rollout")
      .description("roll <version> of <name> out step by step, rolling back by itself when a gate fails; `rollout status <name>`, `rollout abort <name>`")
      .argument("<name>", 'model name (or "status" / "abort" followed by the model name)')
      .argument("[version]", "version to roll out (or, after status/abort, the model name)")
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
      .option("--expected <version>", "the serving version you expect to replace", parseExpected),
  ).action(
    action("rollout", async (first: string, second: string | undefined, flags: RolloutFlags) => {
      const client = clientFor(flags);
      if ((first === "status" || first === "abort") && second !== undefined && !/^[0-9]+$/.test(second)) {
        const name = parseModelName(second);
        if (first === "abort") {
          const r = await client.abortRollout(name);
          if (flags.json) return printJson(r);
          return void process.stdout.write(`${name}: rollout of v${r.version} aborted; serving v${r.stable}\n`);
        }
        const { rollout } = await client.rolloutStatus(name);
        if (flags.json) return printJson({ name, rollout });
        return void process.stdout.write(rollout ? statusText(rollout) : `${name}: no rollout yet\n`);
      }
      const name = parseModelName(first);
      if (second === undefined) throw new Error("give the version to roll out: meridian rollout <name> <version>");
      const spec: Partial<RolloutSpec> & { version: number } = { version: parseVersion(second) };
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
      const r = await client.rollout(name, spec);
      if (flags.json) return printJson(r);
      process.stdout.write(statusText(r));
    }),
  );

  withConnection(
    program
      .command("shadow")
      .description("run <version> beside the serving one on --percent of its requests, after answering, and compare; --percent 0 ends it")
      .argument("<name>", "model name", parseModelName)
      .argument("<version>", "shadow version", parseVersion)
      .requiredOption("--percent <p>", "share of requests, 0 to 100", parsePercent)
      .option("--expected <version>", "the serving version you expect", parseExpected),
  ).action(
    action("shadow", async (name: string, version: number, flags: ConnectionFlags & { percent: number; expected?: number | null }) => {
      const client = clientFor(flags);
      const p = await client.shadow(name, version, flags.percent, await expectedServing(client, name, flags));
      if (flags.json) return printJson(p);
      const what = p.shadow ? `shadow v${p.shadow.version} on ${p.shadow.percent}% of requests beside ${v(p.serving)}` : `no shadow, serving ${v(p.serving)}`;
      process.stdout.write(`${name}: ${what}, seq ${p.seq}\n`);
    }),
  );

  withConnection(
    program
      .command("metrics")
      .description("per version and PoP over a window: request rate, error %, p50/p95/p99 of whole requests and p99 of session.run (from the fleet's merged histograms)")
      .argument("<name>", "model name", parseModelName)
      .option("--version <version>", "only this version", parseVersion)
      .option("--window <duration>", "how far back: 30s, 5m, 1h (default 5m; the edge keeps an hour)", "5m"),
  ).action(
    action("metrics", async (name: string, flags: ConnectionFlags & { version?: number; window: string }) => {
      const m = await clientFor(flags).metrics(name, flags.window);
      const only = (f: Figures) => flags.version === undefined || f.version === String(flags.version);
      const versions = m.versions.filter(only);
      const pops = m.pops.filter(only);
      if (flags.json) return printJson({ ...m, versions, pops });
      const rows = [...versions, ...pops].map((f) => [
        `v${f.version}`,
        f.variant,
        f.pop ?? "all",
        f.requests,
        f.rate.toFixed(2),
        pct(f.errorRate),
        pct(f.clientErrorRate),
        msText(f.p50),
        msText(f.p95),
        msText(f.p99),
        msText(f.computeP99),
        f.agreement?.rate == null ? null : pct(f.agreement.rate),
      ]);
      const head = `${name}: ${m.window.seconds.toFixed(0)} s to ${m.window.to}, requests a version ran itself`;
      process.stdout.write(`${head}\n${rows.length ? table(["VERSION", "VARIANT", "POP", "REQUESTS", "REQ/S", "ERRORS", "4XX", "P50", "P95", "P99", "RUN P99", "AGREE"], rows) : "no requests in the window"}\n`);
    }),
  );
}

function statusText(r: Rollout): string {
  const percent = r.history.at(-1)?.percent ?? 0;
  const where = r.step < 0 ? "shadow phase" : `phase ${r.phase + 1}/${r.phases.length}, step ${r.step + 1}/${r.spec.steps.length} (${percent}%)`;
  const lines = [`${r.model}: rollout of v${r.version} over v${r.stable}: ${r.state}${r.state === "running" ? `, ${where}` : ""}`];
  if (r.last && r.state === "running") lines.push(`  gates now: ${r.last.gates.map(gateText).join(", ")}`);
  lines.push("  history:");
  for (const h of r.history) lines.push(`    ${h.at}  ${h.action.padEnd(8)} ${String(h.percent).padStart(3)}%  ${h.scope}: ${h.note}`);
  return `${lines.join("\n")}\n`;
}

const gateText = (g: GateResult) => `${g.gate} ${g.pass ? "ok" : g.decided ? "FAILED" : "pending"}${g.value === null ? "" : ` (${round(g.value)} / ${round(g.limit)})`}`;
const round = (x: number) => (Number.isInteger(x) ? String(x) : x.toPrecision(3));
const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
const msText = (s: number | null) => (s === null ? null : `${(s * 1000).toPrecision(3)}ms`);

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

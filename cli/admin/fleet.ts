// Operating the fleet: `rollout` (start, status, abort), `shadow`, and `metrics` (per version and
// PoP over a window). The edge holds every default and runs the rollout; these only ask and print.
import type { Command } from "commander";
import type { Figures } from "../../shared/fleet";
import { action } from "../failure";
import { expectedServing } from "./serving";
import { clientFor, parseExpected, parseModelName, parsePercent, parseVersion, printJson, table, v, withConnection, type ConnectionFlags } from "./common";
import { rolloutRequest, withRolloutOptions, type RolloutFlags } from "./rollout-flags";
import { statusText } from "./rollout-text";

type RolloutCommandFlags = ConnectionFlags & RolloutFlags;

export function registerFleet(program: Command): void {
  withConnection(
    withRolloutOptions(
      program
        .command("rollout")
        .description("roll <version> of <name> out step by step, rolling back by itself when a gate fails; `rollout status <name>`, `rollout abort <name>`")
        .argument("<name>", 'model name (or "status" / "abort" followed by the model name)')
        .argument("[version]", "version to roll out (or, after status/abort, the model name)"),
    ),
  ).action(
    action("rollout", async (first: string, second: string | undefined, flags: RolloutCommandFlags) => {
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
      const r = await client.rollout(name, rolloutRequest(parseVersion(second), flags));
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

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
const msText = (s: number | null) => (s === null ? null : `${(s * 1000).toPrecision(3)}ms`);

// Moving and inspecting the serving pointer: promote, rollback, canary, list, history, status.
// Pointer changes are compare-and-set at the edge: without --expected we send the serving
// version we just read, so a concurrent change between our read and write still gets a 409.
import type { Command } from "commander";
import type { ModelState } from "../../shared/admin-client";
import { AdminError, type AdminClient } from "./client";
import { action } from "../failure";
import {
  clientFor,
  parseExpected,
  parseModelName,
  parsePercent,
  parseVersion,
  printJson,
  table,
  v,
  withConnection,
  type ConnectionFlags,
} from "./common";

interface CasFlags extends ConnectionFlags {
  expected?: number | null;
}

const EXPECTED_HELP = 'the serving version you expect to replace ("none" if nothing serves); default: the current one';

export async function expectedServing(client: AdminClient, name: string, flags: CasFlags): Promise<number | null> {
  if (flags.expected !== undefined) return flags.expected;
  const model = await client.model(name);
  if (!model) throw new AdminError(404, { error: `unknown model "${name}"` });
  return model.serving;
}

function canaryText(p: Pick<ModelState, "canary">): string {
  return p.canary ? `, canary v${p.canary.version} at ${p.canary.percent}%` : "";
}

export function registerServing(program: Command): void {
  withConnection(
    program
      .command("promote")
      .description("serve <version> of <name> at every PoP")
      .argument("<name>", "model name", parseModelName)
      .argument("<version>", "version to serve", parseVersion)
      .option("--expected <version>", EXPECTED_HELP, parseExpected),
  ).action(
    action("promote", async (name: string, version: number, flags: CasFlags) => {
      const client = clientFor(flags);
      const expected = await expectedServing(client, name, flags);
      const p = await client.promote(name, version, expected);
      if (flags.json) return printJson(p);
      process.stdout.write(`${name}: serving ${v(p.serving)} (was ${v(expected)})${canaryText(p)}, seq ${p.seq}\n`);
    }),
  );

  withConnection(
    program
      .command("rollback")
      .description("serve the version that was serving before the current one")
      .argument("<name>", "model name", parseModelName)
      .option("--expected <version>", EXPECTED_HELP, parseExpected),
  ).action(
    action("rollback", async (name: string, flags: CasFlags) => {
      const client = clientFor(flags);
      const expected = await expectedServing(client, name, flags);
      const p = await client.rollback(name, expected);
      if (flags.json) return printJson(p);
      process.stdout.write(`${name}: rolled back to ${v(p.serving)} (was ${v(expected)})${canaryText(p)}, seq ${p.seq}\n`);
    }),
  );

  withConnection(
    program
      .command("canary")
      .description("send --percent of traffic (sticky per caller) to <version> beside the serving one; --percent 0 ends it")
      .argument("<name>", "model name", parseModelName)
      .argument("<version>", "canary version", parseVersion)
      .requiredOption("--percent <p>", "share of traffic, 0 to 100", parsePercent)
      .option("--expected <version>", EXPECTED_HELP, parseExpected),
  ).action(
    action("canary", async (name: string, version: number, flags: CasFlags & { percent: number }) => {
      const client = clientFor(flags);
      const expected = await expectedServing(client, name, flags);
      const p = await client.canary(name, version, flags.percent, expected);
      if (flags.json) return printJson(p);
      const what = p.canary ? `canary v${p.canary.version} at ${p.canary.percent}% beside ${v(p.serving)}` : `no canary, serving ${v(p.serving)}`;
      process.stdout.write(`${name}: ${what}, seq ${p.seq}\n`);
    }),
  );

  withConnection(program.command("list").description("models with their serving, canary and latest versions")).action(
    action("list", async (flags: ConnectionFlags) => {
      const { models } = await clientFor(flags).list();
      if (flags.json) return printJson({ models });
      const rows = models.map((m) => [m.name, v(m.serving), m.canary ? `v${m.canary.version} @ ${m.canary.percent}%` : null, v(m.latest)]);
      process.stdout.write(`${models.length ? table(["MODEL", "SERVING", "CANARY", "LATEST"], rows) : "no models"}\n`);
    }),
  );

  withConnection(
    program.command("history").description("promotions, rollbacks and canary changes of <name>").argument("<name>", "model name", parseModelName),
  ).action(
    action("history", async (name: string, flags: ConnectionFlags) => {
      const { events } = await clientFor(flags).history(name);
      if (flags.json) return printJson({ events });
      const rows = events.map((e) => [e.at, e.action, e.from == null ? null : `v${e.from}`, e.to == null ? null : `v${e.to}`, e.percent == null ? null : `${e.percent}%`, e.actor, e.note]);
      process.stdout.write(`${events.length ? table(["AT", "ACTION", "FROM", "TO", "PERCENT", "ACTOR", "NOTE"], rows) : `no history for ${name}`}\n`);
    }),
  );

  withConnection(
    program.command("status").description("which version each PoP serves for <name>").argument("<name>", "model name", parseModelName),
  ).action(
    action("status", async (name: string, flags: ConnectionFlags) => {
      const s = await clientFor(flags).status(name);
      if (flags.json) return printJson(s);
      // What PoPs serve is counted apart from what they failed to load: a failed load serves the old seq.
      const current = s.pops.filter((p) => p.seq === s.seq).length;
      const failed = s.pops.filter((p) => p.failed && p.failed.seq > p.seq).length;
      const head = `${name}: serving ${v(s.serving)}${canaryText(s)}, seq ${s.seq}; ${current}/${s.pops.length} PoPs serve seq ${s.seq}` + (failed ? `; ${failed} failed to load it` : "");
      const rows = s.pops.map((p) => [
        p.colo,
        v(p.version) + (p.fallbackFor ? ` (for v${p.fallbackFor})` : ""),
        p.canary == null ? null : `v${p.canary}`,
        p.seq,
        p.at,
        p.failed && p.failed.seq > p.seq ? `seq ${p.failed.seq} (v${p.failed.version}): ${p.failed.error}` : null,
      ]);
      process.stdout.write(`${head}\n${rows.length ? table(["POP", "SERVES", "CANARY", "SEQ", "AT", "FAILED TO LOAD"], rows) : "no PoP has reported yet"}\n`);
    }),
  );
}

// `meridian train --push [--promote | --rollout]`: publishes what training just wrote through the
// same flow as `meridian push` (the int8 model, which is what the edge serves), then optionally
// promotes it, or hands it to the edge's progressive rollout and follows that to its end.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Command } from "commander";
import type { Rollout } from "../../shared/fleet";
import { push } from "./push";
import { loadPrivateKey } from "./keys";
import { clientFor, type ConnectionFlags } from "./common";
import { followRollout } from "./follow-rollout";
import { checkRolloutFlags, rolloutFlagsGiven, rolloutRequest, withRolloutOptions, type RolloutFlags } from "./rollout-flags";
import { historyText } from "./rollout-text";

export interface PublishFlags extends ConnectionFlags, RolloutFlags {
  key?: string;
  promote?: boolean;
  rollout?: boolean;
}

/** What a step of publishing tells the user: a line, or its JSON form with --json. */
export type Say = (text: string, data: Record<string, unknown>) => void;

/** The rollout ended without the trained version serving everyone; the serving version stays. */
export class RolloutNotCompletedError extends Error {
  override name = "RolloutNotCompletedError";
  constructor(readonly rollout: Rollout) {
    const last = rollout.history.at(-1);
    const how = rollout.state === "rolled_back" ? "rolled back" : rollout.state;
    const where = !last ? "" : last.step < 0 ? " in its shadow phase" : ` at ${last.percent}% (${last.scope})`;
    const why = last ? ` (${last.note.replace(/^rolled back: /, "")})` : "";
    super(`rollout of ${rollout.model} v${rollout.version} ${how}${where}${why}; v${rollout.stable} still serves`);
  }
}

/** `train`'s flags that only publishing reads: the rollout's, parsed as `meridian rollout` parses them. */
export function publishOptions(cmd: Command): Command {
  return withRolloutOptions(cmd).hook("preAction", (c) => {
    // A rollout flag without --rollout would be silently ignored: say so instead.
    const flags = c.opts() as PublishFlags;
    const given = rolloutFlagsGiven(flags);
    if (!flags.rollout && given.length) c.error(`error: ${given.join(", ")} only ${given.length === 1 ? "applies" : "apply"} with --rollout`);
  });
}

/** Checked before training starts, so a missing token or key, or bad rollout flags, do not cost a training run. */
export async function publishSetup(flags: PublishFlags) {
  const client = clientFor(flags);
  if (flags.rollout) checkRolloutFlags(flags);
  return { client, privateKey: await loadPrivateKey({ file: flags.key }) };
}

type Setup = Awaited<ReturnType<typeof publishSetup>>;

/**
 * Once the model's name is known, still before training: a rollout replaces a serving version,
 * so there must be one (the one `--expected` names, if given) and no rollout already running.
 */
export async function publishCheck(name: string, flags: PublishFlags, setup: Setup): Promise<void> {
  if (!flags.rollout) return;
  const model = await setup.client.model(name);
  if (model?.serving == null) {
    throw new Error(`--rollout replaces the serving version of "${name}", and nothing serves it yet: publish a first version with --push --promote`);
  }
  if (flags.expected !== undefined && flags.expected !== model.serving) {
    throw new Error(`--expected ${flags.expected ?? "none"}: "${name}" serves v${model.serving}`);
  }
  const { rollout } = await setup.client.rolloutStatus(name);
  if (rollout?.state === "running") throw new Error(`a rollout of "${name}" v${rollout.version} is running (abort it first: meridian rollout abort ${name})`);
}

export async function publishTrained(out: string, flags: PublishFlags, setup: Setup, say: Say) {
  // The int8 export is named "<name>-int8"; published, it is a version of the model itself.
  const { name } = JSON.parse(await readFile(join(out, "model.manifest.json"), "utf8")) as { name: string };
  const int8 = JSON.parse(await readFile(join(out, "model-int8.manifest.json"), "utf8")) as Record<string, unknown>;
  const manifestFile = join(out, "published.manifest.json");
  await writeFile(manifestFile, JSON.stringify({ ...int8, name }, null, 2) + "\n");
  const result = await push({
    file: join(out, "model-int8.onnx"),
    manifestFile,
    privateKey: setup.privateKey,
    client: setup.client,
  });
  if (flags.promote) {
    const current = await setup.client.model(result.name);
    await setup.client.promote(result.name, result.version, current?.serving ?? null);
    return { ...result, promoted: true };
  }
  if (!flags.rollout) return { ...result, promoted: false };

  say(`pushed ${result.name} v${result.version} (${result.state}); rolling it out`, { event: "pushed", ...result });
  const started = await setup.client.rollout(result.name, rolloutRequest(result.version, flags));
  say(`rollout of ${started.model} v${started.version} over v${started.stable}: steps ${started.spec.steps.join(",")}% every ${started.spec.intervalMs / 1000} s`, { event: "rollout_started", rollout: started });
  const ended = await followRollout(setup.client, result.name, {
    version: result.version,
    onLine: (h) => say(`rollout: ${historyText(h)}`, { event: "rollout", ...h }),
  });
  say(`rollout of ${ended.model} v${ended.version}: ${ended.state}`, { event: "rollout_ended", state: ended.state, version: ended.version, stable: ended.stable });
  if (ended.state !== "succeeded") throw new RolloutNotCompletedError(ended);
  return { ...result, promoted: true, rollout: ended.state };
}

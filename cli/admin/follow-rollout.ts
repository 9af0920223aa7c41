// Following a rollout the edge runs (RegistryDO moves it on alarms; nothing here decides): poll
// its status, hand each new history line to the caller, and end with its final state.
import type { AdminClient } from "../../shared/admin-client";
import type { HistoryLine, Rollout } from "../../shared/fleet";

export interface FollowOptions {
  /** The version whose rollout is followed: another one showing up means someone replaced it. */
  version: number;
  /** Between status reads (the edge ticks every interval / 4, at least 1 s). */
  pollMs?: number;
  /** Consecutive failed reads tolerated (an edge restarting) before giving up. */
  maxFailures?: number;
  onLine(line: HistoryLine, rollout: Rollout): void;
}

export class RolloutFollowError extends Error {
  override name = "RolloutFollowError";
}

/** Resolves with the rollout once it is no longer running (succeeded, rolled_back or aborted). */
export async function followRollout(client: AdminClient, name: string, o: FollowOptions): Promise<Rollout> {
  const pollMs = o.pollMs ?? 1000;
  const maxFailures = o.maxFailures ?? 30;
  let shown = 0;
  let failures = 0;
  for (;;) {
    let rollout: Rollout | null;
    try {
      rollout = (await client.rolloutStatus(name)).rollout;
      failures = 0;
    } catch (err) {
      if (++failures > maxFailures) throw new RolloutFollowError(`lost the rollout of ${name} v${o.version}: ${failures} status reads failed, the last with ${(err as Error).message} (it goes on at the edge: meridian rollout status ${name})`);
      await sleep(pollMs);
      continue;
    }
    if (!rollout || rollout.version !== o.version) {
      throw new RolloutFollowError(`the rollout of ${name} v${o.version} is gone: the edge now reports ${rollout ? `a rollout of v${rollout.version}` : "no rollout"}`);
    }
    for (; shown < rollout.history.length; shown++) o.onLine(rollout.history[shown]!, rollout);
    if (rollout.state !== "running") return rollout;
    await sleep(pollMs);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

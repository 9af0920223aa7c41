// The operator's commands: keygen, push, promote, rollback, canary, list, history, status,
// rollout, shadow, metrics, features put. They talk to the edge's /admin API over HTTP; nothing here trains.
// Beside them `predict`, which calls the prediction API through the client library.
import type { Command } from "commander";
import { registerKeygen, registerPush } from "./publish";
import { registerFeatures } from "./features";
import { registerFleet } from "./fleet";
import { registerPredict } from "./predict";
import { registerServing } from "./serving";

export function registerAdminCommands(program: Command): void {
  registerKeygen(program);
  registerPush(program);
  registerServing(program);
  registerFleet(program);
  registerPredict(program);
  registerFeatures(program);
}

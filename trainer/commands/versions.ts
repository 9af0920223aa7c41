// The model-version subcommands of `meridian` (issue 4): keygen, push, promote, rollback,
// canary, list, history, status. They talk to the edge's /admin API over HTTP.
import type { Command } from "commander";
import { registerKeygen, registerPush } from "./publish";
import { registerServing } from "./serving";

export function registerVersionCommands(program: Command): void {
  registerKeygen(program);
  registerPush(program);
  registerServing(program);
}

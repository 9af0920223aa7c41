// The `meridian` command: the operator's commands (cli/admin) and the trainer's (trainer/commands)
// under one entry, with one failure contract (cli/failure.ts).
import { Command } from "commander";
import { registerTrainerCommands } from "../trainer/commands";
import { registerAdminCommands } from "./admin";
import { publishCheck, publishOptions, publishSetup, publishTrained } from "./admin/publish-trained";
import { action, fail } from "./failure";

export function buildProgram(): Command {
  const program = new Command("meridian")
    .description("Meridian: train models, publish and serve their versions at the edge")
    .showHelpAfterError("(run with --help for usage)")
    .configureOutput({ outputError: (str, write) => write(str) });
  registerTrainerCommands(program, { action, publisher: { options: publishOptions, setup: publishSetup, check: publishCheck, publish: publishTrained } });
  registerAdminCommands(program);
  return program;
}

export async function main(argv: string[] = process.argv): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    fail(argv[2] ?? "meridian", err);
  }
}

const isEntry = (() => {
  const entry = process.argv[1];
  return entry !== undefined && /cli[\\/]meridian\.(ts|js|mjs)$/.test(entry);
})();
if (isEntry) await main();

/**
 * What every task entry file shares: running a commander program, turning errors into one short
 * paragraph and an exit code, and running cleanups before the process ends.
 *
 * @module
 */

import { type Command, CommanderError } from "commander";
import { interruptedWith, runCleanups } from "./cleanup.ts";
import { formatError, HomelabError } from "./errors.ts";

/**
 * Parses `args` with `program`, runs the chosen action, and exits: 0 on success (or the
 * `Deno.exitCode` an action set), 2 for a usage error, the error's own code otherwise.
 */
export async function runProgram(program: Command, args: string[], verbose: boolean): Promise<never> {
  program.exitOverride();
  for (const sub of program.commands) sub.exitOverride();
  let code = 0;
  try {
    await program.parseAsync(args, { from: "user" });
    code = Deno.exitCode;
  } catch (err) {
    if (interruptedWith() !== undefined) {
      // Interrupted: what failed next (a killed tool, removed scratch space) is not news.
      code = interruptedWith()!;
    } else if (err instanceof CommanderError) {
      // Commander has printed the message (unknown option, missing argument) or the help.
      code = err.exitCode === 0 ? 0 : 2;
    } else {
      console.error(formatError(err, verbose));
      code = err instanceof HomelabError ? err.exitCode : 1;
    }
  }
  await runCleanups();
  Deno.exit(interruptedWith() ?? code);
}

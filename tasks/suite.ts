/**
 * `deno task test`: the whole suite (the README's test command).
 * @module
 */

import { Command } from "commander";
import { runProgram } from "../lib/cli.ts";
import { loadConfig } from "../lib/config.ts";

const config = loadConfig();

const program = new Command("test")
  .description(
    "Build missing pinned tools, then run the format check, lint, type check and `deno test`.\n" +
      "The last line gives the passed and failed counts.",
  )
  .argument("[deno-test-args...]", "passed to `deno test`: files, or flags after `--` (e.g. `-- --filter NAME`)")
  .option("--no-tools", "do not build missing tools first")
  .passThroughOptions()
  .action(async (testArgs: string[], opts: { tools: boolean }) => {
    const [{ testCommand }, { consoleUi }] = await Promise.all([
      import("../lib/tasks/suite.ts"),
      import("../lib/ui.ts"),
    ]);
    const ui = consoleUi({ live: !config.ci && Deno.stderr.isTerminal() });
    Deno.exitCode = await testCommand(config, Deno.execPath(), { testArgs, noTools: !opts.tools }, ui);
  });

await runProgram(program, Deno.args, config.verbose);

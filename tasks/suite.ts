/**
 * `deno task test`: the whole suite (the README's test command).
 * @module
 */

import { runTask } from "../lib/cli.ts";
import { loadConfig } from "../lib/config.ts";

const config = loadConfig();

await runTask(
  {
    name: "test",
    description: "Build missing pinned tools, then run the format check, lint, type check and `deno test`.\n" +
      "The last line gives the passed and failed counts.",
    arguments: [{
      name: "[deno-test-args...]",
      description: "passed to `deno test`: files, or flags after `--` (e.g. `-- --filter NAME`)",
    }],
    options: [{ flags: "--no-tools", description: "do not build missing tools first" }],
    passThroughOptions: true,
    action: async (testArgs: string[], opts: { tools: boolean }) => {
      const [{ testCommand }, { consoleUi }] = await Promise.all([
        import("../lib/tasks/suite.ts"),
        import("../lib/ui.ts"),
      ]);
      const ui = consoleUi({ live: !config.ci && Deno.stderr.isTerminal() });
      return await testCommand(config, Deno.execPath(), { testArgs, noTools: !opts.tools }, ui);
    },
  },
  Deno.args,
  config.verbose,
);

/**
 * `deno task configure [--check] [--dry-run]`: site.yaml's values written into the files that
 * hold them.
 * @module
 */

import { runTask } from "../lib/cli.ts";
import { loadConfig } from "../lib/config.ts";

const config = loadConfig();

await runTask(
  {
    name: "configure",
    description: "Check site.yaml (domain, addresses, pools, BGP, repository), then write its values into the files " +
      "that hold them, in place (comments and layout kept), and print each change. Re-running changes nothing. On a " +
      "terminal, a site.yaml still holding the example values is filled in by asking, with the current values as " +
      "defaults.",
    options: [
      { flags: "--check", description: "change nothing; exit 1 naming each file and value that disagrees" },
      { flags: "--dry-run", description: "print the changes without writing them" },
    ],
    action: async (opts: { check?: boolean; dryRun?: boolean }) => {
      const [{ configureCommand }, { consoleUi }] = await Promise.all([
        import("../lib/tasks/configure.ts"),
        import("../lib/ui.ts"),
      ]);
      const interactive = !config.ci && Deno.stdin.isTerminal();
      return await configureCommand(config, {
        check: opts.check,
        dryRun: opts.dryRun,
        ask: interactive ? (question, current) => prompt(`${question}:`, current) ?? undefined : undefined,
      }, consoleUi({ live: false }));
    },
  },
  Deno.args,
  config.verbose,
);

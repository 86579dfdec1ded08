/**
 * `deno task diff [REF]`: the rendered difference between a git ref and the working tree.
 * @module
 */

import { runTask, wholeNumber } from "../lib/cli.ts";
import { loadConfig } from "../lib/config.ts";

const config = loadConfig();

await runTask(
  {
    name: "diff",
    description:
      "Render REF (default: the merge base with main) from a temporary git worktree and the working tree, and " +
      "print per app the objects added, removed and changed; secret values as digests. An app that fails to " +
      "build on either side is listed as not compared, with its build errors. Exit codes: 0 the diff is complete " +
      "(whether or not anything differs), 3 it is incomplete (some app not compared), 1 an error, 2 a usage error.",
    arguments: [{ name: "[ref]", description: "a branch, tag or commit" }],
    options: [
      { flags: "--env <env>", description: "which cluster", choices: ["prod", "dev"], default: "prod" },
      {
        flags: "--format <format>",
        description: "text, or markdown for a PR comment",
        choices: ["text", "markdown"],
        default: "text",
      },
      {
        flags: "--limit-bytes <n>",
        description: "cut the output to N characters, saying what was cut (markdown: 65536 at most)",
        parse: wholeNumber(200),
      },
      { flags: "--offline", description: "use only the chart cache" },
    ],
    action: async (
      ref: string | undefined,
      opts: { env: "prod" | "dev"; format: "text" | "markdown"; limitBytes?: number; offline?: boolean },
    ) => {
      const [{ diffCommand }, { consoleUi }] = await Promise.all([
        import("../lib/tasks/render.ts"),
        import("../lib/ui.ts"),
      ]);
      return await diffCommand(config, {
        ref,
        env: opts.env,
        format: opts.format,
        limitBytes: opts.format === "markdown" ? Math.min(opts.limitBytes ?? 65_536, 65_536) : opts.limitBytes,
        offline: opts.offline,
      }, consoleUi());
    },
  },
  Deno.args,
  config.verbose,
);

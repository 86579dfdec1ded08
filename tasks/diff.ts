/**
 * `deno task diff [REF]`: the rendered difference between a git ref and the working tree.
 * @module
 */

import { Command, InvalidArgumentError, Option } from "commander";
import { runProgram } from "../lib/cli.ts";
import { loadConfig } from "../lib/config.ts";
import { consoleUi } from "../lib/ui.ts";

const config = loadConfig();

const program = new Command("diff")
  .description(
    "Render REF (default: the merge base with main) from a temporary git worktree and the working tree, and " +
      "print per app the objects added, removed and changed; secret values as digests.",
  )
  .argument("[ref]", "a branch, tag or commit")
  .addOption(new Option("--env <env>", "which cluster").choices(["prod", "dev"]).default("prod"))
  .addOption(
    new Option("--format <format>", "text, or markdown for a PR comment").choices(["text", "markdown"]).default("text"),
  )
  .option("--limit-bytes <n>", "cut the output to N characters, saying what was cut (markdown: 65536 at most)", (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 200) throw new InvalidArgumentError("a whole number of at least 200");
    return n;
  })
  .option("--offline", "use only the chart cache")
  .action(
    async (
      ref: string | undefined,
      opts: { env: "prod" | "dev"; format: "text" | "markdown"; limitBytes?: number; offline?: boolean },
    ) => {
      const { diffCommand } = await import("../lib/render/tasks.ts");
      Deno.exitCode = await diffCommand(config, {
        ref,
        env: opts.env,
        format: opts.format,
        limitBytes: opts.format === "markdown" ? Math.min(opts.limitBytes ?? 65_536, 65_536) : opts.limitBytes,
        offline: opts.offline,
      }, consoleUi());
    },
  );

await runProgram(program, Deno.args, config.verbose);

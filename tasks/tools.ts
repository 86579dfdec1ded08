/**
 * `deno task tools [TOOL…]`: build the pinned tools that are missing into the user cache.
 * @module
 */

import { Command } from "commander";
import { runProgram } from "../lib/cli.ts";
import { loadConfig } from "../lib/config.ts";

const config = loadConfig();

const program = new Command("tools")
  .description(
    "Build the pinned external tools that are missing (or have the wrong version) with Go into\n" +
      `${config.toolsDir}. Re-running is a no-op once they are there.`,
  )
  .argument("[tool...]", "only these tools (default: all)")
  .option("--force", "rebuild even when the pinned version is present")
  .option("--dry-run", "print the plan and the build commands without building")
  .option("--list", "list the manifest: tool, pinned version, how it is built")
  .action(async (names: string[], opts: { force?: boolean; dryRun?: boolean; list?: boolean }) => {
    const { toolsCommand } = await import("../lib/tasks/tools.ts");
    Deno.exitCode = await toolsCommand(config, { names, ...opts });
  });

await runProgram(program, Deno.args, config.verbose);

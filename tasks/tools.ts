/**
 * `deno task tools [TOOL…]`: build the pinned tools that are missing into the user cache.
 * @module
 */

import { runTask } from "../lib/cli.ts";
import { loadConfig } from "../lib/config.ts";

const config = loadConfig();

await runTask(
  {
    name: "tools",
    description: "Build the pinned external tools that are missing (or have the wrong version) with Go into\n" +
      `${config.toolsDir}. Re-running is a no-op once they are there.`,
    arguments: [{ name: "[tool...]", description: "only these tools (default: all)" }],
    options: [
      { flags: "--force", description: "rebuild even when the pinned version is present" },
      { flags: "--dry-run", description: "print the plan and the build commands without building" },
      { flags: "--list", description: "list the manifest: tool, pinned version, how it is built" },
    ],
    action: async (names: string[], opts: { force?: boolean; dryRun?: boolean; list?: boolean }) => {
      const { toolsCommand } = await import("../lib/tasks/tools.ts");
      return await toolsCommand(config, { names, ...opts });
    },
  },
  Deno.args,
  config.verbose,
);

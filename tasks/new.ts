/**
 * `deno task new system|platform|app NAME`: scaffold a component in its stack and register it with the root app.
 * @module
 */

import { runTask } from "../lib/cli.ts";
import { loadConfig } from "../lib/config.ts";
import type { Stack } from "../lib/stacks.ts";

const config = loadConfig();

/** `new STACK NAME`: scaffolds a component in `stack`. */
const component = (stack: Stack) => ({
  description: `Create ${stack}/NAME (namespace with Pod Security restricted, kustomization, README) and register ` +
    "it in root/components.json.",
  arguments: [{ name: "<name>", description: "its name: also its folder and namespace" }],
  options: [{ flags: "--purpose <text>", description: "one line saying what it is (README, components.json)" }],
  action: async (name: string, opts: { purpose?: string }) =>
    await (await import("../lib/tasks/new.ts")).newComponentCommand(config, stack, name, opts.purpose),
});

await runTask(
  {
    name: "new",
    description: "Scaffold repository content.",
    commands: [
      { name: "system", ...component("system") },
      { name: "platform", ...component("platform") },
      { name: "app", ...component("apps") },
    ],
  },
  Deno.args,
  config.verbose,
);

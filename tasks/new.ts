/**
 * `deno task new app NAME`: scaffold a component in apps/ and register it with the root app.
 * @module
 */

import { runTask } from "../lib/cli.ts";
import { loadConfig } from "../lib/config.ts";

const config = loadConfig();

await runTask(
  {
    name: "new",
    description: "Scaffold repository content.",
    commands: [{
      name: "app",
      description:
        "Create apps/NAME (namespace with Pod Security restricted, kustomization, README) and register it in root/components.json.",
      arguments: [{ name: "<name>", description: "the app's name: also its folder and namespace" }],
      options: [{ flags: "--purpose <text>", description: "one line saying what it is (README, components.json)" }],
      action: async (name: string, opts: { purpose?: string }) =>
        await (await import("../lib/tasks/new.ts")).newAppCommand(config, name, opts.purpose),
    }],
  },
  Deno.args,
  config.verbose,
);

/**
 * `deno task render`: every Application of the root app, built offline as Argo CD builds it.
 * @module
 */

import { Command, Option } from "commander";
import { runProgram } from "../lib/cli.ts";
import { loadConfig } from "../lib/config.ts";
import { consoleUi } from "../lib/ui.ts";

const config = loadConfig();

const program = new Command("render")
  .description(
    "Evaluate root/ (as Argo CD does) and build each Application's source with kustomize and Helm at the " +
      "versions the pinned Argo CD bundles. Charts come from the chart cache (pulled once); SOPS values " +
      "appear as digests. Prints a line per app; with --app and no --out, the YAML on standard output.",
  )
  .addOption(new Option("--env <env>", "which cluster").choices(["prod", "dev"]).default("prod"))
  .option("--app <name...>", "only these Applications")
  .option("--out <dir>", "write <dir>/root.yaml and <dir>/<app>.yaml")
  .option("--offline", "use only the chart cache; a missing chart is an error naming it")
  .option("--show-secrets", "decrypted values instead of digests (kept in memory; --out then writes them, 0600)")
  .action(
    async (opts: { env: "prod" | "dev"; app?: string[]; out?: string; offline?: boolean; showSecrets?: boolean }) => {
      const { renderCommand } = await import("../lib/render/tasks.ts");
      Deno.exitCode = await renderCommand(config, {
        env: opts.env,
        apps: opts.app,
        out: opts.out,
        offline: opts.offline,
        showSecrets: opts.showSecrets,
      }, consoleUi({ live: false }));
    },
  );

await runProgram(program, Deno.args, config.verbose);

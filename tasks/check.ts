/**
 * `deno task check`: render every Application, then validate the rendering.
 * @module
 */

import { Command, Option } from "commander";
import { runProgram } from "../lib/cli.ts";
import { loadConfig } from "../lib/config.ts";
import { consoleUi } from "../lib/ui.ts";

const config = loadConfig();

const program = new Command("check")
  .description(
    "Render every Application (as `deno task render` does), then check the rendering: schemas (Kubernetes of " +
      "talos/talconfig.yaml, the render's CRDs, schemas/runtime-crds.yaml; unknown fields and kinds are errors), " +
      "Pod Security (upstream policy code at each namespace's level, defaults from the Talos admission config), " +
      "stability between builds, namespaces, ownership, component folders, image pins, plaintext Secrets, CRD " +
      "sizes, references (GatewayClass, route parents and backends, StorageClass, LoadBalancer pool), and the " +
      "static stack checks. Prints ok / errors / warnings per app; exits 1 on any error.",
  )
  .addOption(new Option("--env <env>", "which cluster").choices(["prod", "dev"]).default("prod"))
  .option("--app <name...>", "report only these Applications (all are rendered: references cross apps)")
  .addOption(new Option("--format <format>", "report format").choices(["text", "json"]).default("text"))
  .option("--offline", "use only the caches (charts, manifests, schemas); a missing entry is an error naming it")
  .option(
    "--server",
    "then let a local kube-apiserver (the pinned Kubernetes, Talos's admission config) judge every object: " +
      "server-side dry-run with strict fields, CRD schemas and CEL rules, Pod Security admission",
  )
  .action(
    async (
      opts: { env: "prod" | "dev"; app?: string[]; format: "text" | "json"; offline?: boolean; server?: boolean },
    ) => {
      const { checkCommand } = await import("../lib/check/task.ts");
      Deno.exitCode = await checkCommand(config, {
        env: opts.env,
        apps: opts.app,
        format: opts.format,
        offline: opts.offline,
        server: opts.server,
      }, consoleUi({ live: false }));
    },
  );

await runProgram(program, Deno.args, config.verbose);

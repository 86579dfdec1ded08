/**
 * `deno task charts import DIR`: packaged charts into the content-addressed chart cache.
 * @module
 */

import { Command } from "commander";
import { runProgram } from "../lib/cli.ts";
import { loadConfig } from "../lib/config.ts";
import { consoleUi } from "../lib/ui.ts";

const config = loadConfig();

const program = new Command("charts").description("The chart cache that render uses (<cache>/homelab/charts).");

program.command("import")
  .description(
    "Put packaged charts (.tgz, from `helm package` or `helm pull`) into the chart cache, for air-gapped " +
      "machines or to render with charts you packaged yourself. Name and version come from each Chart.yaml; a " +
      "kustomization's chart with that name and version uses it unless one pulled from its own repo is cached.",
  )
  .argument("<dir>", "a folder of .tgz files, or one .tgz")
  .action(async (dir: string) => {
    const { chartsImportCommand } = await import("../lib/render/tasks.ts");
    Deno.exitCode = await chartsImportCommand(config, dir, consoleUi());
  });

await runProgram(program, Deno.args, config.verbose);

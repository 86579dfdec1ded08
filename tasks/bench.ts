/**
 * `deno task bench`: measure start-up times (.envrc, task start-up, the tools no-op).
 * @module
 */

import { Command, InvalidArgumentError } from "commander";
import { runProgram } from "../lib/cli.ts";
import { loadConfig } from "../lib/config.ts";

const config = loadConfig();

const program = new Command("bench")
  .description(
    "Measure the render benchmark (synthetic tree: naive, cold, warm, one app changed) and start-up figures: " +
      ".envrc load, `doctor --help`, the `tools` no-op; prints tables.",
  )
  .option("--runs <n>", "runs per benchmark (default: 50 for shell, 10 for Deno)", (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("a whole number of at least 1");
    return n;
  })
  .option("--render-apps <n>", "apps in the synthetic render benchmark (default 20; 0 skips it)", (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError("a whole number");
    return n;
  })
  .option("--only-render", "run only the render benchmark")
  .action(async (opts: { runs?: number; renderApps?: number; onlyRender?: boolean }) => {
    const { benchCommand } = await import("../lib/tasks/bench.ts");
    Deno.exitCode = await benchCommand(config, Deno.execPath(), opts.runs, {
      renderApps: opts.renderApps,
      only: opts.onlyRender ? "render" : undefined,
    });
  });

await runProgram(program, Deno.args, config.verbose);

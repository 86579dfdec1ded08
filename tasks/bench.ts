/**
 * `deno task bench`: measure start-up times (.envrc, task start-up, the tools no-op).
 * @module
 */

import { Command, InvalidArgumentError } from "commander";
import { runProgram } from "../lib/cli.ts";
import { loadConfig } from "../lib/config.ts";

const config = loadConfig();

const program = new Command("bench")
  .description("Measure start-up figures: .envrc load, `doctor --help`, the `tools` no-op; prints a table.")
  .option("--runs <n>", "runs per benchmark (default: 50 for shell, 10 for Deno)", (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("a whole number of at least 1");
    return n;
  })
  .action(async (opts: { runs?: number }) => {
    const { benchCommand } = await import("../lib/tasks/bench.ts");
    Deno.exitCode = await benchCommand(config, Deno.execPath(), opts.runs);
  });

await runProgram(program, Deno.args, config.verbose);

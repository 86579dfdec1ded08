/**
 * `deno task bench`: measure start-up times (.envrc, task start-up, the tools no-op).
 * @module
 */

import { runTask, wholeNumber } from "../lib/cli.ts";
import { loadConfig } from "../lib/config.ts";

const config = loadConfig();

await runTask(
  {
    name: "bench",
    description: "Measure start-up figures: .envrc load, `doctor --help` against an empty task, the `tools` no-op;\n" +
      "prints a table and the start-up ratio.",
    options: [
      {
        flags: "--runs <n>",
        description: "runs per benchmark (default: 50 for shell, 10 for Deno)",
        parse: wholeNumber(1),
      },
    ],
    action: async (opts: { runs?: number }) => {
      const { benchCommand } = await import("../lib/tasks/bench.ts");
      return await benchCommand(config, Deno.execPath(), opts.runs);
    },
  },
  Deno.args,
  config.verbose,
);

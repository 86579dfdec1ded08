/**
 * `deno task bench`: the render benchmark and start-up figures (.envrc, task start-up, the tools no-op).
 * @module
 */

import { runTask, wholeNumber } from "../lib/cli.ts";
import { loadConfig } from "../lib/config.ts";

const config = loadConfig();

await runTask(
  {
    name: "bench",
    description:
      "Measure the render benchmark (synthetic tree: naive, cold, warm, one app changed) and start-up figures:\n" +
      ".envrc load, `doctor --help` against an empty task (the start-up ratio), the `tools` no-op; prints tables.",
    options: [
      {
        flags: "--runs <n>",
        description: "runs per benchmark (default: 50 for shell, 10 for Deno)",
        parse: wholeNumber(1),
      },
      {
        flags: "--render-apps <n>",
        description: "apps in the synthetic render benchmark (default 20; 0 skips it)",
        parse: wholeNumber(0),
      },
      { flags: "--only-render", description: "run only the render benchmark" },
    ],
    action: async (opts: { runs?: number; renderApps?: number; onlyRender?: boolean }) => {
      const { benchCommand } = await import("../lib/tasks/bench.ts");
      return await benchCommand(config, Deno.execPath(), opts.runs, {
        renderApps: opts.renderApps,
        only: opts.onlyRender ? "render" : undefined,
      });
    },
  },
  Deno.args,
  config.verbose,
);

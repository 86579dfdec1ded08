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
      ".envrc load, `doctor --help` against an empty task (the start-up ratio), the `tools` no-op; prints tables.\n" +
      "--rehearse ENV adds the rehearsal of this repository (time to converge, per wave, peak memory).",
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
      {
        flags: "--rehearse <env>",
        description: "first rehearse this repository once (needs its charts in the cache): time to converge after " +
          "the control plane is up, time per wave, peak resident memory",
        choices: ["dev", "prod"],
      },
      { flags: "--only-rehearse", description: "with --rehearse: nothing else" },
    ],
    action: async (
      opts: {
        runs?: number;
        renderApps?: number;
        onlyRender?: boolean;
        rehearse?: "dev" | "prod";
        onlyRehearse?: boolean;
      },
    ) => {
      const { benchCommand } = await import("../lib/tasks/bench.ts");
      return await benchCommand(config, Deno.execPath(), opts.runs, {
        renderApps: opts.renderApps,
        only: opts.onlyRender ? "render" : opts.onlyRehearse ? "rehearse" : undefined,
        rehearse: opts.rehearse,
      });
    },
  },
  Deno.args,
  config.verbose,
);

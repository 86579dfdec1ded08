/**
 * `deno task doctor`: report the tools, age key, container runtime and host modules the tasks need.
 * @module
 */

import { runTask } from "../lib/cli.ts";
import { loadConfig } from "../lib/config.ts";
import { DEFAULT_PURPOSES, type Purpose, PURPOSES } from "../lib/tools.ts";

const config = loadConfig();

await runTask(
  {
    name: "doctor",
    description: "Check what the tasks need on this machine: each pinned tool (where it was found, its version),\n" +
      "the age key, the container runtime, the DRBD module and direnv. Exits 0 only when everything\n" +
      "needed for the chosen purposes is there.",
    options: [
      { flags: "--json", description: "print the report as JSON (for scripts)" },
      {
        flags: "--for <purposes...>",
        description: `the tasks to be ready for: ${
          Object.entries(PURPOSES).map(([p, v]) => `${p} (${v.task})`).join(", ")
        }`,
        choices: Object.keys(PURPOSES),
        default: DEFAULT_PURPOSES,
      },
    ],
    action: async (opts: { json?: boolean; for: Purpose[] }) =>
      await (await import("../lib/tasks/doctor.ts")).doctorCommand(config, opts, Deno.version.deno),
  },
  Deno.args,
  config.verbose,
);

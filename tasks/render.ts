/**
 * `deno task render`: every Application of the root app, built offline as Argo CD builds it.
 * @module
 */

import { runTask } from "../lib/cli.ts";
import { loadConfig } from "../lib/config.ts";

const config = loadConfig();

await runTask(
  {
    name: "render",
    description:
      "Evaluate root/ (as Argo CD does) and build each Application's source with kustomize and Helm at the " +
      "versions the pinned Argo CD bundles. Charts come from the chart cache (pulled once); SOPS values " +
      "appear as digests. Prints a line per app; with --app and no --out, the YAML on standard output.",
    options: [
      { flags: "--env <env>", description: "which cluster", choices: ["prod", "dev"], default: "prod" },
      {
        flags: "--app <name...>",
        description: "only these Applications (all are rendered when one's charts read .Capabilities.APIVersions: " +
          "the set holds every CRD of the tree)",
      },
      { flags: "--out <dir>", description: "write <dir>/root.yaml and <dir>/<app>.yaml" },
      { flags: "--offline", description: "use only the chart cache; a missing chart is an error naming it" },
      {
        flags: "--show-secrets",
        description: "decrypted values instead of digests (kept in memory; --out then writes them, 0600)",
      },
    ],
    action: async (
      opts: { env: "prod" | "dev"; app?: string[]; out?: string; offline?: boolean; showSecrets?: boolean },
    ) => {
      const [{ renderCommand }, { consoleUi }] = await Promise.all([
        import("../lib/tasks/render.ts"),
        import("../lib/ui.ts"),
      ]);
      return await renderCommand(config, {
        env: opts.env,
        apps: opts.app,
        out: opts.out,
        offline: opts.offline,
        showSecrets: opts.showSecrets,
      }, consoleUi({ live: false }));
    },
  },
  Deno.args,
  config.verbose,
);

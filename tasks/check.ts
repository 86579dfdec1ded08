/**
 * `deno task check`: render every Application, then validate the rendering.
 * @module
 */

import { runTask } from "../lib/cli.ts";
import { loadConfig } from "../lib/config.ts";

const config = loadConfig();

await runTask(
  {
    name: "check",
    description:
      "Render every Application (as `deno task render` does), then check the rendering: schemas (Kubernetes of " +
      "talos/talconfig.yaml, the render's CRDs, schemas/runtime-crds.yaml; unknown fields and kinds are errors), " +
      "Pod Security (upstream policy code at each namespace's level, defaults from the Talos admission config), " +
      "stability between builds, namespaces, ownership, component folders, image pins, plaintext Secrets, CRD " +
      "sizes, references (GatewayClass, route parents and backends, StorageClass, LoadBalancer pool), and the " +
      "static stack checks. Prints ok / errors / warnings per app; exits 1 on any error.",
    options: [
      { flags: "--env <env>", description: "which cluster", choices: ["prod", "dev"], default: "prod" },
      {
        flags: "--app <name...>",
        description: "report only these Applications (all are rendered: references cross apps; while another " +
          "app fails to build, an `incomplete` error on each says so, and the check fails)",
      },
      { flags: "--format <format>", description: "report format", choices: ["text", "json"], default: "text" },
      {
        flags: "--offline",
        description: "use only the caches (charts, manifests, schemas); a missing entry is an error naming it",
      },
      {
        flags: "--server",
        description: "then let a local kube-apiserver (the pinned Kubernetes, Talos's admission config) judge every " +
          "object: server-side dry-run with strict fields, CRD schemas and CEL rules, Pod Security admission",
      },
    ],
    action: async (
      opts: { env: "prod" | "dev"; app?: string[]; format: "text" | "json"; offline?: boolean; server?: boolean },
    ) => {
      const [{ checkCommand }, { consoleUi }] = await Promise.all([
        import("../lib/tasks/check.ts"),
        import("../lib/ui.ts"),
      ]);
      return await checkCommand(config, {
        env: opts.env,
        apps: opts.app,
        format: opts.format,
        offline: opts.offline,
        server: opts.server,
      }, consoleUi({ live: false }));
    },
  },
  Deno.args,
  config.verbose,
);

/**
 * `deno task rehearse`: a real Argo CD syncs this working copy into the local control plane.
 * @module
 */

import { durationMs, runTask } from "../lib/cli.ts";
import { loadConfig } from "../lib/config.ts";

const config = loadConfig();

await runTask(
  {
    name: "rehearse",
    description: "Sync this working copy with a real Argo CD (the pinned build; repo-server, application-controller, " +
      "Redis) into the local control plane (kwok nodes, Stages for the controllers absent here), all on 127.0.0.1: " +
      "the root app of the environment is applied and every Application followed until Synced and Healthy, then " +
      "refreshed hard and required to stay so. Prints the wave timeline and, for what did not converge, each " +
      "resource with its wave and Argo CD's message; exits 1 unless every Application converged and stayed.",
    options: [
      { flags: "--env <env>", description: "which cluster", choices: ["prod", "dev"], default: "prod" },
      { flags: "--app <name...>", description: "only these Applications (applied directly, without the root app)" },
      {
        flags: "--timeout <duration>",
        description: "how long to wait for every Application (90s, 10m, 1m30s)",
        default: 600_000,
        parse: durationMs,
      },
      { flags: "--format <format>", description: "report format", choices: ["text", "json"], default: "text" },
      {
        flags: "--crds-by-argocd",
        description: "let Argo CD create the tree's CRDs, as in the cluster (by default those it applies " +
          "server-side exist before it starts: each CRD event costs Argo CD a reload of its API schemas)",
      },
      {
        flags: "--keep",
        description: "after the report, keep everything running (the kubeconfig is printed) until Ctrl-C",
      },
    ],
    action: async (
      opts: {
        env: "prod" | "dev";
        app?: string[];
        timeout: number;
        format: "text" | "json";
        keep?: boolean;
        crdsByArgocd?: boolean;
      },
    ) => {
      const [{ rehearseCommand }, { consoleUi }] = await Promise.all([
        import("../lib/tasks/rehearse.ts"),
        import("../lib/ui.ts"),
      ]);
      return await rehearseCommand(config, {
        env: opts.env,
        apps: opts.app,
        timeoutMs: opts.timeout,
        format: opts.format,
        keep: opts.keep,
        crdsByArgoCD: opts.crdsByArgocd,
      }, consoleUi({ live: Deno.stderr.isTerminal() && !config.ci }));
    },
  },
  Deno.args,
  config.verbose,
);

/**
 * `deno task bootstrap [--dry-run] [--from STEP | --only STEP] [--yes]`: the real cluster from
 * Talos nodes in maintenance mode to every Application Synced and Healthy.
 * @module
 */

import { runTask } from "../lib/cli.ts";
import { loadConfig } from "../lib/config.ts";

const config = loadConfig();
const ageKey = Deno.env.get("SOPS_AGE_KEY");

await runTask(
  {
    name: "bootstrap",
    description:
      "Bring up the cluster of talos/talconfig.yaml: genconfig, apply, etcd, kubeconfig, Gateway API CRDs, Cilium,\n" +
      "Argo CD with its age key, the root app; then wait for every Application. Re-running resumes; done steps are skipped.",
    options: [
      { flags: "--dry-run", description: "print the plan with the exact commands; change nothing" },
      { flags: "--from <step>", description: "start at this step" },
      { flags: "--only <step>", description: "run only this step" },
      {
        flags: "--yes",
        description: "do not ask before destructive steps (installing Talos on nodes in maintenance mode)",
      },
      { flags: "--repo-url <url>", description: "the repository Argo CD follows (default: root/root.jsonnet's)" },
      { flags: "--revision <rev>", description: "the branch, tag or commit Argo CD follows (default: main)" },
    ],
    action: async (
      opts: { dryRun?: boolean; from?: string; only?: string; yes?: boolean; repoUrl?: string; revision?: string },
    ) => {
      const [{ repoContext }, { bootstrapCommand }, { ensureTools }] = await Promise.all([
        import("../lib/context.ts"),
        import("../lib/bootstrap/bootstrap.ts"),
        import("../lib/tasks/tools.ts"),
      ]);
      const ctx = repoContext(config, { ageKey, dryRun: opts.dryRun });
      await ensureTools(config, "bootstrap", ctx.ui);
      return await bootstrapCommand(ctx, {
        dryRun: opts.dryRun,
        from: opts.from,
        only: opts.only,
        yes: opts.yes,
        ask: (q) => Promise.resolve(!config.ci && Deno.stdin.isTerminal() && confirm(q)),
        repoURL: opts.repoUrl,
        revision: opts.revision,
      });
    },
  },
  Deno.args,
  config.verbose,
);

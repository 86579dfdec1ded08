/**
 * `deno task dev [--dry-run] [--from STEP | --only STEP]`, `dev down [--yes]`, `dev status`:
 * a kind cluster running the same stacks as the real one.
 * @module
 */

import { runTask } from "../lib/cli.ts";
import { loadConfig } from "../lib/config.ts";

const config = loadConfig();
const ageKey = Deno.env.get("SOPS_AGE_KEY");

async function context(dryRun = false) {
  const { repoContext } = await import("../lib/context.ts");
  return repoContext(config, { ageKey, dryRun });
}
const ask = (q: string) => Promise.resolve(!config.ci && Deno.stdin.isTerminal() && confirm(q));
const dev = () => import("../lib/bootstrap/dev.ts");

await runTask(
  {
    name: "dev",
    description: "A kind cluster (homelab-dev) running the same stacks: Cilium, Argo CD, the root app (env dev).\n" +
      "Without a subcommand: create the dev cluster unless it exists, then install Cilium, Argo CD and the root app;\n" +
      "resumable, done steps are skipped. Builds the pinned tools it misses first.",
    options: [
      { flags: "--dry-run", description: "print the plan with the exact commands; change nothing" },
      { flags: "--from <step>", description: "start at this step" },
      { flags: "--only <step>", description: "run only this step" },
      {
        flags: "--argocd-key",
        description:
          "give Argo CD in dev the production Argo CD key (decrypted with yours) instead of a dev-only key, so secrets open",
      },
      {
        flags: "--local",
        description:
          "Argo CD follows this working copy (served by git daemon while the task runs), not the pushed branch",
      },
    ],
    action: async (opts: { dryRun?: boolean; from?: string; only?: string; argocdKey?: boolean; local?: boolean }) => {
      const [{ runDev }, { renderBootstrap }, { ensureTools }] = await Promise.all([
        dev(),
        import("../lib/bootstrap/bootstrap.ts"),
        import("../lib/tasks/tools.ts"),
      ]);
      const ctx = await context(opts.dryRun);
      await ensureTools(config, "dev", ctx.ui);
      await runDev({
        ctx,
        render: () => renderBootstrap(config, "dev", ctx.ui),
        drbdFile: "/proc/drbd",
        productionKey: opts.argocdKey,
        local: opts.local ? {} : undefined,
      }, opts);
    },
    commands: [
      {
        name: "down",
        description: "Delete the dev cluster (only homelab-dev; asks first)",
        options: [{ flags: "--yes", description: "do not ask" }],
        action: async (opts: { yes?: boolean }) => {
          await (await dev()).devDown(await context(), { yes: opts.yes, ask });
        },
      },
      {
        name: "status",
        description: "Whether the dev cluster exists, its nodes and its Applications",
        action: async () => {
          const { devStatusCommand } = await import("../lib/tasks/dev.ts");
          return await devStatusCommand(await context());
        },
      },
    ],
  },
  Deno.args,
  config.verbose,
);

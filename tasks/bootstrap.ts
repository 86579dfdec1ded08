/**
 * `deno task bootstrap [--dry-run] [--from STEP | --only STEP] [--yes]`: the real cluster from
 * Talos nodes in maintenance mode to every Application Synced and Healthy.
 * @module
 */

import { Command } from "commander";
import { runProgram } from "../lib/cli.ts";
import { loadConfig } from "../lib/config.ts";

const config = loadConfig();
const ageKey = Deno.env.get("SOPS_AGE_KEY");

const program = new Command("bootstrap")
  .description(
    "Bring up the cluster of talos/talconfig.yaml: genconfig, apply, etcd, kubeconfig, Gateway API CRDs, Cilium,\n" +
      "Argo CD with its age key, the root app; then wait for every Application. Re-running resumes; done steps are skipped.",
  )
  .option("--dry-run", "print the plan with the exact commands; change nothing")
  .option("--from <step>", "start at this step")
  .option("--only <step>", "run only this step")
  .option("--yes", "do not ask before destructive steps (installing Talos on nodes in maintenance mode)")
  .option("--repo-url <url>", "the repository Argo CD follows (default: root/root.jsonnet's)")
  .option("--revision <rev>", "the branch, tag or commit Argo CD follows (default: main)")
  .action(
    async (
      opts: { dryRun?: boolean; from?: string; only?: string; yes?: boolean; repoUrl?: string; revision?: string },
    ) => {
      const { repoContext } = await import("../lib/context.ts");
      const { bootstrapCommand } = await import("../lib/bootstrap/bootstrap.ts");
      const ctx = repoContext(config, { ageKey, dryRun: opts.dryRun });
      Deno.exitCode = await bootstrapCommand(ctx, {
        dryRun: opts.dryRun,
        from: opts.from,
        only: opts.only,
        yes: opts.yes,
        ask: (q) => Promise.resolve(!config.ci && Deno.stdin.isTerminal() && confirm(q)),
        repoURL: opts.repoUrl,
        revision: opts.revision,
      });
    },
  );

await runProgram(program, Deno.args, config.verbose);

/**
 * `deno task dev [up] [--dry-run] [--from STEP | --only STEP]`, `dev down [--yes]`, `dev status`:
 * a kind cluster running the same stacks as the real one.
 * @module
 */

import { Command } from "commander";
import { runProgram } from "../lib/cli.ts";
import { loadConfig } from "../lib/config.ts";

const config = loadConfig();

async function context(dryRun = false) {
  const { repoContext } = await import("../lib/context.ts");
  return repoContext(config, { ageKey: Deno.env.get("SOPS_AGE_KEY"), dryRun });
}
const ask = (q: string) => Promise.resolve(!config.ci && Deno.stdin.isTerminal() && confirm(q));

const program = new Command("dev")
  .description("A kind cluster (homelab-dev) running the same stacks: Cilium, Argo CD, the root app (env dev).");

program.command("up", { isDefault: true })
  .description("Create the dev cluster unless it exists, then install Cilium, Argo CD and the root app; resumable")
  .option("--dry-run", "print the plan with the exact commands; change nothing")
  .option("--from <step>", "start at this step")
  .option("--only <step>", "run only this step")
  .option(
    "--argocd-key",
    "give Argo CD in dev the production Argo CD key (decrypted with yours) instead of a dev-only key, so secrets open",
  )
  .option(
    "--local",
    "Argo CD follows this working copy (served by git daemon while the task runs), not the pushed branch",
  )
  .action(async (opts: { dryRun?: boolean; from?: string; only?: string; argocdKey?: boolean; local?: boolean }) => {
    const { runDev } = await import("../lib/bootstrap/dev.ts");
    const { renderBootstrap } = await import("../lib/bootstrap/bootstrap.ts");
    const ctx = await context(opts.dryRun);
    await runDev({
      ctx,
      render: () => renderBootstrap(config, "dev", ctx.ui),
      drbdFile: "/proc/drbd",
      productionKey: opts.argocdKey,
      local: opts.local ? {} : undefined,
    }, opts);
  });

program.command("down")
  .description("Delete the dev cluster (only homelab-dev; asks first)")
  .option("--yes", "do not ask")
  .action(async (opts: { yes?: boolean }) => {
    const { devDown } = await import("../lib/bootstrap/dev.ts");
    await devDown(await context(), { yes: opts.yes, ask });
  });

program.command("status")
  .description("Whether the dev cluster exists, its nodes and its Applications")
  .action(async () => {
    const { devStatus } = await import("../lib/bootstrap/dev.ts");
    for (const line of await devStatus(await context())) console.log(line);
  });

await runProgram(program, Deno.args, config.verbose);

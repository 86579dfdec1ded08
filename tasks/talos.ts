/**
 * `deno task talos <schematic|gensecret|genconfig|apply|bootstrap|kubeconfig|upgrade|upgrade-k8s|status>`.
 * @module
 */

import { resolve } from "node:path";
import { Command, Option } from "commander";
import { runProgram } from "../lib/cli.ts";
import { loadConfig } from "../lib/config.ts";

const config = loadConfig();
const ageKey = Deno.env.get("SOPS_AGE_KEY");
// `deno task` runs in the repository root; paths are meant from where the user typed them.
const userCwd = Deno.env.get("INIT_CWD") ?? Deno.cwd();

async function context(dryRun = false) {
  const { repoContext } = await import("../lib/context.ts");
  return repoContext(config, { ageKey, dryRun });
}

const tasks = () => import("../lib/talos/tasks.ts");

const program = new Command("talos")
  .description("Talos: the nodes' configuration (talos/) and their operation through talhelper and talosctl.");

program.command("schematic")
  .description(
    "Print the Image Factory schematic ID (computed offline), the Secure Boot installer and ISO URL;\nfail when talconfig disagrees with the schematic.",
  )
  .argument("[file]", "a schematic file (default talos/schematic.yaml)")
  .option("--json", 'print {"id", "installer", "iso"}')
  .action(async (file: string | undefined, opts: { json?: boolean }) => {
    const path = file === undefined ? undefined : resolve(userCwd, file);
    Deno.exitCode = await (await tasks()).schematicCommand(await context(), path, opts.json ?? false);
  });

program.command("gensecret")
  .description("Create talos/talsecret.sops.yaml, encrypted straight away (never in plaintext on disk).")
  .option(
    "--force",
    "replace an existing bundle (only before the cluster exists: new CAs lock you out of a running one)",
  )
  .action(async (opts: { force?: boolean }) => {
    Deno.exitCode = await (await tasks()).gensecretCommand(await context(), opts.force ?? false);
  });

program.command("genconfig")
  .description(
    "Generate talos/clusterconfig/ (git-ignored, 0600) with talhelper; refuses without a secret bundle you can decrypt.",
  )
  .action(async () => {
    Deno.exitCode = await (await tasks()).genconfigCommand(await context());
  });

program.command("apply")
  .description(
    "Apply each node's config: with --insecure to a node in maintenance mode, through its credentials otherwise.",
  )
  .option("--node <name>", "only this node")
  .addOption(
    new Option("--mode <mode>", "apply mode for installed nodes").choices([
      "auto",
      "no-reboot",
      "reboot",
      "staged",
      "try",
    ])
      .default("auto"),
  )
  .option("--dry-run", "print the commands instead of running them")
  .action(async (opts: { node?: string; mode: string; dryRun?: boolean }) => {
    Deno.exitCode = await (await tasks()).applyCommand(await context(opts.dryRun), opts);
  });

program.command("bootstrap")
  .description(
    "Bootstrap etcd on the first control plane (once; 'already bootstrapped' counts as done; transient errors retried).",
  )
  .option("--dry-run", "print the command instead of running it")
  .action(async (opts: { dryRun?: boolean }) => {
    Deno.exitCode = await (await tasks()).bootstrapCommand(await context(opts.dryRun));
  });

program.command("kubeconfig")
  .description("Fetch the cluster's kubeconfig into .kube/config (repository-local, 0600; KUBECONFIG in .envrc).")
  .option("--dry-run", "print the command instead of running it")
  .action(async (opts: { dryRun?: boolean }) => {
    Deno.exitCode = await (await tasks()).kubeconfigCommand(await context(opts.dryRun));
  });

program.command("upgrade")
  .description(
    "Rolling Talos upgrade, one node at a time, with the Secure Boot installer of talos/schematic.yaml;\nwaits for each node to come back Ready with etcd healthy; stops at the first failure.",
  )
  .option("--node <name>", "only this node")
  .option("--dry-run", "print the commands instead of running them")
  .action(async (opts: { node?: string; dryRun?: boolean }) => {
    Deno.exitCode = await (await tasks()).upgradeCommand(await context(opts.dryRun), opts);
  });

program.command("upgrade-k8s")
  .description("Upgrade Kubernetes to the version pinned in talconfig (talosctl upgrade-k8s).")
  .option("--dry-run", "print the command instead of running it")
  .option("--preview", "run talosctl's own dry run: show what would change")
  .action(async (opts: { dryRun?: boolean; preview?: boolean }) => {
    Deno.exitCode = await (await tasks()).upgradeK8sCommand(await context(opts.dryRun), opts.preview ?? false);
  });

program.command("status")
  .description(
    "Per node: reachable, maintenance or installed, Talos version against the pin, Secure Boot, disk encryption.",
  )
  .option("--node <name>", "only this node")
  .option("--json", "print the status as JSON")
  .action(async (opts: { node?: string; json?: boolean }) => {
    Deno.exitCode = await (await tasks()).statusCommand(await context(), opts);
  });

await runProgram(program, Deno.args, config.verbose);

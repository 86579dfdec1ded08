/**
 * `deno task talos <schematic|gensecret|genconfig|apply|bootstrap|kubeconfig|upgrade|upgrade-k8s|status>`.
 * @module
 */

import { runTask } from "../lib/cli.ts";
import { loadConfig } from "../lib/config.ts";

const config = loadConfig();
const ageKey = Deno.env.get("SOPS_AGE_KEY");
// `deno task` runs in the repository root; paths are meant from where the user typed them.
const userCwd = Deno.env.get("INIT_CWD") ?? Deno.cwd();

async function context(dryRun = false) {
  const { repoContext } = await import("../lib/context.ts");
  return repoContext(config, { ageKey, dryRun });
}

const tasks = () => import("../lib/tasks/talos.ts");
const dryRun = (what = "the commands") => ({
  flags: "--dry-run",
  description: `print ${what} instead of running them`,
});
const node = { flags: "--node <name>", description: "only this node" };

await runTask(
  {
    name: "talos",
    description: "Talos: the nodes' configuration (talos/) and their operation through talhelper and talosctl.",
    commands: [
      {
        name: "schematic",
        description:
          "Print the Image Factory schematic ID (computed offline), the Secure Boot installer and ISO URL;\n" +
          "fail when talconfig disagrees with the schematic.",
        arguments: [{ name: "[file]", description: "a schematic file (default talos/schematic.yaml)" }],
        options: [{ flags: "--json", description: 'print {"id", "installer", "iso"}' }],
        action: async (file: string | undefined, opts: { json?: boolean }) => {
          const path = file === undefined ? undefined : (await import("../lib/path.ts")).userPath(userCwd, file);
          return await (await tasks()).schematicCommand(await context(), path, opts.json ?? false);
        },
      },
      {
        name: "gensecret",
        description: "Create talos/talsecret.sops.yaml, encrypted straight away (never in plaintext on disk).",
        options: [{
          flags: "--force",
          description:
            "replace an existing bundle (only before the cluster exists: new CAs lock you out of a running one)",
        }],
        action: async (opts: { force?: boolean }) =>
          await (await tasks()).gensecretCommand(await context(), opts.force ?? false),
      },
      {
        name: "genconfig",
        description:
          "Generate talos/clusterconfig/ (git-ignored, 0600) with talhelper; refuses without a secret bundle you can decrypt.",
        action: async () => await (await tasks()).genconfigCommand(await context()),
      },
      {
        name: "apply",
        description:
          "Apply each node's config: with --insecure to a node in maintenance mode, through its credentials otherwise.",
        options: [
          node,
          {
            flags: "--mode <mode>",
            description: "apply mode for installed nodes",
            choices: ["auto", "no-reboot", "reboot", "staged", "try"],
            default: "auto",
          },
          dryRun(),
        ],
        action: async (opts: { node?: string; mode: string; dryRun?: boolean }) =>
          await (await tasks()).applyCommand(await context(opts.dryRun), opts),
      },
      {
        name: "bootstrap",
        description:
          "Bootstrap etcd on the first control plane (once; 'already bootstrapped' counts as done; transient errors retried).",
        options: [dryRun("the command")],
        action: async (opts: { dryRun?: boolean }) =>
          await (await tasks()).bootstrapCommand(await context(opts.dryRun)),
      },
      {
        name: "kubeconfig",
        description: "Fetch the cluster's kubeconfig into .kube/config (repository-local, 0600; KUBECONFIG in .envrc).",
        options: [dryRun("the command")],
        action: async (opts: { dryRun?: boolean }) =>
          await (await tasks()).kubeconfigCommand(await context(opts.dryRun)),
      },
      {
        name: "upgrade",
        description:
          "Rolling Talos upgrade, one node at a time, with the Secure Boot installer of talos/schematic.yaml;\nwaits for each node to come back Ready with etcd healthy; stops at the first failure.",
        options: [node, dryRun()],
        action: async (opts: { node?: string; dryRun?: boolean }) =>
          await (await tasks()).upgradeCommand(await context(opts.dryRun), opts),
      },
      {
        name: "upgrade-k8s",
        description: "Upgrade Kubernetes to the version pinned in talconfig (talosctl upgrade-k8s).",
        options: [dryRun("the command"), {
          flags: "--preview",
          description: "run talosctl's own dry run: show what would change",
        }],
        action: async (opts: { dryRun?: boolean; preview?: boolean }) =>
          await (await tasks()).upgradeK8sCommand(await context(opts.dryRun), opts.preview ?? false),
      },
      {
        name: "status",
        description:
          "Per node: reachable, maintenance or installed, Talos version against the pin, Secure Boot, disk encryption.",
        options: [node, { flags: "--json", description: "print the status as JSON" }],
        action: async (opts: { node?: string; json?: boolean }) =>
          await (await tasks()).statusCommand(await context(), opts),
      },
    ],
  },
  Deno.args,
  config.verbose,
);

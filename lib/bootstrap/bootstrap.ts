/**
 * `deno task bootstrap`: the real cluster from Talos nodes in maintenance mode to every
 * Application Synced and Healthy, as a list of steps (see `lib/steps.ts`):
 *
 *   preflight → genconfig → apply → etcd → kubeconfig → gateway-api → cilium → nodes →
 *   argocd-key → argocd → root → apps
 *
 * Each step looks at the nodes (through talosctl) or the cluster (through the API) to tell
 * whether it is done, so a run that was stopped anywhere resumes and repeats nothing.
 *
 * @module
 */

import { join } from "node:path";
import { cmd, render as showCommand, type Secret } from "../cmd.ts";
import { HomelabError } from "../errors.ts";
import type { Config } from "../config.ts";
import { type Env, type Finding, type KubeObject, type Rendering, showRef } from "../render/model.ts";
import type { Ui } from "../ui.ts";
import { sopsOf } from "../secrets/context.ts";
import { requireKeyFor } from "../secrets/lifecycle.ts";
import { runSteps, type Step, type StepReport } from "../steps.ts";
import { apply, bootstrap, Cluster, kubeconfig, kubeconfigPath } from "../talos/cluster.ts";
import { genconfig, genconfigCmd, loadTalconfig, type TalosContext } from "../talos/config.ts";
import { appObjects, type ClusterSide, clusterSteps, DEFAULT_TIMEOUTS, type Timeouts } from "./cluster_steps.ts";
import { Kube } from "./kube.ts";
import { PATHS } from "../repo.ts";

/** The Applications bootstrap applies itself, before Argo CD runs. */
const BOOTSTRAP_APPS = ["gateway-api", "cilium", "argocd"] as const;

/**
 * The bootstrap Applications rendered by the render pipeline, exactly as `deno task render`
 * builds them for `env`: what bootstrap and dev apply.
 */
export async function renderBootstrap(config: Config, env: Env, ui: Ui): Promise<Rendering> {
  const { render } = await import("../render/pipeline.ts");
  return await render(config, { env, apps: [...BOOTSTRAP_APPS] }, ui);
}

/** The tools bootstrap runs. */
const BOOTSTRAP_TOOLS = ["talosctl", "talhelper", "sops", "kubectl", "jsonnet", "kustomize", "helm"];

/** How to run bootstrap. */
export interface RunOptions {
  readonly from?: string;
  readonly only?: string;
  readonly yes?: boolean;
  readonly ask?: (q: string) => Promise<boolean>;
}

/** What bootstrap works with; tests give their own rendering, timing and expected API server. */
export interface BootstrapDeps {
  readonly ctx: TalosContext;
  readonly cluster: Cluster;
  /** Renders the bootstrap Applications for `prod` (the render pipeline). */
  readonly render: () => Promise<Rendering>;
  /** How the rendering is made, for the plan. */
  readonly renderPlan?: (app: string) => string;
  /**
   * `deno task check` of the bootstrap Applications (what it finds, errors and warnings); the
   * preflight stops on any error. Without it only the render is checked.
   */
  readonly check?: () => Promise<readonly Finding[]>;
  /** The API server the kubeconfig must point at (default: talconfig's endpoint). */
  readonly apiServer?: string;
  readonly repoURL?: string;
  readonly revision?: string;
  readonly timeouts?: Timeouts;
}

/** The root Application (`root/root.jsonnet`) for an environment, repository and revision. */
export function rootCommand(
  root: string,
  tlas: { env: string; repoURL?: string; revision?: string; include?: string },
) {
  const args = ["--tla-str", `env=${tlas.env}`];
  if (tlas.repoURL) args.push("--tla-str", `repoURL=${tlas.repoURL}`);
  if (tlas.revision) args.push("--tla-str", `revision=${tlas.revision}`);
  if (tlas.include) args.push("--tla-str", `include=${tlas.include}`);
  return cmd("jsonnet", [...args, "root.jsonnet"], { cwd: join(root, "root"), readOnly: true });
}

function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => {
    p ??= fn().catch((err) => {
      p = undefined;
      throw err;
    });
    return p;
  };
}

async function newer(file: string, than: readonly string[]): Promise<boolean> {
  const m = await Deno.stat(file).then((s) => s.mtime?.getTime() ?? 0, () => -1);
  if (m < 0) return false;
  for (const t of than) {
    const n = await Deno.stat(t).then((s) => s.mtime?.getTime() ?? 0, () => 0);
    if (n > m) return false;
  }
  return true;
}

/** The steps of bootstrap, and the context guard that runs before any step changes the cluster. */
function bootstrapSteps(d: BootstrapDeps): { steps: Step[]; kube: Kube } {
  const { ctx, cluster } = d;
  const config = cluster.config;
  const kube = new Kube(ctx.runner, kubeconfigPath(ctx), {
    server: d.apiServer ?? config.endpoint,
    label: `the cluster '${config.clusterName}' of ${PATHS.talconfig}`,
  });
  const first = cluster.firstControlPlane();
  const rendering = once(d.render);
  const rootCmd = rootCommand(ctx.root, { env: "prod", repoURL: d.repoURL, revision: d.revision });
  const rootApp = once(async () => JSON.parse(await ctx.runner.output(rootCmd)) as KubeObject);
  const argocdKey = async (): Promise<Secret> => await sopsOf(ctx).decrypt(PATHS.argocdKey);
  const etcdMembers = cluster.talosctl(first, ["etcd", "members"], { readOnly: true, timeout: 20_000 });

  const side: ClusterSide = {
    kube,
    ui: ctx.ui,
    env: "prod",
    rendering,
    renderPlan: d.renderPlan ?? ((app) => `render the ${app} Application for prod (as \`deno task render\` does)`),
    argocdKey,
    argocdKeyPlan: showCommand(cmd("sops", ["decrypt", PATHS.argocdKey], { cwd: ctx.root })) +
      "  (into memory only)",
    rootApp,
    rootPlan: showCommand(rootCmd),
    nodes: config.nodes.length,
    timeouts: d.timeouts ?? DEFAULT_TIMEOUTS,
  };

  const configFiles = [...config.nodes.map((n) => cluster.configFile(n)), cluster.talosconfig];
  const inputs = [PATHS.talconfig, PATHS.talenv, PATHS.talosBundle].map((f) => join(ctx.root, f));

  const talos: Step[] = [
    {
      name: "preflight",
      title: "tools, keys, secret bundle and Argo CD key decryptable, talconfig valid, nodes reachable",
      plan: () => [
        `find ${BOOTSTRAP_TOOLS.join(", ")} (the pinned versions)`,
        showCommand(cmd("sops", ["decrypt", PATHS.talosBundle], { cwd: ctx.root })) + "  (checked, not kept)",
        showCommand(cmd("sops", ["decrypt", PATHS.argocdKey], { cwd: ctx.root })) + "  (checked, not kept)",
        ...config.nodes.map((n) => showCommand(cluster.insecure(n, ["get", "machinestatus", "-o", "json"]))),
        `render ${
          BOOTSTRAP_APPS.join(", ")
        } for prod and check them (as \`deno task check\` does); an error stops here`,
      ],
      async done() {
        const missing: string[] = [];
        for (const t of BOOTSTRAP_TOOLS) {
          await ctx.runner.resolve(t).catch((e) => missing.push(`${t}: ${(e as Error).message}`));
        }
        if (missing.length) {
          throw new HomelabError(`missing tools:\n${missing.map((m) => `  - ${m}`).join("\n")}`, {
            hint: "run `deno task doctor --for bootstrap`, then `deno task tools` or `nix develop`",
          });
        }
        for (const file of [PATHS.talosBundle, PATHS.argocdKey]) {
          await requireKeyFor(ctx, file);
          await sopsOf(ctx).decrypt(file);
        }
        const states = await Promise.all(config.nodes.map(async (n) => ({ n, ...(await cluster.state(n)) })));
        const down = states.filter((s) => s.state === "unreachable");
        if (down.length) {
          throw new HomelabError(
            `nodes not reachable:\n${
              down.map((s) => `  - ${s.n.hostname} (${s.n.ipAddress}): ${s.detail}`).join("\n")
            }`,
            { hint: "power them on (booted from the Talos ISO they wait in maintenance mode) and check the addresses" },
          );
        }
        // The bootstrap Applications must render (a build error stops here, not halfway through).
        const r = await rendering();
        for (const app of BOOTSTRAP_APPS) appObjects(r, app);
        // …and pass `check`: what the cluster would refuse or never get in sync stops here too.
        const errors = (await d.check?.() ?? []).filter((f) => f.severity === "error");
        if (errors.length) {
          const shown = errors.slice(0, 10).map((f) =>
            `  - ${f.app}: ${f.check}${f.object ? ` ${showRef(f.object)}` : ""}: ${f.message.split("\n")[0]}`
          );
          if (errors.length > 10) shown.push(`  - and ${errors.length - 10} more`);
          throw new HomelabError(
            `check finds ${errors.length} error(s) in what bootstrap installs:\n${shown.join("\n")}`,
            {
              hint: `run \`deno task check --app ${BOOTSTRAP_APPS.join(" ")}\` for the whole report; fix them first`,
            },
          );
        }
        const counts = ["maintenance", "installed"].map((m) => `${states.filter((s) => s.state === m).length} ${m}`);
        return `${BOOTSTRAP_TOOLS.length} tools, talconfig valid, keys decrypt, ${BOOTSTRAP_APPS.length} apps render, ${states.length} nodes reachable (${
          counts.join(", ")
        })`;
      },
    },
    {
      name: "genconfig",
      title: `the nodes' machine configs in ${PATHS.talosOut}/ (talhelper, from the secret bundle)`,
      plan: () => [
        showCommand(genconfigCmd(ctx.root, `${PATHS.talosOut}.<staging>`)),
      ],
      async done() {
        for (const f of configFiles) if (!(await newer(f, inputs))) return undefined;
        return `${configFiles.length} files newer than talconfig, talenv and the bundle`;
      },
      async run() {
        await genconfig(ctx);
      },
    },
    {
      name: "apply",
      title: "each node's config (with --insecure to nodes in maintenance mode)",
      confirm: `install Talos on the nodes of ${PATHS.talconfig} that are in maintenance mode ` +
        "(their install disks are wiped)?",
      plan: () =>
        config.nodes.map((n) => showCommand(cluster.insecure(n, ["apply-config", "--file", cluster.configFile(n)]))),
      async done() {
        for (const n of config.nodes) if ((await cluster.state(n)).state !== "installed") return undefined;
        for (const n of config.nodes) await cluster.requireOurs(n);
        return `${config.nodes.length} nodes installed and accept ${PATHS.talosOut}/talosconfig`;
      },
      async run() {
        const results = await apply(cluster);
        const skipped = results.filter((r) => r.action === "skipped");
        if (skipped.length) {
          throw new HomelabError(`not applied: ${skipped.map((r) => `${r.node} (${r.detail})`).join(", ")}`, {
            hint: "bring the node back and re-run; nodes already installed are skipped",
          });
        }
      },
    },
    {
      name: "etcd",
      title: `etcd bootstrapped on ${first.hostname} (once; AlreadyExists counts as done)`,
      plan: () => [showCommand(cluster.talosctl(first, ["bootstrap"]))],
      async done() {
        const r = await ctx.runner.run(etcdMembers, { check: false });
        return r.code === 0 ? `etcd has members (${first.hostname})` : undefined;
      },
      async run() {
        await bootstrap(cluster);
      },
    },
    {
      name: "kubeconfig",
      title: `the cluster's kubeconfig in .kube/config (repository-local, 0600)`,
      guarded: true,
      plan:
        () => [showCommand(cluster.talosctl(first, ["kubeconfig", kubeconfigPath(ctx), "--force", "--merge=false"]))],
      async done() {
        const kc = await kube.read();
        return kc ? `context ${kc.context} at ${kc.server}` : undefined;
      },
      async run() {
        await kubeconfig(cluster);
        await kube.guard(true);
      },
    },
  ];
  return { steps: [...talos, ...clusterSteps(side)], kube };
}

/** Runs bootstrap; returns what each step did. */
export async function runBootstrap(
  d: BootstrapDeps,
  options: RunOptions & { dryRun?: boolean },
): Promise<StepReport[]> {
  const { steps, kube } = bootstrapSteps(d);
  try {
    return await runSteps("bootstrap", steps, {
      ui: d.ctx.ui,
      from: options.from,
      only: options.only,
      yes: options.yes,
      ask: options.ask,
      dryRun: options.dryRun,
      guard: () => kube.guard(),
    });
  } finally {
    await kube.close();
  }
}

/** `deno task bootstrap`: talconfig loaded and checked, the real render pipeline, the real timing. */
export async function bootstrapCommand(
  ctx: TalosContext,
  options: RunOptions & { dryRun?: boolean; repoURL?: string; revision?: string },
): Promise<number> {
  const config = await loadTalconfig(ctx);
  await runBootstrap({
    ctx,
    cluster: new Cluster(ctx, config),
    render: () => renderBootstrap(ctx.config, "prod", ctx.ui),
    check: async () => {
      const { runCheck } = await import("../check/run.ts");
      return (await runCheck(ctx.config, { env: "prod", apps: [...BOOTSTRAP_APPS] }, ctx.ui)).findings;
    },
    repoURL: options.repoURL,
    revision: options.revision,
  }, options);
  return 0;
}

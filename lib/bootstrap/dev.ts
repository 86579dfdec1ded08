/**
 * `deno task dev`: a kind cluster on this machine running the same stacks as the real cluster
 * (the `dev` environment of the root app), through the same steps as bootstrap once the cluster
 * answers:
 *
 *   preflight → cluster → kubeconfig → dev-key → gateway-api → cilium → nodes → argocd-key →
 *   argocd → root → apps
 *
 * The dev cluster gets its own age key (`.dev/age.txt`, git-ignored, made here), never the
 * owner's keys. `dev down` deletes only the dev cluster; `dev status` shows it.
 *
 * @module
 */

import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { cmd, type Daemon, render as showCommand, type Runner, secret } from "../cmd.ts";
import { HomelabError } from "../errors.ts";
import type { KubeObject, Rendering } from "../render/model.ts";
import { type SecretsContext, sopsOf } from "../secrets/context.ts";
import { requireKeyFor } from "../secrets/lifecycle.ts";
import { runSteps, type Step, type StepReport } from "../steps.ts";
import { PINS } from "../tools.ts";
import { appObjects, type ClusterSide, clusterSteps, DEFAULT_TIMEOUTS, type Timeouts } from "./cluster_steps.ts";
import { rootCommand } from "./bootstrap.ts";
import { Kube } from "./kube.ts";
import { kindGateway, LOCAL_BRANCH, LocalRepo, SERVE_DIR, SERVED_REPO } from "./local.ts";
import { PATHS } from "../repo.ts";

/** The dev cluster's name (kind's context is `kind-<name>`). */
export const DEV_NAME = "homelab-dev";
/** The dev cluster's age key (git-ignored). */
const DEV_KEY = ".dev/age.txt";
/** The dev cluster's kubeconfig (git-ignored). */
const DEV_KUBECONFIG = ".kube/dev.yaml";
/** The tools dev runs. */
const DEV_TOOLS = ["docker", "kind", "kubectl", "jsonnet", "age-keygen", "git", "kustomize", "helm"];

/** What dev works with; tests give their own rendering and timing. */
export interface DevDeps {
  readonly ctx: SecretsContext;
  /** Renders the bootstrap Applications for `dev`. */
  readonly render: () => Promise<Rendering>;
  readonly renderPlan?: (app: string) => string;
  /** Where the kernel reports DRBD (`/proc/drbd`); with DRBD 9 there, Piraeus runs in dev too. */
  readonly drbdFile: string;
  /**
   * Asked for (`--argocd-key`): give Argo CD in dev the production Argo CD key (decrypted with
   * the owner's key) instead of the dev key, so the stacks' secrets open in dev too.
   */
  readonly productionKey?: boolean;
  /**
   * `--local`: Argo CD follows a snapshot of this working copy served by `git daemon` on the kind
   * network's gateway (`port`, 9418 by default) while the task runs; `until` ends the serving
   * (none: until Ctrl-C).
   */
  readonly local?: { readonly port?: number; readonly until?: Promise<void> };
  readonly timeouts?: Timeouts;
}

/** Whether the host's kernel has DRBD 9 (Piraeus needs it; kind nodes share the host's kernel). */
export function drbd9(file: string): { ok: boolean; detail: string } {
  let text: string | undefined;
  try {
    text = Deno.readTextFileSync(file);
  } catch {
    text = undefined;
  }
  if (text === undefined) return { ok: false, detail: `${file} does not exist (the drbd module is not loaded)` };
  const version = /version:\s*(\d+)\.(\d+)/.exec(text);
  if (!version) return { ok: false, detail: `${file} names no version` };
  return Number(version[1]) >= 9
    ? { ok: true, detail: `DRBD ${version[1]}.${version[2]}` }
    : { ok: false, detail: `DRBD ${version[1]}.${version[2]} is loaded; Piraeus needs 9` };
}

/** What `dev` says about Piraeus on this host. */
function piraeusNote(file: string): string {
  const d = drbd9(file);
  return d.ok
    ? `piraeus included: ${d.detail} on this host (kind nodes share its kernel); the root app gets include=piraeus`
    : `piraeus left out: ${d.detail}. To run it in dev, load DRBD 9 on this host (kind nodes share its kernel: ` +
      "`modprobe drbd` with the DRBD 9 module from LINBIT) and re-run `deno task dev`";
}

function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= fn().catch((err) => {
    p = undefined;
    throw err;
  }));
}

async function git(runner: Runner, root: string, args: string[]): Promise<string | undefined> {
  const r = await runner.run(cmd("git", args, { cwd: root, readOnly: true }), { check: false });
  return r.code === 0 ? r.stdout.trim() : undefined;
}

/** The repository Argo CD follows in dev: origin's URL and the current branch; warns about unpushed commits. */
export async function followed(ctx: SecretsContext): Promise<{ repoURL?: string; revision: string; warning?: string }> {
  const repoURL = await git(ctx.runner, ctx.root, ["remote", "get-url", "origin"]);
  const branch = await git(ctx.runner, ctx.root, ["rev-parse", "--abbrev-ref", "HEAD"]) ?? "main";
  const ahead = await git(ctx.runner, ctx.root, ["rev-list", "--count", "@{upstream}..HEAD"]);
  let warning: string | undefined;
  if (ahead === undefined) {
    warning = `branch ${branch} has no upstream: Argo CD follows ${repoURL ?? "the remote"} and cannot see it; push it`;
  } else if (Number(ahead) > 0) {
    warning = `${ahead} local commit${
      ahead === "1" ? "" : "s"
    } on ${branch} not pushed: Argo CD only sees what is pushed`;
  }
  return { repoURL, revision: branch, warning };
}

/** The steps of dev. */
function devSteps(d: DevDeps): {
  steps: Step[];
  kube: Kube;
  serve?: () => Promise<string>;
  stop: () => Promise<void>;
} {
  const { ctx } = d;
  const kubeconfig = join(ctx.root, DEV_KUBECONFIG);
  const kube = new Kube(ctx.runner, kubeconfig, { context: `kind-${DEV_NAME}`, label: `the dev cluster ${DEV_NAME}` });
  const keyFile = join(ctx.root, DEV_KEY);
  const follow = once(() => followed(ctx));
  const local = d.local ? new LocalRepo(ctx, () => devRecipient(ctx, keyFile, d.productionKey)) : undefined;
  let daemon: Daemon | undefined;
  let served: string | undefined;
  const serve = async () => {
    if (!served) {
      const address = await kindGateway(ctx.runner);
      const port = d.local?.port ?? 9418;
      daemon = await local!.serve(address, port);
      served = local!.url(address, port);
    }
    return served;
  };
  const include = drbd9(d.drbdFile).ok ? "piraeus" : undefined;
  const rootApp = once(async () => {
    const f = local ? { repoURL: await serve(), revision: LOCAL_BRANCH, warning: undefined } : await follow();
    if (f.warning) ctx.ui.warn(f.warning);
    return JSON.parse(
      await ctx.runner.output(
        rootCommand(ctx.root, { env: "dev", repoURL: f.repoURL, revision: f.revision, include }),
      ),
    ) as KubeObject;
  });
  const clusters = async () =>
    (await ctx.runner.run(cmd("kind", ["get", "clusters"], { readOnly: true }), { check: false })).stdout
      .split("\n").map((l) => l.trim()).filter(Boolean);
  const create = cmd("kind", [
    "create",
    "cluster",
    "--name",
    DEV_NAME,
    "--config",
    join(ctx.root, PATHS.kindConfig),
    "--kubeconfig",
    kubeconfig,
  ], { timeout: 600_000 });
  const exportKc = cmd("kind", ["export", "kubeconfig", "--name", DEV_NAME, "--kubeconfig", kubeconfig]);
  const keygen = cmd("age-keygen", ["-o", keyFile]);

  const side: ClusterSide = {
    kube,
    ui: ctx.ui,
    env: "dev",
    rendering: once(d.render),
    renderPlan: d.renderPlan ??
      ((app) => `render the ${app} Application for dev (as \`deno task render --env dev\` does)`),
    argocdKey: d.productionKey ? () => sopsOf(ctx).decrypt(PATHS.argocdKey) : async () => {
      const text = await Deno.readTextFile(keyFile);
      const key = text.split("\n").find((l) => l.startsWith("AGE-SECRET-KEY-"));
      if (!key) {
        throw new HomelabError(`${DEV_KEY} holds no age key`, { hint: `delete it and re-run \`deno task dev\`` });
      }
      const indented = text.trimEnd().split("\n").map((l) => `    ${l}`).join("\n");
      return secret(
        `apiVersion: v1\nkind: Secret\nmetadata:\n  name: sops-age\n  namespace: argocd\ntype: Opaque\n` +
          `stringData:\n  keys.txt: |\n${indented}\n`,
      );
    },
    argocdKeyPlan: d.productionKey
      ? `${
        showCommand(cmd("sops", ["decrypt", PATHS.argocdKey], { cwd: ctx.root }))
      }  (asked: --argocd-key; into memory only)`
      : `read ${DEV_KEY} (the dev cluster's own key) into memory`,
    rootApp,
    rootPlan: `${
      showCommand(rootCommand(ctx.root, { env: "dev", repoURL: "<origin>", revision: "<current branch>", include }))
    }`,
    timeouts: d.timeouts ?? DEFAULT_TIMEOUTS,
  };

  const devKey: Step = {
    name: "dev-key",
    title: `the dev cluster's own age key in ${DEV_KEY} (git-ignored; never the owner's key)`,
    plan: () => [showCommand(keygen)],
    async done() {
      const text = await Deno.readTextFile(keyFile).catch(() => "");
      return text.includes("AGE-SECRET-KEY-") ? `${DEV_KEY} exists` : undefined;
    },
    async run() {
      await Deno.mkdir(join(ctx.root, ".dev"), { recursive: true, mode: 0o700 });
      await Deno.remove(keyFile).catch(() => {}); // a partial file from an interrupted run
      await ctx.runner.run(keygen);
      await Deno.chmod(keyFile, 0o600);
    },
  };

  const steps: Step[] = [
    {
      name: "preflight",
      title: "a running container engine (docker info), kind, kubectl, jsonnet, age-keygen",
      plan: () => [
        showCommand(cmd("docker", ["info"])),
        `find ${DEV_TOOLS.join(", ")}`,
        "render gateway-api, cilium, argocd for dev; a build error stops here",
      ],
      async done() {
        const missing: string[] = [];
        for (const t of DEV_TOOLS) await ctx.runner.resolve(t).catch(() => missing.push(t));
        if (missing.length) {
          throw new HomelabError(
            `dev needs ${missing.join(", ")}, which ${missing.length > 1 ? "are" : "is"} missing`,
            {
              hint: "run `deno task doctor --for dev`: it says how to install each",
            },
          );
        }
        const r = await ctx.runner.run(cmd("docker", ["info"], { readOnly: true, timeout: 30_000 }), { check: false });
        if (r.code !== 0) {
          throw new HomelabError(
            `no running container engine: \`docker info\` failed: ${r.stderr.trim().split("\n").pop() ?? ""}`,
            { hint: "start Docker (or Podman's Docker service) and re-run; the docker CLI alone is not enough" },
          );
        }
        if (d.productionKey) await requireKeyFor(ctx, PATHS.argocdKey);
        const rendering = await side.rendering();
        for (const app of ["gateway-api", "cilium", "argocd"]) appObjects(rendering, app);
        const version = /Server Version:\s*(\S+)/.exec(r.stdout)?.[1] ?? "unknown version";
        return `container engine running (${version}), ${DEV_TOOLS.length - 1} tools found, 3 apps render`;
      },
    },
    {
      name: "cluster",
      title: `the kind cluster ${DEV_NAME} from ${PATHS.kindConfig} (no default CNI, no kube-proxy)`,
      guarded: true,
      plan: () => [showCommand(create)],
      async done() {
        return (await clusters()).includes(DEV_NAME) ? `kind has a cluster ${DEV_NAME}` : undefined;
      },
      async run() {
        await ctx.runner.run(create);
      },
    },
    {
      name: "kubeconfig",
      title: `its kubeconfig in ${DEV_KUBECONFIG} (context kind-${DEV_NAME})`,
      guarded: true,
      plan: () => [showCommand(exportKc)],
      async done() {
        const kc = await kube.read();
        return kc ? `context ${kc.context} at ${kc.server}` : undefined;
      },
      async run() {
        await ctx.runner.run(exportKc);
        await kube.guard(true);
      },
    },
    ...(d.productionKey ? [] : [devKey]),
    ...(local ? localSteps(local, serve) : []),
    ...clusterSteps(side),
  ];
  return { steps, kube, serve: local ? serve : undefined, stop: async () => void await daemon?.stop() };
}

/** The age recipient of the dev key (undefined with the production key: secrets open as they are). */
async function devRecipient(
  ctx: SecretsContext,
  keyFile: string,
  productionKey?: boolean,
): Promise<string | undefined> {
  if (productionKey) return undefined;
  return await ctx.runner.output(cmd("age-keygen", ["-y", keyFile], { readOnly: true }));
}

/** `--local`: the snapshot step and the serving check. */
function localSteps(local: LocalRepo, serve: () => Promise<string>): Step[] {
  return [
    {
      name: "local-repo",
      title: `a snapshot of this working copy in ${SERVE_DIR}/${SERVED_REPO} (secrets re-encrypted for the dev key)`,
      plan: () => [
        "git read-tree HEAD && git add -A  (in a temporary index; objects into the served repository)",
        "sops decrypt FILE | sops encrypt --age <the dev key's recipient>  (each stack secret, through pipes)",
        `git commit-tree … && git --git-dir ${SERVE_DIR}/${SERVED_REPO} update-ref refs/heads/${LOCAL_BRANCH} …`,
      ],
      async done() {
        const [now, have] = await Promise.all([local.sourceTree(), local.servedSource()]);
        return now === have ? `${LOCAL_BRANCH} holds the working copy as it is (tree ${now.slice(0, 12)})` : undefined;
      },
      async run() {
        const r = await local.snapshot();
        local.ctx.ui.info(
          `  snapshot ${r.commit.slice(0, 12)}; secrets re-encrypted for the dev key: ${r.reencrypted.length}`,
        );
        if (r.locked.length) {
          local.ctx.ui.warn(
            `secrets none of your keys opens get placeholder values in dev (their Applications sync; what reads ` +
              `them will not work): ${r.locked.join(", ")}`,
          );
        }
      },
    },
    {
      name: "serve",
      title: "git daemon serving the snapshot on the kind network's gateway (while this task runs)",
      plan: () => [
        `docker network inspect kind --format '{{range .IPAM.Config}}{{.Gateway}} {{end}}'`,
        `git daemon --reuseaddr --export-all --base-path=${SERVE_DIR} --listen=<gateway> --port=9418 ${SERVE_DIR}`,
      ],
      async done() {
        return `serving ${await serve()}`;
      },
    },
  ];
}

/** Notes printed under dev's plan. */
function devNotes(d: DevDeps): string[] {
  return [
    kubernetesNote(d.ctx.root),
    piraeusNote(d.drbdFile),
    d.productionKey
      ? "secrets: Argo CD in dev gets the production Argo CD key (asked with --argocd-key), so the stacks' secrets open"
      : d.local
      ? "secrets: the served snapshot has the stacks' secrets re-encrypted for the dev key (your files stay as they are)"
      : "secrets: the stacks' Secrets are encrypted for the owner and Argo CD's production key, not for the dev key, " +
        "so Applications that need one stay unsynced: `--local` re-encrypts them for the dev key in the snapshot it " +
        "serves; `--argocd-key` gives dev the production Argo CD key instead (decrypted with yours)",
    d.local
      ? "--local: Argo CD follows a snapshot of this working copy (re-run `deno task dev --local` to publish changes)"
      : "Argo CD follows the pushed branch; `deno task dev --local` serves this working copy instead",
  ];
}

/**
 * Which Kubernetes dev runs (the node image pinned in dev/kind.yaml) against the cluster's
 * (talos/talconfig.yaml), and why they differ: kind publishes node images only for the Kubernetes
 * releases it was released with.
 */
export function kubernetesNote(root: string): string {
  const read = (file: string) => {
    try {
      return parseYaml(Deno.readTextFileSync(join(root, file))) as Record<string, unknown> | null;
    } catch {
      return null;
    }
  };
  const kind = read(PATHS.kindConfig) as { nodes?: { image?: string }[] } | null;
  const images = [...new Set((kind?.nodes ?? []).map((n) => n?.image ?? ""))];
  const cluster = String(read("talos/talconfig.yaml")?.kubernetesVersion ?? "(unknown: no talos/talconfig.yaml)");
  const version = images.length === 1 ? /^kindest\/node:(v\d+\.\d+\.\d+)/.exec(images[0])?.[1] : undefined;
  if (!version) {
    return `kubernetes: ${PATHS.kindConfig} pins no single kindest/node image, so dev runs the default of kind ` +
      `${PINS.kind}, whatever Kubernetes that is, not necessarily the cluster's ${cluster}`;
  }
  if (version === cluster) return `kubernetes: dev runs ${version}, the cluster's version (talos/talconfig.yaml)`;
  return `kubernetes: dev runs ${version}, the cluster ${cluster}: kind ${PINS.kind} publishes no node image for ` +
    `${cluster}, so ${PATHS.kindConfig} pins the newest it publishes`;
}

/** Runs dev. */
export async function runDev(
  d: DevDeps,
  options: { dryRun?: boolean; from?: string; only?: string; yes?: boolean },
): Promise<StepReport[]> {
  const { steps, kube, serve, stop } = devSteps(d);
  try {
    const reports = await runSteps("dev", steps, {
      ui: d.ctx.ui,
      ...options,
      notes: devNotes(d),
      guard: () => kube.guard(),
    });
    if (serve && !options.dryRun) {
      // Argo CD fetches from here: keep serving (also when --from/--only skipped the serve step).
      d.ctx.ui.info(`serving this working copy at ${await serve()} for Argo CD; Ctrl-C stops serving`);
      await (d.local?.until ?? new Promise<void>(() => {}));
    }
    return reports;
  } finally {
    await stop();
    await kube.close();
  }
}

/** `dev down`: deletes the dev cluster, and nothing else. */
export async function devDown(
  ctx: SecretsContext,
  options: { yes?: boolean; ask?: (q: string) => Promise<boolean> },
): Promise<"deleted" | "absent"> {
  const r = await ctx.runner.run(cmd("kind", ["get", "clusters"], { readOnly: true }), { check: false });
  if (!r.stdout.split("\n").map((l) => l.trim()).includes(DEV_NAME)) {
    ctx.ui.info(`there is no kind cluster ${DEV_NAME}; nothing to delete`);
    return "absent";
  }
  const question = `delete the kind cluster ${DEV_NAME} and everything in it?`;
  if (!options.yes && !(options.ask && await options.ask(question))) {
    throw new HomelabError(`not confirmed: ${question}`, { hint: "answer yes, or pass --yes" });
  }
  await ctx.runner.run(
    cmd("kind", ["delete", "cluster", "--name", DEV_NAME, "--kubeconfig", join(ctx.root, DEV_KUBECONFIG)]),
  );
  await Deno.remove(join(ctx.root, DEV_KUBECONFIG)).catch(() => {});
  ctx.ui.info(`deleted the kind cluster ${DEV_NAME}`);
  return "deleted";
}

/** `dev status`: whether the dev cluster exists, its nodes and its Applications. */
export async function devStatus(ctx: SecretsContext): Promise<string[]> {
  const r = await ctx.runner.run(cmd("kind", ["get", "clusters"], { readOnly: true }), { check: false });
  if (!r.stdout.split("\n").map((l) => l.trim()).includes(DEV_NAME)) {
    return [`${DEV_NAME}: not created (run \`deno task dev\`)`];
  }
  const kube = new Kube(ctx.runner, join(ctx.root, DEV_KUBECONFIG), {
    context: `kind-${DEV_NAME}`,
    label: `the dev cluster ${DEV_NAME}`,
  });
  try {
    const lines = [`${DEV_NAME}: exists (kubeconfig ${DEV_KUBECONFIG})`];
    const nodes = await kube.list<
      { metadata: { name: string }; status?: { conditions?: { type: string; status: string }[] } }
    >(
      "/api/v1/nodes",
    );
    const ready = nodes.filter((n) => n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"));
    lines.push(`nodes: ${ready.length}/${nodes.length} Ready`);
    const apps = await kube.list<
      { metadata: { name: string }; status?: { sync?: { status?: string }; health?: { status?: string } } }
    >(
      "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications",
    );
    for (const a of apps) {
      lines.push(
        `app ${a.metadata.name}: ${a.status?.sync?.status ?? "Unknown"}/${a.status?.health?.status ?? "Unknown"}`,
      );
    }
    return lines;
  } finally {
    await kube.close();
  }
}

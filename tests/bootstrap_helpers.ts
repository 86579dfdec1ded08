/**
 * A bootstrap scene: a scratch repository owned by alice (her age key, Argo CD's key, a Talos
 * secret bundle, the real talos/ and root/), three fake Talos nodes behind the fake talosctl, a
 * kubectl that records its arguments on the way to the real one, the local control plane as the
 * cluster, and a small rendering of gateway-api, cilium and argocd from tests/fixtures/bootstrap.
 * A loop plays Argo CD: it creates the root app's Applications and moves them to Synced/Healthy.
 * @module
 */

import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { Runner } from "../lib/cmd.ts";
import { loadConfig } from "../lib/config.ts";
import type { KubeClient } from "../lib/kube/client.ts";
import type { ControlPlane } from "../lib/kube/controlplane.ts";
import type { KubeObject, Rendering } from "../lib/render/model.ts";
import { evaluateRoot } from "../lib/render/root.ts";
import { init } from "../lib/secrets/lifecycle.ts";
import { Cluster } from "../lib/talos/cluster.ts";
import { gensecret, loadTalconfig, type TalosContext } from "../lib/talos/config.ts";
import { consoleUi } from "../lib/ui.ts";
import type { BootstrapDeps } from "../lib/bootstrap/bootstrap.ts";
import { fakeTool, patience, REPO } from "./helpers.ts";
import { owner, realToolsPath, scratchRepo } from "./secrets_helpers.ts";
import { IPS } from "./site_values.ts";
import { PATHS } from "../lib/repo.ts";

export { IPS };
export const FIXTURES = join(REPO, "tests", "fixtures", "bootstrap");

/** The fixture rendering of the bootstrap Applications, with the real root app's output for `env`. */
export async function fixtureRendering(runner: Runner, root: string, env: "prod" | "dev"): Promise<Rendering> {
  const rootObjects = await evaluateRoot(runner, root, env);
  const apps = await Promise.all(["gateway-api", "cilium", "argocd"].map(async (name) => {
    const text = await Deno.readTextFile(join(FIXTURES, `${name}.yaml`));
    const objects = parseAllDocuments(text).map((d) => d.toJS() as KubeObject).filter(Boolean);
    const application = rootObjects.find((o) => o.kind === "Application" && o.metadata.name === name)!;
    return {
      app: { name, path: `system/${name}`, namespace: "", syncOptions: [], ignoreDifferences: [], application },
      objects,
      secrets: "digest" as const,
      cached: false,
    };
  }));
  return { env, root: rootObjects, apps };
}

/**
 * The lines after which tests/fixtures/bootstrap/run.ts stops until the test answers: a step
 * just finished, or a wait is about to begin.
 */
export const PAUSE = /^\[\d+\/\d+\] [\w-]+: done in |^waiting for /;

/**
 * A copy of the first Deployment in `objects`, named `name`, that no node can take: its
 * pod stays Pending (the scheduler says why), so the Deployment never becomes Available.
 */
export function stuckDeployment(objects: readonly KubeObject[], name: string): KubeObject {
  const deploy = structuredClone(objects.find((o) => o.kind === "Deployment")!) as KubeObject & {
    metadata: { name: string };
    spec: { template: { spec: Record<string, unknown> } };
  };
  deploy.metadata.name = name;
  deploy.spec.template.spec.nodeSelector = { "homelab.test/none": "true" };
  return deploy;
}

/** Bootstrap's waits in tests: long enough for a busy machine; a test that wants a timeout sets its own. */
export function bootstrapTimeouts() {
  return { crdMs: patience(30_000), rolloutMs: patience(60_000), nodesMs: patience(30_000), appsMs: patience(60_000) };
}

/** What a test looks at. */
export interface Scene {
  readonly root: string;
  readonly fake: string;
  readonly ctx: TalosContext;
  readonly deps: BootstrapDeps;
  /** The environment the tools run with. */
  readonly env: Record<string, string>;
  /** Everything the task printed. */
  readonly lines: string[];
  /** The fake talosctl's calls. */
  talosCalls(): Promise<string[]>;
  /** kubectl's argument lists. */
  kubectlCalls(): Promise<string[]>;
  /** Forgets the calls recorded so far. */
  resetCalls(): Promise<void>;
}

/**
 * Builds the scene in `dir` for the control plane `cp`; `components` replaces the real
 * root/components.json in the scratch repository (the root app's Applications).
 */
export async function bootstrapScene(
  dir: string,
  cp: Pick<ControlPlane, "kubeconfig" | "server">,
  options: { components?: Record<string, readonly Record<string, unknown>[]> } = {},
): Promise<Scene> {
  const root = await scratchRepo(dir);
  for (const d of ["talos", "root"]) {
    await new Deno.Command("cp", { args: ["-R", `${join(REPO, d)}/.`, join(root, d)] }).output();
  }
  if (options.components) {
    await Deno.writeTextFile(join(root, "root", "components.json"), JSON.stringify(options.components, null, 2));
  }
  await Deno.remove(join(root, PATHS.talosOut), { recursive: true }).catch(() => {});
  await Deno.remove(join(root, PATHS.talosBundle)).catch(() => {});
  await Deno.copyFile(join(REPO, ".gitignore"), join(root, ".gitignore"));
  const alice = await owner(dir, "alice", root);
  await init(alice.ctx); // alice's key, Argo CD's key (system/argocd/sops-age.sops.yaml)
  await gensecret(alice.ctx);

  const fake = join(dir, "fake");
  for (const ip of Object.values(IPS)) {
    await Deno.mkdir(join(fake, "nodes", ip), { recursive: true });
    await Deno.writeTextFile(join(fake, "nodes", ip, "mode"), "maintenance");
    await Deno.writeTextFile(join(fake, "nodes", ip, "version"), "v1.14.0");
  }
  await Deno.writeTextFile(join(fake, "calls.log"), "");
  await Deno.writeTextFile(join(fake, "kubectl.log"), "");
  await Deno.copyFile(cp.kubeconfig, join(fake, "kubeconfig"));

  const real = await realToolsPath(
    ["sops", "age", "age-keygen", "talhelper", "git", "jsonnet", "kubectl", "helm", "kustomize"],
  );
  const bin = join(dir, "bin");
  await Deno.mkdir(bin, { recursive: true });
  await Deno.symlink(join(REPO, "tests", "fakes", "talosctl"), join(bin, "talosctl"));
  const kubectl = await new Runner({ env: { PATH: real } }).resolve("kubectl");
  // kubectl records its arguments (never its standard input) and runs the real one.
  await fakeTool(bin, "kubectl", `echo "$*" >>"$FAKE_TALOS/kubectl.log"\nexec ${kubectl} "$@"`);
  const env = { HOME: join(dir, "alice"), PATH: `${bin}:${real}`, FAKE_TALOS: fake };
  const lines: string[] = [];
  const ui = consoleUi({ write: (t) => lines.push(...t.split("\n").filter(Boolean)) });
  const config = { ...loadConfig(env), repoRoot: root };
  const runner = new Runner({ env, defaultTimeout: patience(60_000), log: (l) => lines.push(l) });
  const ctx: TalosContext = { root, config, runner, ui };
  const talconfig = await loadTalconfig(ctx);
  const rendering = await fixtureRendering(runner, root, "prod");
  const deps: BootstrapDeps = {
    ctx,
    cluster: new Cluster(ctx, talconfig, { pollMs: 20, deadlineMs: 5_000 }),
    render: () => Promise.resolve(rendering),
    renderPlan: (app) => `render the ${app} Application for prod (as \`deno task render\` does)`,
    apiServer: cp.server,
    timeouts: bootstrapTimeouts(),
  };
  const read = async (f: string) => (await Deno.readTextFile(join(fake, f))).split("\n").filter(Boolean);
  return {
    root,
    fake,
    ctx,
    deps,
    env,
    lines,
    talosCalls: () => read("calls.log"),
    kubectlCalls: () => read("kubectl.log"),
    resetCalls: async () => {
      await Deno.writeTextFile(join(fake, "calls.log"), "");
      await Deno.writeTextFile(join(fake, "kubectl.log"), "");
      lines.length = 0;
    },
  };
}

const APPS = "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications";

/**
 * Plays Argo CD until stopped: once the root Application exists, it creates the root app's
 * Applications, and moves each a step per tick: OutOfSync/Missing → Synced/Progressing →
 * Synced/Healthy (the root app too).
 */
export function playArgoCd(client: KubeClient, rendering: Rendering, tickMs = 150): { stop(): Promise<void> } {
  const next: Record<string, { sync: string; health: string }> = {
    "": { sync: "OutOfSync", health: "Missing" },
    "OutOfSync/Missing": { sync: "Synced", health: "Progressing" },
    "Synced/Progressing": { sync: "Synced", health: "Healthy" },
  };
  let running = true;
  const loop = (async () => {
    while (running) {
      await new Promise((r) => setTimeout(r, tickMs));
      const r = await client.request<{ items?: KubeObject[] }>("GET", APPS).catch(() => undefined);
      if (!r || r.status !== 200) continue;
      const have = new Map((r.body.items ?? []).map((a) => [a.metadata.name, a]));
      if (!have.has("root")) continue;
      const apps = [...rendering.root.filter((o) => o.kind === "Application")];
      for (const app of [have.get("root")!, ...apps]) {
        const cur = have.get(app.metadata.name) as
          | (KubeObject & { status?: { sync?: { status?: string }; health?: { status?: string } } })
          | undefined;
        const key = cur?.status ? `${cur.status.sync?.status}/${cur.status.health?.status}` : "";
        const to = next[key];
        if (!to) continue;
        const body = {
          apiVersion: "argoproj.io/v1alpha1",
          kind: "Application",
          metadata: { name: app.metadata.name, namespace: "argocd" },
          ...(cur ? {} : { spec: app.spec }),
          status: { sync: { status: to.sync }, health: { status: to.health } },
        };
        await client.apply(body as KubeObject, { fieldManager: "argocd-application-controller" }).catch(() => {});
      }
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
    },
  };
}

/** Every file under `dir` whose content contains `needle` (symlinks not followed). */
export async function filesContaining(dir: string, needle: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = join(d, e.name);
      if (e.isDirectory) await walk(p);
      else if (e.isFile) {
        const bytes = await Deno.readFile(p).catch(() => new Uint8Array());
        if (new TextDecoder().decode(bytes).includes(needle)) found.push(p);
      }
    }
  };
  await walk(dir);
  return found;
}

/** Bootstrap's steps in the order they must run: what the tests expect, written out on purpose. */
export const ORDER = [
  "preflight",
  "genconfig",
  "apply",
  "etcd",
  "kubeconfig",
  "gateway-api",
  "cilium",
  "nodes",
  "argocd-key",
  "argocd",
  "root",
  "apps",
];

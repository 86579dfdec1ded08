/**
 * `bootstrap` through its last step with the real Argo CD (repo-server, application-controller,
 * Redis as processes, lib/rehearse/argocd.ts) instead of a loop playing it: talosctl and kind are
 * still the fakes of tests/bootstrap_helpers.ts, the cluster is the local control plane, and the
 * root app follows the scratch repository, served by `git daemon` on 127.0.0.1.
 *
 * The scratch repository holds the real root/ (root.jsonnet, main.jsonnet) with a components.json
 * of its own: gateway-api, cilium and argocd, whose folders serve exactly the objects bootstrap
 * applies, and `hello`, a component of the platform stack that only Argo CD creates. Argo CD's real
 * CRDs are installed first (lib/rehearse/argocd.ts); bootstrap's argocd step then applies the
 * fixture's cut-down Application and AppProject CRDs over them (server-side, --force-conflicts),
 * and Argo CD keeps working: the real ones have no status subresource either.
 * @module
 */

import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { stringify } from "yaml";
import type { Daemon } from "../lib/cmd.ts";
import { serveGit } from "../lib/gitdaemon.ts";
import { runBootstrap } from "../lib/bootstrap/bootstrap.ts";
import { freePort } from "../lib/kube/controlplane.ts";
import type { KubeObject, Rendering } from "../lib/render/model.ts";
import { startArgoCD } from "../lib/rehearse/argocd.ts";
import { bootstrapScene, bootstrapTimeouts, ORDER } from "./bootstrap_helpers.ts";
import { git, patience, withTempDir } from "./helpers.ts";
import { processTree, survivors, toolRunner, withControlPlane } from "./kube_helpers.ts";

/** The root app's Applications: the three bootstrap applies, and one only Argo CD creates. */
const COMPONENTS = {
  system: [
    { name: "gateway-api", namespace: "kube-system", wave: -30, serverSideApply: true },
    { name: "cilium", namespace: "kube-system", wave: -20, serverSideApply: true },
    { name: "argocd", namespace: "argocd", wave: -10, serverSideApply: true },
  ],
  platform: [{ name: "hello", namespace: "hello", wave: 0 }],
  apps: [],
};

/**
 * Kinds of the fixture rendering left out of what is served (and of what bootstrap applies, so
 * the two agree): nothing here serves CiliumLoadBalancerIPPool (Cilium's operator registers it),
 * and Argo CD judges an HTTPRoute's health by its status, which only a Gateway controller sets.
 */
const LEFT_OUT = new Set(["CiliumLoadBalancerIPPool", "HTTPRoute"]);

/** `hello`: a Namespace, a ConfigMap and a Deployment whose pod a kwok node runs. */
const HELLO: KubeObject[] = [
  { apiVersion: "v1", kind: "Namespace", metadata: { name: "hello" } },
  { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "greeting", namespace: "hello" }, data: { text: "hi" } },
  {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "hello", namespace: "hello" },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: "hello" } },
      template: {
        metadata: { labels: { app: "hello" } },
        spec: { containers: [{ name: "hello", image: "registry.example.org/hello:1.0.0" }] },
      },
    },
  },
];

/** Writes `objects` as the kustomization root `dir` (one manifests.yaml). */
async function component(dir: string, objects: readonly KubeObject[]) {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(join(dir, "manifests.yaml"), objects.map((o) => `---\n${stringify(o)}`).join(""));
  await Deno.writeTextFile(
    join(dir, "kustomization.yaml"),
    "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - manifests.yaml\n",
  );
}

/** `git daemon` on 127.0.0.1 serving the repository `root` as `homelab.git`, once it answers. */
async function serve(dir: string, root: string, log: string): Promise<{ daemon: Daemon; url: string }> {
  const runner = toolRunner();
  const base = join(dir, "served");
  await Deno.mkdir(base);
  await Deno.symlink(join(root, ".git"), join(base, "homelab.git"));
  return await serveGit(runner, {
    base,
    repo: "homelab.git",
    branch: "main",
    address: "127.0.0.1",
    port: freePort(),
    logFile: log,
  });
}

interface App {
  metadata: { name: string };
  status?: {
    sync?: { status?: string; revision?: string };
    health?: { status?: string };
    resources?: { kind: string; namespace?: string; name: string; status?: string }[];
  };
}

Deno.test("bootstrap runs through its last step with the real Argo CD: it syncs the served commit, every Application Synced and Healthy", async () => {
  const runner = toolRunner();
  let pids: number[] = [];
  await withControlPlane({ controllers: true, nodes: ["node-1", "node-2", "node-3"] }, async (cp) => {
    await withTempDir(async (dir) => {
      const scene = await bootstrapScene(dir, cp, { components: COMPONENTS });
      const fixture = await scene.deps.render();
      const rendering: Rendering = {
        ...fixture,
        apps: fixture.apps.map((a) => ({ ...a, objects: a.objects.filter((o) => !LEFT_OUT.has(o.kind)) })),
      };
      // The repository Argo CD follows serves what bootstrap applies, committed.
      for (const a of rendering.apps) await component(join(scene.root, "system", a.app.name), a.objects);
      await component(join(scene.root, "platform", "hello"), HELLO);
      git(scene.root, "add", "-A");
      git(scene.root, "commit", "--no-verify", "-qm", "the components Argo CD syncs");
      const commit = git(scene.root, "rev-parse", "HEAD").trim();

      const { daemon, url } = await serve(dir, scene.root, join(cp.dir, "logs", "git-daemon.log"));
      const tools = await Promise.all(["kustomize", "git"].map(async (t) => dirname(await runner.resolve(t))));
      const argo = await startArgoCD(runner, cp, { reconciliation: 5, path: [...new Set(tools)] });
      try {
        pids = (await Promise.all([daemon, ...argo.daemons].map((d) => processTree(d.pid)))).flat();
        const reports = await runBootstrap({
          ...scene.deps,
          render: () => Promise.resolve(rendering),
          repoURL: url,
          revision: "main",
          timeouts: { ...bootstrapTimeouts(), appsMs: patience(240_000) },
        }, { yes: true });

        // Every step ran, in order (kwok's nodes are Ready without a CNI: that step finds its work done).
        assert.deepEqual(reports.map((r) => r.name), ORDER);
        assert.deepEqual(reports.map((r) => r.outcome), ORDER.map((s) => s === "nodes" ? "done already" : "ran"));
        const started = scene.lines.map((l) => /^\[(\d+)\/12\] ([\w-]+): (?!done|ok)/.exec(l)?.[2]).filter(Boolean);
        assert.deepEqual(started, ORDER.filter((s) => s !== "preflight" && s !== "nodes"));
        assert.equal(reports.at(-1)!.detail, "5/5 Synced and Healthy", scene.lines.join("\n"));

        // …and it ended because Argo CD synced the served commit: root, its AppProjects, every Application.
        const apps = await cp.client.must<{ items: App[] }>(
          "GET",
          `/apis/argoproj.io/v1alpha1/namespaces/${argo.namespace}/applications`,
        );
        assert.deepEqual(apps.body.items.map((a) => a.metadata.name).sort(), [
          "argocd",
          "cilium",
          "gateway-api",
          "hello",
          "root",
        ]);
        for (const a of apps.body.items) {
          assert.equal(a.status?.sync?.revision, commit, `${a.metadata.name}: ${JSON.stringify(a.status?.sync)}`);
        }
        for (const stack of ["system", "platform", "apps"]) {
          const project = await cp.client.get<KubeObject>({
            apiVersion: "argoproj.io/v1alpha1",
            kind: "AppProject",
            metadata: { name: stack, namespace: argo.namespace },
          });
          assert.equal(project?.metadata.annotations?.["argocd.argoproj.io/tracking-id"]?.split(":")[0], "root");
        }
        // Argo CD built each component from the served commit and compared every object with the cluster
        // (Argo CD 3 keeps each resource's health out of the Application unless told to persist it).
        const byName = new Map(apps.body.items.map((a) => [a.metadata.name, a]));
        const served = [...rendering.apps.map((a) => ({ app: a.app.name, objects: a.objects })), {
          app: "hello",
          objects: HELLO,
        }];
        for (const { app, objects } of served) {
          const judged = (byName.get(app)?.status?.resources ?? []).map((r) =>
            `${r.kind} ${r.namespace ?? ""}/${r.name}: ${r.status}`
          ).sort();
          const want = objects.map((o) => `${o.kind} ${o.metadata.namespace ?? ""}/${o.metadata.name}: Synced`).sort();
          assert.deepEqual(judged, want, app);
        }
        // What only Argo CD applied carries its mark of the Application it belongs to. (An object bootstrap
        // applied that equals its target counts as Synced without its mark, and Argo CD leaves it as it is.)
        for (const o of HELLO) {
          const live = await cp.client.get<KubeObject>(o);
          const id = live?.metadata.annotations?.["argocd.argoproj.io/tracking-id"] ?? "";
          assert.ok(
            id.startsWith("hello:") && id.endsWith(`/${o.metadata.name}`),
            `${o.kind} ${o.metadata.name}: '${id}'`,
          );
        }
        // The step printed the changes as it followed them.
        assert.ok(
          scene.lines.some((l) => /^ {2}Application hello: (.* → )?Synced\/Healthy$/.test(l)),
          scene.lines.join("\n"),
        );
      } finally {
        await argo.stop();
        await daemon.stop();
      }
    });
  });
  assert.deepEqual(await survivors(pids), [], "an Argo CD or git daemon process outlived the test");
});

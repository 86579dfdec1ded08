/**
 * Bootstrap with the real render pipeline: gateway-api, cilium (a chart served from 127.0.0.1)
 * and argocd rendered as `deno task render` builds them, then applied to the local control
 * plane; what the cluster holds is what render produced.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Runner } from "../lib/cmd.ts";
import { loadConfig } from "../lib/config.ts";
import { FIELD_MANAGER } from "../lib/bootstrap/kube.ts";
import { renderBootstrap, runBootstrap } from "../lib/bootstrap/bootstrap.ts";
import type { KubeObject } from "../lib/render/model.ts";
import { consoleUi } from "../lib/ui.ts";
import { bootstrapScene, FIXTURES, playArgoCd } from "./bootstrap_helpers.ts";
import { withTempDir } from "./helpers.ts";
import { withControlPlane } from "./kube_helpers.ts";
import { makeCharts, renderToolsPath, serve } from "./render_helpers.ts";

const COMPONENTS = {
  system: [
    { name: "gateway-api", namespace: "kube-system", wave: -30, purpose: "CRDs", serverSideApply: true },
    { name: "cilium", namespace: "kube-system", wave: -20, purpose: "a chart", serverSideApply: true },
    { name: "argocd", namespace: "argocd", wave: -10, purpose: "manifests", serverSideApply: true },
  ],
  platform: [],
  apps: [],
};

async function write(root: string, path: string, text: string): Promise<void> {
  await Deno.mkdir(join(root, path, ".."), { recursive: true });
  await Deno.writeTextFile(join(root, path), text);
}

Deno.test("bootstrap applies what the render pipeline produced for gateway-api, cilium and argocd", async () => {
  await withControlPlane({ controllers: true, nodes: ["node-1", "node-2", "node-3"] }, async (cp) => {
    await withTempDir(async (dir) => {
      const site = join(dir, "site");
      const server = serve(site);
      try {
        await makeCharts(new Runner({ env: { PATH: await renderToolsPath(), HOME: dir } }), dir, site, server.url);
        const scene = await bootstrapScene(join(dir, "scene"), cp);
        const root = scene.root;
        await write(root, "root/components.json", JSON.stringify(COMPONENTS, null, 2));
        await write(
          root,
          "system/argocd/values.yaml",
          "configs:\n  cm:\n    kustomize.buildOptions: --enable-helm\n",
        );
        await write(root, "system/argocd/argocd.yaml", await Deno.readTextFile(join(FIXTURES, "argocd.yaml")));
        await write(
          root,
          "system/argocd/kustomization.yaml",
          "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - argocd.yaml\n",
        );
        await write(root, "system/gateway-api/crd.yaml", await Deno.readTextFile(join(FIXTURES, "gateway-api.yaml")));
        await write(
          root,
          "system/gateway-api/kustomization.yaml",
          "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - crd.yaml\n",
        );
        await write(
          root,
          "system/cilium/kustomization.yaml",
          "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: kube-system\nhelmCharts:\n" +
            `  - name: web\n    repo: ${server.url}/charts\n    version: 0.1.0\n    releaseName: cilium\n` +
            "    namespace: kube-system\n",
        );
        const config = { ...loadConfig({ ...scene.env, XDG_CACHE_HOME: join(dir, "cache") }), repoRoot: root };
        const quiet = consoleUi({ write: () => {} });
        const rendering = await renderBootstrap(config, "prod", quiet);
        for (const app of rendering.apps) assert.equal(app.error, undefined, app.error);
        const cilium = rendering.apps.find((a) => a.app.name === "cilium")!;
        assert.ok(cilium.objects.some((o) => o.kind === "Deployment" && o.metadata.name === "cilium-web"));

        const argo = playArgoCd(cp.client, rendering);
        try {
          await runBootstrap({ ...scene.deps, render: () => renderBootstrap(config, "prod", scene.ctx.ui) }, {
            yes: true,
          });
        } finally {
          await argo.stop();
        }
        for (const app of rendering.apps) {
          for (const o of app.objects) {
            const got = await cp.client.get<KubeObject & { metadata: { managedFields?: { manager: string }[] } }>(o);
            assert.ok(got, `${o.kind} ${o.metadata.name} of ${app.app.name} is not in the cluster`);
            // An object with nothing but its name sets no field, so no manager records it.
            const bare = Object.keys(o).every((k) => ["apiVersion", "kind", "metadata"].includes(k)) &&
              Object.keys(o.metadata).every((k) => k === "name" || k === "namespace");
            assert.ok(
              bare || got.metadata.managedFields?.some((f) => f.manager === FIELD_MANAGER),
              `${o.kind} ${o.metadata.name} was not applied by bootstrap`,
            );
            if (o.kind === "Deployment") {
              type D = { spec: { template: { spec: { containers: { image: string }[] } } } };
              assert.deepEqual(
                (got as unknown as D).spec.template.spec.containers.map((c) => c.image),
                (o as unknown as D).spec.template.spec.containers.map((c) => c.image),
              );
            }
          }
        }
      } finally {
        await server.close();
      }
    });
  });
});

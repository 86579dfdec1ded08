import assert from "node:assert/strict";
import { diffRenderings, formatMarkdown, formatText } from "./diff.ts";
import type { KubeObject, RenderedApp, Rendering } from "./model.ts";

function configMap(name: string, value: string): KubeObject {
  return { apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: name }, data: { value } };
}

function rendered(name: string, objects: KubeObject[], error?: string): RenderedApp {
  return {
    app: {
      name,
      path: `system/${name}`,
      namespace: name,
      syncOptions: [],
      ignoreDifferences: [],
      application: { apiVersion: "argoproj.io/v1alpha1", kind: "Application", metadata: { name } },
    },
    objects,
    ...(error ? { error } : {}),
    secrets: "digest",
    cached: false,
  };
}

const rendering = (apps: RenderedApp[]): Rendering => ({ env: "prod", root: [], apps });

Deno.test("diff: an app that fails to build on either side is listed as not compared, and the diff is incomplete", () => {
  const failed = "app cilium: `kustomize build system/cilium` failed: chart cilium 1.0.0 is not in the chart cache";
  const base = rendering([
    rendered("web", [configMap("web", "1")]),
    rendered("cilium", [], failed),
    rendered("db", [configMap("db", "1")]),
  ]);
  const head = rendering([
    rendered("web", [configMap("web", "2")]),
    rendered("cilium", [], failed),
    // Fails only now: its objects must not read as removed.
    rendered("db", [], "app db: `kustomize build system/db` failed: boom"),
  ]);
  const d = diffRenderings(base, head);
  assert.equal(d.complete, false);
  assert.deepEqual(d.notCompared, ["cilium", "db"]);
  assert.deepEqual(d.apps.map((a) => [a.app, a.status, a.objects.length]), [
    ["cilium", "not compared", 0],
    ["db", "not compared", 0],
    ["web", "changed", 1],
  ]);
  assert.equal(d.removed, 0);

  const text = formatText(d);
  assert.match(
    text,
    /^app cilium \(system\/cilium\): not compared: it failed to build before and now\n {2}! before and now: app cilium: .*not in the chart cache$/m,
  );
  assert.match(text, /^app db \(system\/db\): not compared: it failed to build now\n {2}! now: app db: .*boom$/m);
  assert.match(
    text,
    /1 app differs \(prod\): 0 objects added, 1 changed, 0 removed; INCOMPLETE: 2 apps not compared \(failed to build\): cilium, db\n$/,
  );

  const md = formatMarkdown(d);
  assert.match(md, /^### .*INCOMPLETE: 2 apps not compared/);
  assert.match(
    md,
    /^\| cilium \(not compared\) \| `system\/cilium` \| – \| – \| – \| it failed to build before and now/m,
  );
  assert.match(md, /^\| db \(not compared\) \| `system\/db` \| – \| – \| – \| it failed to build now/m);
  assert.match(md, /<details><summary>cilium: not compared<\/summary>[\s\S]*! before and now: app cilium:/);

  // Every app built on both sides: complete, and an unchanged app is not listed.
  const built = rendering([rendered("web", [configMap("web", "1")]), rendered("db", [configMap("db", "1")])]);
  const ok = diffRenderings(built, rendering([rendered("web", [configMap("web", "2")]), built.apps[1]]));
  assert.equal(ok.complete, true);
  assert.deepEqual(ok.apps.map((a) => a.app), ["web"]);
  assert.match(formatText(ok), /1 app differs \(prod\): 0 objects added, 1 changed, 0 removed\n$/);
});

import assert from "node:assert/strict";
import { diffRenderings, formatMarkdown, formatText } from "./diff.ts";
import type { KubeObject, RenderedApp, Rendering } from "./model.ts";
import { renderedApp, renderingOf } from "../../tests/apps.ts";

function rendering(apps: Record<string, KubeObject[]>): Rendering {
  return renderingOf(Object.entries(apps).map(([name, objects]) => renderedApp(name, objects)));
}

const cm = (name: string, data: Record<string, string>, namespace?: string): KubeObject => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, ...(namespace ? { namespace } : {}) },
  data,
});

Deno.test("diff: objects removed from an app are shown, in text and markdown", () => {
  const base = rendering({
    web: [cm("settings", { mode: "fast" }, "web"), cm("legacy", { keep: "gone" }, "web"), cm("cluster-wide", {})],
    other: [cm("same", { a: "b" })],
  });
  const head = rendering({ web: [cm("settings", { mode: "fast" }, "web")], other: [cm("same", { a: "b" })] });
  const d = diffRenderings(base, head);
  assert.deepEqual([d.added, d.changed, d.removed], [0, 0, 2]);
  assert.deepEqual(d.apps.map((a) => [a.app, a.status, a.objects.map((o) => `${o.change} ${o.id}`)]), [
    ["web", "changed", ["removed ConfigMap/cluster-wide", "removed ConfigMap/web/legacy"]],
  ]);
  const removed = d.apps[0].objects.find((o) => o.id === "ConfigMap/web/legacy")!;
  assert.match(removed.patch, /^-kind: ConfigMap$/m);
  assert.match(removed.patch, /^-\s+keep: gone$/m);
  assert.doesNotMatch(removed.patch, /^\+/m, "nothing added for a removed object");

  const text = formatText(d);
  assert.match(text, /^app web \(system\/web\): 0 added, 0 changed, 2 removed$/m);
  assert.match(text, /^ {2}- ConfigMap\/web\/legacy\n {4}@@ -1,\d+ \+0,0 @@\n {4}-apiVersion: v1$/m);
  assert.match(text, /^ {2}- ConfigMap\/cluster-wide$/m);
  assert.match(text, /^ {4}-\s+keep: gone$/m);
  assert.match(text, /^1 app differs \(prod\): 0 objects added, 0 changed, 2 removed$/m);
  assert.doesNotMatch(text, /app other/);

  const md = formatMarkdown(d);
  assert.match(md, /^### Rendered manifests: 1 app differs \(prod\): 0 objects added, 0 changed, 2 removed$/m);
  assert.match(md, /^\| web \| `system\/web` \| 0 \| 0 \| 2 \| {2}\|$/m);
  assert.match(md, /<details><summary>web: 0 added, 0 changed, 2 removed<\/summary>/);
  assert.match(md, /```diff\n(?:.*\n)*- ConfigMap\/web\/legacy\n@@ -1,\d+ \+0,0 @@\n-apiVersion: v1\n/);
  assert.match(md, /^-\s+keep: gone$/m);
});

Deno.test("diff: an app removed altogether shows each of its objects as removed", () => {
  const base = rendering({ web: [cm("settings", { mode: "fast" }, "web")], gone: [cm("a", {}), cm("b", {})] });
  const head = rendering({ web: [cm("settings", { mode: "slow" }, "web")] });
  const d = diffRenderings(base, head);
  assert.deepEqual([d.added, d.changed, d.removed], [0, 1, 2]);
  const gone = d.apps.find((a) => a.app === "gone")!;
  assert.equal(gone.status, "removed");
  assert.deepEqual(gone.objects.map((o) => `${o.change} ${o.id}`), ["removed ConfigMap/a", "removed ConfigMap/b"]);
  assert.match(
    formatText(d),
    /^app gone \(system\/gone\), removed: 0 added, 0 changed, 2 removed\n {2}- ConfigMap\/a$/m,
  );
  assert.match(formatMarkdown(d), /^\| gone \(removed\) \| `system\/gone` \| 0 \| 0 \| 2 \| {2}\|$/m);
  // Added the other way round.
  const back = diffRenderings(head, base);
  assert.deepEqual([back.added, back.changed, back.removed], [2, 1, 0]);
  assert.match(formatText(back), /^ {2}\+ ConfigMap\/a$/m);
});

function configMap(name: string, value: string): KubeObject {
  return { apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: name }, data: { value } };
}

function rendered(name: string, objects: KubeObject[], error?: string): RenderedApp {
  return renderedApp(name, objects, { error });
}

Deno.test("diff: an app that fails to build on either side is listed as not compared, and the diff is incomplete", () => {
  const failed = "app cilium: `kustomize build system/cilium` failed: chart cilium 1.0.0 is not in the chart cache";
  const base = renderingOf([
    rendered("web", [configMap("web", "1")]),
    rendered("cilium", [], failed),
    rendered("db", [configMap("db", "1")]),
  ]);
  const head = renderingOf([
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
  const built = renderingOf([rendered("web", [configMap("web", "1")]), rendered("db", [configMap("db", "1")])]);
  const ok = diffRenderings(built, renderingOf([rendered("web", [configMap("web", "2")]), built.apps[1]]));
  assert.equal(ok.complete, true);
  assert.deepEqual(ok.apps.map((a) => a.app), ["web"]);
  assert.match(formatText(ok), /1 app differs \(prod\): 0 objects added, 1 changed, 0 removed\n$/);
});

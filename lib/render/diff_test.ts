import assert from "node:assert/strict";
import { diffRenderings, formatMarkdown, formatText } from "./diff.ts";
import type { KubeObject, Rendering } from "./model.ts";

function rendering(apps: Record<string, KubeObject[]>): Rendering {
  return {
    env: "prod",
    root: [],
    apps: Object.entries(apps).map(([name, objects]) => ({
      app: {
        name,
        path: `system/${name}`,
        namespace: name,
        syncOptions: [],
        ignoreDifferences: [],
        application: { apiVersion: "argoproj.io/v1alpha1", kind: "Application", metadata: { name } },
      },
      objects,
      secrets: "digest",
      cached: false,
    })),
  };
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

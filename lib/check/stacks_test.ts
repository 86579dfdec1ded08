import assert from "node:assert/strict";
import { join } from "node:path";
import { unpinned } from "./images.ts";
import { checkKustomization, checkManifest } from "./stacks.ts";
import { withTempDir } from "../../tests/helpers.ts";

/** The image problems `checkManifest` finds in one manifest or values file. */
async function imageProblems(text: string): Promise<string[]> {
  return await withTempDir(async (root) => {
    await Deno.writeTextFile(join(root, "file.yaml"), text);
    return (await checkManifest(root, "file.yaml")).map((p) => p.message).filter((m) => m.startsWith("image"));
  });
}

/** Writes the files of a component `system/x` (name → text) under `root`. */
async function writeComponent(root: string, files: Record<string, string>): Promise<void> {
  await Deno.mkdir(join(root, "system/x"), { recursive: true });
  for (const [name, text] of Object.entries(files)) await Deno.writeTextFile(join(root, "system/x", name), text);
}

const pod = (image: string) =>
  `apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - name: c\n          image: ${image}\n`;

Deno.test("images: `image: repo:latest` in a manifest is refused like `tag: latest` in values", async () => {
  for (const image of ["nginx:latest", "ghcr.io/example/app:latest", "registry.example.org:5000/team/app:latest"]) {
    assert.deepEqual(
      await imageProblems(pod(image)),
      [`image not pinned: spec.template.spec.containers.0.image: '${image}'`],
      `${image} passed the check`,
    );
  }
  assert.deepEqual(await imageProblems("image:\n  repository: example/thing\n  tag: latest\n"), [
    "image not pinned: image.tag: 'latest'",
  ]);
});

Deno.test("images: no tag is refused, also behind a registry port; a version or a digest pins", async () => {
  for (const image of ["nginx", "registry.example.org:5000/app", "ghcr.io/example/app"]) {
    assert.equal((await imageProblems(pod(image))).length, 1, `${image} passed the check`);
  }
  const pinned = [
    "nginx:1.29.3",
    "registry.example.org:5000/team/app:v2.0.1",
    `nginx@sha256:${"a".repeat(64)}`,
    `nginx:latest@sha256:${"b".repeat(64)}`,
  ];
  for (const image of pinned) assert.deepEqual(await imageProblems(pod(image)), [], image);
});

Deno.test("images: every container list and every document is looked at", async () => {
  const text = `apiVersion: v1
kind: ConfigMap
metadata:
  name: first
---
apiVersion: batch/v1
kind: CronJob
spec:
  jobTemplate:
    spec:
      template:
        spec:
          initContainers:
            - name: init
              image: busybox:latest
          containers:
            - name: main
              image: example/job:1.0.0
`;
  assert.deepEqual(await imageProblems(text), [
    "image not pinned: spec.jobTemplate.spec.template.spec.initContainers.0.image: 'busybox:latest'",
  ]);
  // Values: an empty tag is refused; a chart's image without a tag key uses the chart's own pin.
  assert.deepEqual(await imageProblems("server:\n  image:\n    repository: example/s\n    tag: ''\n"), [
    "image not pinned: server.image.tag: ''",
  ]);
  assert.deepEqual(await imageProblems("server:\n  image:\n    repository: example/s\n"), []);
  // A chart's image pinned by digest needs no tag.
  const digest = `sha256:${"d".repeat(64)}`;
  assert.deepEqual(await imageProblems(`image:\n  repository: example/s\n  tag: ""\n  digest: ${digest}\n`), []);
  assert.deepEqual(await imageProblems(`image:\n  repository: example/s\n  tag: latest\n  digest: ""\n`), [
    "image not pinned: image.tag: 'latest'",
  ]);
});

Deno.test("images: kustomization `images:` need a newTag other than latest, or a digest", async () => {
  await withTempDir(async (root) => {
    await writeComponent(root, {
      "kustomization.yaml": `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
images:
  - name: a
    newTag: latest
  - name: b
    newName: example/b
  - name: c
    newTag: 1.2.3
  - name: d
    digest: sha256:${"c".repeat(64)}
`,
    });
    assert.deepEqual((await checkKustomization(root, "system/x")).map((p) => p.message), [
      "image a is not pinned",
      "image b is not pinned",
    ]);
  });
});

Deno.test("a kustomization `namespace:` moves what the validator calls namespaced, never a cluster-scoped kind", async () => {
  await withTempDir(async (root) => {
    await writeComponent(root, {
      "kustomization.yaml":
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: one\nresources:\n  - pool.yaml\n",
      "pool.yaml":
        "apiVersion: cilium.io/v2\nkind: CiliumLoadBalancerIPPool\nmetadata:\n  name: pool\n  namespace: two\n" +
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: two\n",
    });
    const scopes: Record<string, boolean> = { "cilium.io/v2|CiliumLoadBalancerIPPool": false, "v1|ConfigMap": true };
    const messages = async (scopeOf?: (apiVersion: string, kind: string) => boolean | undefined) =>
      (await checkKustomization(root, "system/x", scopeOf)).map((p) => p.message.split(":")[0]);
    assert.deepEqual(await messages((a, k) => scopes[`${a}|${k}`]), ["ConfigMap two/settings"]);
    // A kind whose scope nothing knows counts as namespaced, as kustomize counts it.
    assert.deepEqual(await messages(), ["CiliumLoadBalancerIPPool two/pool", "ConfigMap two/settings"]);
  });
});

Deno.test("images: the files and the rendered manifests are held to one rule", async () => {
  const refs = [
    "nginx",
    "nginx:latest",
    "nginx:1.27.3",
    "registry.example.org:5000/team/app",
    "registry.example.org:5000/team/app:2.0",
    `nginx@sha256:${"a".repeat(64)}`,
    "nginx@sha256:abc",
    "nginx:latest@sha256:short",
  ];
  for (const ref of refs) {
    const inFiles = (await imageProblems(pod(ref))).length > 0;
    assert.equal(inFiles, unpinned(ref) !== undefined, `${ref}: files ${inFiles ? "refuse" : "accept"} it`);
  }
  assert.deepEqual(await imageProblems("image:\n  repository: example/thing\n  tag: 1.0\n  digest: sha256:abc\n"), []);
  assert.deepEqual(await imageProblems("image:\n  repository: example/thing\n  tag: ''\n  digest: sha256:abc\n"), [
    "image not pinned: image.tag: ''",
  ]);
});

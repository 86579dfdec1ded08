import assert from "node:assert/strict";
import { join } from "node:path";
import { formatError, InputError } from "./errors.ts";
import { kubernetesVersionProblem, PATHS, readKubernetesVersion } from "./repo.ts";

/** A scratch repository whose talos/talconfig.yaml holds `text` (none when undefined). */
async function withTalconfig(text: string | undefined, fn: (root: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "homelab-repo-" });
  try {
    if (text !== undefined) {
      await Deno.mkdir(join(root, "talos"));
      await Deno.writeTextFile(join(root, PATHS.talconfig), text);
    }
    await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

/** The paragraph a task prints for what `promise` rejects with (it must be an InputError). */
async function paragraphOf(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(() => undefined, (e) => e);
  assert.ok(err instanceof InputError, `not an InputError: ${err}`);
  return formatError(err);
}

Deno.test("the Kubernetes version is the one talos/talconfig.yaml pins, as written", async () => {
  await withTalconfig("clusterName: lab\nkubernetesVersion: v1.36.4\n", async (root) => {
    assert.equal(await readKubernetesVersion(root), "v1.36.4");
  });
});

Deno.test("a Kubernetes version that cannot be read is one paragraph naming talos/talconfig.yaml, its line and the fix", async () => {
  await withTalconfig(undefined, async (root) => {
    const text = await paragraphOf(readKubernetesVersion(root));
    assert.match(text, /^error: talos\/talconfig\.yaml: cannot be read: /);
    assert.match(text, /hint: .*restore it from git/);
  });
  await withTalconfig("clusterName: lab\n", async (root) => {
    const text = await paragraphOf(readKubernetesVersion(root));
    assert.match(text, /^error: talos\/talconfig\.yaml: kubernetesVersion is missing/);
    assert.match(text, /hint: set kubernetesVersion at the top level/);
  });
  await withTalconfig("clusterName: lab\nkubernetesVersion: 1.37\n", async (root) => {
    const text = await paragraphOf(readKubernetesVersion(root));
    assert.match(text, /^error: talos\/talconfig\.yaml:2: kubernetesVersion '1\.37' is not vX\.Y\.Z/);
    assert.match(text, /hint: write it as vX\.Y\.Z \(e\.g\. v\d+\.\d+\.\d+\)/);
    assert.doesNotMatch(text, /\n\s+at /, "no stack trace");
  });
  await withTalconfig("clusterName: [lab\n", async (root) => {
    assert.match(await paragraphOf(readKubernetesVersion(root)), /^error: talos\/talconfig\.yaml:\d+: /);
  });
});

Deno.test("the Talos checks and the reader judge a version by the same rule", () => {
  assert.equal(kubernetesVersionProblem("v1.37.2"), undefined);
  assert.match(kubernetesVersionProblem("1.37.2")!.message, /is not vX\.Y\.Z/);
  assert.match(kubernetesVersionProblem(undefined)!.message, /is missing/);
});

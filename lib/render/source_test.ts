import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { InputError } from "../errors.ts";
import { readSource } from "./source.ts";

async function tree(files: Record<string, string>): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "homelab-test-" });
  for (const [f, text] of Object.entries(files)) {
    await Deno.mkdir(dirname(join(dir, f)), { recursive: true });
    await Deno.writeTextFile(join(dir, f), text);
  }
  return dir;
}

Deno.test("readSource: files inside and outside the folder, charts, remote manifests, KSOPS files", async () => {
  const root = await tree({
    "system/app/kustomization.yaml": `resources:
  - deploy.yaml
  - ../../shared/base
  - https://example.org/releases/v1/operator.yaml
  - github.com/org/repo//deploy?ref=v1
helmCharts:
  - name: web
    repo: https://charts.example.org
    version: 1.2.3
    valuesFile: values.yaml
    additionalValuesFiles: [../../shared/values-common.yaml]
generators:
  - ./secret-generator.yaml
`,
    "system/app/deploy.yaml": "kind: Deployment\n",
    "system/app/values.yaml": "a: 1\n",
    "system/app/charts/web/Chart.yaml": "a chart a local build pulled: not an input\n",
    "system/app/secret-generator.yaml":
      "apiVersion: viaduct.ai/v1\nkind: ksops\nmetadata:\n  name: g\nfiles:\n  - ./db.sops.yaml\n",
    "system/app/db.sops.yaml": "kind: Secret\n",
    "shared/base/kustomization.yaml": "resources: [cm.yaml]\n",
    "shared/base/cm.yaml": "kind: ConfigMap\n",
    "shared/values-common.yaml": "b: 2\n",
    "shared/unrelated.yaml": "not referenced\n",
  });
  try {
    const info = await readSource(root, "system/app");
    assert.deepEqual(info.files, [
      "shared/base/cm.yaml",
      "shared/base/kustomization.yaml",
      "shared/values-common.yaml",
      "system/app/db.sops.yaml",
      "system/app/deploy.yaml",
      "system/app/kustomization.yaml",
      "system/app/secret-generator.yaml",
      "system/app/values.yaml",
    ]);
    assert.deepEqual(info.kustomizations, ["system/app/kustomization.yaml", "shared/base/kustomization.yaml"]);
    assert.deepEqual(info.charts, [{
      dir: "system/app",
      repo: "https://charts.example.org",
      name: "web",
      version: "1.2.3",
    }]);
    assert.deepEqual(info.remotes, [{ dir: "system/app", url: "https://example.org/releases/v1/operator.yaml" }]);
    assert.deepEqual(info.ksops, [{
      file: "system/app/secret-generator.yaml",
      dir: "system/app",
      files: ["system/app/db.sops.yaml"],
    }]);
    assert.equal(info.plugins, 0);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("readSource: a reference outside the repository and a missing kustomization are input errors", async () => {
  const root = await tree({
    "system/app/kustomization.yaml": "resources:\n  - ../../../elsewhere\n",
    "system/empty/README.md": "no kustomization\n",
  });
  try {
    await assert.rejects(
      readSource(root, "system/app"),
      (e: unknown) => e instanceof InputError && /outside the repository/.test(e.message),
    );
    await assert.rejects(
      readSource(root, "system/empty"),
      (e: unknown) => e instanceof InputError && /system\/empty: has no kustomization\.yaml/.test(e.message),
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

import assert from "node:assert/strict";
import { copy } from "./copy.ts";
import { join } from "node:path";
import { clusterAdmission } from "../lib/talos/admission.ts";
import type { KubeObject } from "../lib/render/model.ts";
import { REPO, withTempDir } from "./helpers.ts";
import { toolRunner, withControlPlane } from "./kube_helpers.ts";

/** A Pod that `baseline` admits and `restricted` refuses (no runAsNonRoot, no seccomp, caps kept). */
function plainPod(namespace: string): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "plain", namespace },
    spec: { containers: [{ name: "c", image: "registry.example.org/app:1.0.0" }] },
  };
}

async function verdicts(admission: string) {
  return await withControlPlane({ controllers: true, admission }, async (cp) => {
    const out: Record<string, { status: number; message: string }> = {};
    for (const ns of ["default", "kube-system"]) {
      const r = await cp.client.apply(plainPod(ns), { dryRun: true });
      out[ns] = { status: r.status, message: String((r.body as { message?: string }).message ?? "") };
    }
    return out;
  });
}

Deno.test("the local API server admits pods exactly as the Talos machine config says", async (t) => {
  const runner = toolRunner();
  await t.step("the repository's config: restricted by default, kube-system exempt", async () => {
    const admission = await clusterAdmission(runner, REPO);
    assert.equal(admission.podSecurity.defaults.enforce, "restricted");
    assert.ok(admission.podSecurity.exemptions.namespaces.includes("kube-system"), "Talos adds the exemption");
    const v = await verdicts(admission.admissionConfigYaml);
    assert.equal(v.default.status, 403, JSON.stringify(v.default));
    assert.match(v.default.message, /violates PodSecurity "restricted:latest"/);
    assert.equal(v["kube-system"].status, 201, JSON.stringify(v["kube-system"]));
  });

  await t.step("a patch that lowers the default to baseline is what the server then runs", async () => {
    await withTempDir(async (root) => {
      await copy(join(REPO, "talos"), join(root, "talos"));
      const patch = join(root, "talos/patches/pod-security.yaml");
      const text = await Deno.readTextFile(patch);
      await Deno.writeTextFile(patch, text.replace("    enforce: restricted", "    enforce: baseline"));
      const admission = await clusterAdmission(runner, root);
      assert.equal(admission.podSecurity.defaults.enforce, "baseline");
      const v = await verdicts(admission.admissionConfigYaml);
      assert.equal(v.default.status, 201, JSON.stringify(v.default));
    });
  });
});

import assert from "node:assert/strict";
import { join } from "node:path";
import { ARGOCD_KUBECTL, PINS } from "../lib/tools.ts";
import { REPO } from "./helpers.ts";

const goMod = (name: string) => Deno.readTextFile(join(REPO, "tools/go", name, "go.mod"));
/** The version a go.mod requires of `module` (direct or indirect). */
function required(mod: string, module: string): string | undefined {
  const m = new RegExp(`^\\s*(?:require\\s+)?${module.replaceAll(".", "\\.")} (v\\S+)`, "m").exec(mod);
  return m?.[1];
}

Deno.test("the local control plane runs the Kubernetes of talos/talconfig.yaml", async () => {
  const talconfig = await Deno.readTextFile(join(REPO, "talos/talconfig.yaml"));
  const k8s = /^kubernetesVersion: v(\S+)$/m.exec(talconfig)?.[1];
  assert.equal(PINS.kubernetes, k8s, "lib/tools.ts kubernetes ≠ talconfig kubernetesVersion");
  assert.equal(PINS.kubectl, k8s, "kubectl should match the cluster's Kubernetes");
  // tools/go/kubectl builds kubectl's main over k8s.io/kubectl of that release.
  assert.equal(required(await goMod("kubectl"), "k8s.io/kubectl"), `v0.${k8s!.split(".").slice(1).join(".")}`);
  const mod = await goMod("kubernetes");
  assert.equal(required(mod, "k8s.io/kubernetes"), `v${k8s}`);
  // Every staging module is replaced by the published module of the same release.
  const staging = `v0.${k8s!.split(".").slice(1).join(".")}`;
  const replaces = [...mod.matchAll(/^\s*(k8s\.io\/\S+) => (\S+) (\S+)$/gm)];
  assert.ok(replaces.length >= 25, `only ${replaces.length} replaces`);
  for (const [, from, to, version] of replaces) {
    assert.equal(to, from, `${from} is replaced by another module`);
    assert.equal(version, staging, `${from} is replaced by ${version}, not ${staging}`);
  }
});

Deno.test("etcd is the version that Kubernetes release uses, kwok the pinned one", async () => {
  const kube = await goMod("kubernetes");
  assert.equal(required(kube, "go.etcd.io/etcd/client/v3"), `v${PINS.etcd}`);
  assert.equal(required(await goMod("etcd"), "go.etcd.io/etcd/server/v3"), `v${PINS.etcd}`);
  assert.equal(required(await goMod("kwok"), "sigs.k8s.io/kwok"), `v${PINS.kwok}`);
});

Deno.test("psa evaluates pods with the Pod Security code of the cluster's Kubernetes", async () => {
  const talconfig = await Deno.readTextFile(join(REPO, "talos/talconfig.yaml"));
  const k8s = /^kubernetesVersion: v(\S+)$/m.exec(talconfig)?.[1];
  assert.equal(PINS.psa, k8s, "lib/tools.ts psa ≠ talconfig kubernetesVersion");
  const staging = `v0.${k8s!.split(".").slice(1).join(".")}`;
  assert.equal(required(await goMod("psa"), "k8s.io/pod-security-admission"), staging);
});

Deno.test("Argo CD is built from the pinned release, with the miniredis and kubectl that release uses", async () => {
  const argocd = await goMod("argocd");
  assert.equal(required(argocd, "github.com/argoproj/argo-cd/v3"), `v${PINS.argocd}`);
  // gitops-engine comes from its own module, tagged with the release.
  assert.equal(required(argocd, "github.com/argoproj/argo-cd/gitops-engine/v3"), `v${PINS.argocd}`);
  assert.equal(required(argocd, "github.com/alicebob/miniredis/v2"), `v${PINS.miniredis}`);
  assert.equal(required(await goMod("miniredis"), "github.com/alicebob/miniredis/v2"), `v${PINS.miniredis}`);
  assert.equal(/^\s*k8s\.io\/kubectl => k8s\.io\/kubectl (\S+)$/m.exec(argocd)?.[1], ARGOCD_KUBECTL);
});

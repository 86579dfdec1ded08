import assert from "node:assert/strict";
import { join } from "node:path";
import { HomelabError, InputError } from "../errors.ts";
import { Runner } from "../cmd.ts";
import { Kube } from "../bootstrap/kube.ts";
import { parseKubeconfig } from "./kubeconfig.ts";

const TALOS = `apiVersion: v1
kind: Config
clusters:
  - name: homelab
    cluster:
      server: https://192.168.1.40:6443
      certificate-authority-data: ${btoa("CA")}
users:
  - name: admin@homelab
    user:
      client-certificate-data: ${btoa("CERT")}
      client-key-data: ${btoa("KEY")}
contexts:
  - name: admin@homelab
    context: { cluster: homelab, user: admin@homelab, namespace: default }
current-context: admin@homelab
`;

Deno.test("parseKubeconfig: the current context's server, cluster and user", () => {
  const kc = parseKubeconfig(TALOS, ".kube/config")!;
  assert.equal(kc.context, "admin@homelab");
  assert.equal(kc.server, "https://192.168.1.40:6443");
  assert.equal(atob(kc.user["client-key-data"]), "KEY");
  assert.equal(parseKubeconfig("apiVersion: v1\nkind: Config\nclusters: []\n", "k"), undefined);
});

Deno.test("parseKubeconfig: a current-context that is not there names the file", () => {
  const err = (() => {
    try {
      parseKubeconfig(TALOS.replace("current-context: admin@homelab", "current-context: other"), ".kube/config");
    } catch (e) {
      return e;
    }
  })();
  assert.ok(err instanceof InputError);
  assert.match(err.message, /^\.kube\/config: its current-context 'other' is not among its contexts/);
});

Deno.test("the context guard: another server or context is refused naming both; a missing kubeconfig only when required", async () => {
  const dir = await Deno.makeTempDir({ prefix: "homelab-test-" });
  try {
    const file = join(dir, "config");
    const runner = new Runner({ env: {} });
    const prod = new Kube(runner, file, { server: "https://192.168.1.40:6443", label: "the cluster 'homelab'" });
    await prod.guard(); // no kubeconfig yet: nothing can be changed through it
    await assert.rejects(prod.guard(true), HomelabError);
    await Deno.writeTextFile(file, TALOS);
    await prod.guard(true);
    await Deno.writeTextFile(file, TALOS.replace("192.168.1.40", "10.0.0.9"));
    const err = await prod.guard().then(() => undefined, (e) => e);
    assert.ok(err instanceof HomelabError);
    assert.match(err.message, /points at context 'admin@homelab' \(API server https:\/\/10\.0\.0\.9:6443\)/);
    assert.match(err.message, /not the cluster 'homelab' \(https:\/\/192\.168\.1\.40:6443\)/);
    const dev = new Kube(runner, file, { context: "kind-homelab-dev", label: "the dev cluster" });
    await assert.rejects(dev.guard(), /context 'admin@homelab'.*not the dev cluster \(kind-homelab-dev\)/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

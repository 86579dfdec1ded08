/**
 * The cluster's admission configuration comes from talhelper's generated machine config (with a
 * throw-away secret bundle): Talos adds the kube-system exemption our patch leaves out, and
 * changing the patch's default level changes the Pod Security verdict.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { checkPodSecurity, psaTool } from "../lib/check/podsecurity.ts";
import { Runner } from "../lib/cmd.ts";
import { loadConfig } from "../lib/config.ts";
import type { KubeObject, Rendering } from "../lib/render/model.ts";
import { clusterAdmission } from "../lib/talos/admission.ts";
import { Toolbox } from "../lib/toolbox.ts";
import { CLUSTER, SITE } from "./site_values.ts";
import { REPO, withTempDir } from "./helpers.ts";

const config = loadConfig();
const runner = new Runner({ env: config.env, resolve: new Toolbox(config).resolve });

/** A copy of the repository's talos/ folder without the secret bundle. */
async function talosCopy(dir: string): Promise<string> {
  const root = join(dir, "repo");
  await Deno.mkdir(join(root, "talos", "patches"), { recursive: true });
  for (const f of ["talconfig.yaml", "talenv.yaml", "schematic.yaml"]) {
    await Deno.copyFile(join(REPO, "talos", f), join(root, "talos", f));
  }
  for (const e of Deno.readDirSync(join(REPO, "talos", "patches"))) {
    await Deno.copyFile(join(REPO, "talos", "patches", e.name), join(root, "talos", "patches", e.name));
  }
  return root;
}

function deployment(namespace: string, securityContext?: Record<string, unknown>): KubeObject {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "app", namespace },
    spec: {
      selector: { matchLabels: { app: "app" } },
      template: {
        metadata: { labels: { app: "app" } },
        spec: { containers: [{ name: "app", image: "app:1.0.0", ...(securityContext ? { securityContext } : {}) }] },
      },
    },
  };
}

function rendering(objects: KubeObject[]): Rendering {
  return {
    env: "prod",
    root: [],
    apps: [{
      app: {
        name: "apps",
        path: "apps/apps",
        namespace: "apps",
        syncOptions: [],
        ignoreDifferences: [],
        application: { apiVersion: "argoproj.io/v1alpha1", kind: "Application", metadata: { name: "apps" } },
      },
      objects,
      secrets: "digest",
      cached: false,
    }],
  };
}

Deno.test("admission: taken from talhelper genconfig, kube-system exempt by Talos, nothing left behind", async () => {
  await withTempDir(async (dir) => {
    const root = await talosCopy(dir);
    // Scratch space in a directory of this test's own: other tests run in parallel and use /tmp.
    const tmp = join(dir, "tmp");
    await Deno.mkdir(tmp);
    const admission = await clusterAdmission(runner, root, { tmp });
    assert.deepEqual(
      [...Deno.readDirSync(tmp)].map((e) => e.name),
      [],
      "the generated configs and secret bundle were left behind",
    );
    assert.equal(admission.podSecurity.defaults.enforce, "restricted");
    assert.equal(admission.podSecurity.defaults["enforce-version"], "latest");
    // Our patch has no exemptions: Talos's own defaults put kube-system there.
    const patch = await Deno.readTextFile(join(root, "talos", "patches", "pod-security.yaml"));
    assert.doesNotMatch(patch, /^\s*namespaces:/m);
    assert.deepEqual(admission.podSecurity.exemptions.namespaces, ["kube-system"]);
    const ac = parseYaml(admission.admissionConfigYaml) as { apiVersion: string; kind: string; plugins: unknown[] };
    assert.equal(ac.apiVersion, "apiserver.config.k8s.io/v1");
    assert.equal(ac.kind, "AdmissionConfiguration");
    assert.deepEqual(ac.plugins, [{
      name: "PodSecurity",
      configuration: JSON.parse(JSON.stringify(admission.plugins[0].configuration)),
    }]);
    assert.ok(SITE.nodes.some((n) => admission.source === `${CLUSTER}-${n.hostname}.yaml`), admission.source);
  });
});

Deno.test("admission: the patch's default level decides the verdict; kube-system is skipped", async () => {
  await withTempDir(async (dir) => {
    const root = await talosCopy(dir);
    const psa = psaTool(runner);
    const scope = () => true;
    // No securityContext: fine for baseline, not for restricted.
    const plain = rendering([deployment("apps"), deployment("kube-system", { privileged: true })]);

    const restricted = (await clusterAdmission(runner, root)).podSecurity;
    const strict = await checkPodSecurity(plain, restricted, scope, psa);
    assert.equal(strict.length, 1, JSON.stringify(strict));
    assert.equal(strict[0].object?.namespace, "apps");
    assert.match(strict[0].message, /violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false/);
    assert.match(strict[0].message, /the cluster default 'restricted'/);

    const file = join(root, "talos", "patches", "pod-security.yaml");
    await Deno.writeTextFile(file, (await Deno.readTextFile(file)).replace("enforce: restricted", "enforce: baseline"));
    const baseline = (await clusterAdmission(runner, root)).podSecurity;
    assert.equal(baseline.defaults.enforce, "baseline");
    assert.deepEqual(await checkPodSecurity(plain, baseline, scope, psa), []);

    // Under baseline a privileged container is still refused; in kube-system it is exempt.
    const privileged = rendering([deployment("apps", { privileged: true })]);
    const found = await checkPodSecurity(privileged, baseline, scope, psa);
    assert.equal(found.length, 1);
    assert.match(found[0].message, /violates PodSecurity "baseline:latest": privileged/);
  });
});

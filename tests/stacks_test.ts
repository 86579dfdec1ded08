/**
 * The stacks and the root app: real go-jsonnet evaluates root/ for prod and dev; every component
 * passes the static checks; `new app` scaffolds a component the root picks up.
 */
import assert from "node:assert/strict";
import { cp } from "node:fs/promises";
import { join } from "node:path";
import { parse } from "yaml";
import { Runner } from "../lib/cmd.ts";
import { loadConfig } from "../lib/config.ts";
import { checkEnvironments, checkKustomization, checkManifest, checkStacks } from "../lib/check/stacks.ts";
import { type ArgoResource, renderRoot } from "../lib/render/root.ts";
import { newApp, newComponent } from "../lib/scaffold.ts";
import { componentDirs, readComponents, STACKS } from "../lib/stacks.ts";
import { Toolbox } from "../lib/toolbox.ts";
import { unlistedInReadme } from "../lib/readme.ts";
import { REPO, withTempDir } from "./helpers.ts";

const config = loadConfig();
const runner = new Runner({ env: config.env, resolve: new Toolbox(config).resolve });
const apps = (rs: ArgoResource[]) => rs.filter((r) => r.kind === "Application");
const wave = (r: ArgoResource) => Number(r.metadata.annotations?.["argocd.argoproj.io/sync-wave"]);

Deno.test("root: prod has exactly one Application per component folder, each pointing at an existing folder", async () => {
  const prod = apps(
    await renderRoot(runner, REPO, { env: "prod", repoURL: "https://git.example.org/homelab.git", revision: "v1" }),
  );
  const dirs = await componentDirs(REPO);
  assert.deepEqual(prod.map((a) => a.spec.source!.path).sort(), dirs);
  for (const a of prod) {
    assert.equal((await Deno.stat(join(REPO, a.spec.source!.path, "kustomization.yaml"))).isFile, true);
    assert.equal(a.spec.source!.repoURL, "https://git.example.org/homelab.git");
    assert.equal(a.spec.source!.targetRevision, "v1");
    assert.deepEqual(a.spec.syncPolicy!.automated, { prune: true, selfHeal: true });
    assert.equal(a.spec.project, a.spec.source!.path.split("/")[0]);
  }
  const list = await readComponents(REPO);
  for (const c of STACKS.flatMap((s) => list[s])) {
    const app = prod.find((a) => a.metadata.name === c.name)!;
    assert.equal(
      app.spec.syncPolicy!.syncOptions!.includes("ServerSideApply=true"),
      c.serverSideApply ?? false,
      c.name,
    );
    assert.equal(app.spec.destination!.namespace, c.namespace);
  }
  const projects = (await renderRoot(runner, REPO, { env: "prod" })).filter((r) => r.kind === "AppProject");
  assert.deepEqual(projects.map((p) => p.metadata.name), [...STACKS]);
});

Deno.test("root: sync waves put system before platform, and every component after what it depends on", async () => {
  const prod = apps(await renderRoot(runner, REPO, { env: "prod" }));
  const system = prod.filter((a) => a.spec.project === "system").map(wave);
  const platform = prod.filter((a) => a.spec.project === "platform").map(wave);
  assert.ok(Math.max(...system) < Math.min(...platform), `system ${system} / platform ${platform}`);
  const list = await readComponents(REPO);
  const byName = new Map(prod.map((a) => [a.metadata.name, a]));
  for (const c of STACKS.flatMap((s) => list[s])) {
    for (const dep of c.dependsOn ?? []) {
      assert.ok(byName.has(dep), `${c.name} depends on unknown ${dep}`);
      assert.ok(wave(byName.get(dep)!) < wave(byName.get(c.name)!), `${c.name} does not sync after ${dep}`);
    }
  }
  // The Gateway API CRDs come before Cilium, which serves them.
  assert.ok(wave(byName.get("gateway-api")!) < wave(byName.get("cilium")!));
});

Deno.test("root: dev drops exactly the components it says why for, and swaps Cilium's values", async () => {
  const prod = apps(await renderRoot(runner, REPO, { env: "prod" }));
  const dev = apps(await renderRoot(runner, REPO, { env: "dev" }));
  const list = await readComponents(REPO);
  const excluded = STACKS.flatMap((s) => list[s]).filter((c) => c.dev?.exclude).map((c) => c.name).sort();
  assert.deepEqual(excluded, ["kubevirt", "piraeus"]);
  assert.deepEqual(
    prod.map((a) => a.metadata.name).filter((n) => !dev.some((d) => d.metadata.name === n)).sort(),
    excluded,
  );
  assert.equal(dev.find((a) => a.metadata.name === "cilium")!.spec.source!.path, "system/cilium/dev");
  await assert.rejects(renderRoot(runner, REPO, { env: "staging" as "dev" }), /env must be 'prod' or 'dev'/);
});

Deno.test("root: the root Application points Argo CD at root/main.jsonnet with the parameters", async () => {
  const out = await runner.output({
    tool: "jsonnet",
    args: ["--tla-str", "env=dev", "--tla-str", "revision=main", "root.jsonnet"],
    cwd: join(REPO, "root"),
  });
  const app = JSON.parse(out);
  assert.equal(app.kind, "Application");
  assert.equal(app.spec.source.path, "root");
  assert.equal(app.spec.source.directory.include, "main.jsonnet");
  assert.deepEqual(app.spec.source.directory.jsonnet.tlas.find((t: { name: string }) => t.name === "env"), {
    name: "env",
    value: "dev",
  });
});

Deno.test("every component passes the checks: charts pinned exactly, images pinned, namespaces explained, secrets encrypted", async () => {
  assert.deepEqual(await checkStacks(REPO), []);
});

Deno.test("every component has a README with a Path | Purpose table that names each of its files and folders", async () => {
  for (const dir of await componentDirs(REPO)) {
    assert.deepEqual(await unlistedInReadme(REPO, dir), [], `${dir}/README.md does not list these`);
  }
});

Deno.test("Cilium's dev values differ from the Talos ones only where kind must", async () => {
  const prod = parse(await Deno.readTextFile(join(REPO, "system/cilium/values.yaml")));
  const dev = parse(await Deno.readTextFile(join(REPO, "system/cilium/dev/values.yaml")));
  const allowed = new Set([
    "k8sServiceHost",
    "k8sServicePort",
    "cgroup",
    "securityContext",
    "bgpControlPlane",
    "l2announcements",
    "operator",
  ]);
  for (const key of new Set([...Object.keys(prod), ...Object.keys(dev)])) {
    if (allowed.has(key)) continue;
    assert.deepEqual(dev[key], prod[key], `values differ at ${key}`);
  }
  const chart = async (dir: string) =>
    parse(await Deno.readTextFile(join(REPO, dir, "kustomization.yaml"))).helmCharts[0];
  const [p, d] = [await chart("system/cilium"), await chart("system/cilium/dev")];
  assert.deepEqual([d.repo, d.name, d.version], [p.repo, p.name, p.version], "the dev root pins another Cilium");
});

Deno.test("the checks catch a floating chart, a latest image, an unexplained privileged namespace, an unencrypted KSOPS file", async () => {
  await withTempDir(async (root) => {
    const dir = "system/bad";
    await Deno.mkdir(join(root, dir), { recursive: true });
    const w = (f: string, t: string) => Deno.writeTextFile(join(root, dir, f), t);
    await w(
      "kustomization.yaml",
      `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [namespace.yaml, deploy.yaml, missing.yaml]
generators: [./secret-generator.yaml]
helmCharts:
  - name: thing
    repo: https://charts.example.org
    version: ">=1.0.0"
    releaseName: thing
    valuesFile: values.yaml
`,
    );
    await w("values.yaml", "image:\n  repository: example/thing\n  tag: latest\n");
    await w(
      "namespace.yaml",
      "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bad\n  labels:\n    pod-security.kubernetes.io/enforce: privileged\n",
    );
    await w(
      "deploy.yaml",
      "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - image: nginx\n",
    );
    await w(
      "secret-generator.yaml",
      "apiVersion: viaduct.ai/v1\nkind: ksops\nfiles:\n  - ./token.sops.yaml\n  - ./gone.sops.yaml\n",
    );
    await w("token.sops.yaml", "apiVersion: v1\nkind: Secret\nstringData:\n  a: b\n");
    const messages = (await checkKustomization(root, dir)).map((p) => p.message);
    const expect = [
      /version '>=1\.0\.0' is not an exact version/,
      /resource missing\.yaml does not exist/,
      /image not pinned: image\.tag: 'latest'/,
      /Namespace bad enforces 'privileged' without a comment above the label saying why/,
      /image not pinned: spec\.template\.spec\.containers\.0\.image: 'nginx'/,
      /\.\/token\.sops\.yaml is not encrypted/,
      /\.\/gone\.sops\.yaml does not exist/,
    ];
    for (const e of expect) {
      assert.ok(messages.some((m) => e.test(m)), `${e} not in ${JSON.stringify(messages, null, 1)}`);
    }
    assert.equal(messages.length, expect.length, JSON.stringify(messages, null, 1));

    await w(
      "namespace.yaml",
      "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bad\n  labels:\n    # Why privileged: it must.\n    pod-security.kubernetes.io/enforce: privileged\n",
    );
    assert.deepEqual(await checkManifest(root, `${dir}/namespace.yaml`), []);
  });
});

Deno.test("`new app` scaffolds a component the root picks up and that passes the checks", async () => {
  await withTempDir(async (dir) => {
    const root = join(dir, "repo");
    for (const d of ["root", "apps"]) await Deno.mkdir(join(root, d), { recursive: true });
    for (const f of ["root/main.jsonnet", "root/components.json"]) await Deno.copyFile(join(REPO, f), join(root, f));
    const written = await newApp(root, "photos", "a photo library");
    assert.deepEqual(written, [
      "apps/photos/namespace.yaml",
      "apps/photos/kustomization.yaml",
      "apps/photos/README.md",
      "root/components.json",
    ]);
    const prod = apps(await renderRoot(runner, root, { env: "prod" }));
    const app = prod.find((a) => a.metadata.name === "photos");
    assert.equal(app?.spec.source?.path, "apps/photos");
    assert.equal(app?.spec.project, "apps");
    assert.equal(app?.spec.destination?.namespace, "photos");
    assert.deepEqual(await checkKustomization(root, "apps/photos"), []);
    await assert.rejects(newApp(root, "photos"), /already lists apps\/photos/);
    await assert.rejects(newApp(root, "Bad_Name"), /not a valid app name/);
  });
});

Deno.test("`new system` and `new platform` scaffold in their stack, in its last wave, and pass the checks", async () => {
  await withTempDir(async (dir) => {
    const root = join(dir, "repo");
    await Deno.mkdir(join(root, "root"), { recursive: true });
    for (const f of ["root/main.jsonnet", "root/components.json"]) await Deno.copyFile(join(REPO, f), join(root, f));
    const before = await readComponents(root);
    for (const [stack, name] of [["system", "ledger"], ["platform", "mailer"]] as const) {
      const written = await newComponent(root, stack, name, "a test component");
      assert.deepEqual(written, [
        `${stack}/${name}/namespace.yaml`,
        `${stack}/${name}/kustomization.yaml`,
        `${stack}/${name}/README.md`,
        "root/components.json",
      ]);
      const app = apps(await renderRoot(runner, root, { env: "prod" })).find((a) => a.metadata.name === name);
      assert.equal(app?.spec.source?.path, `${stack}/${name}`);
      assert.equal(app?.spec.project, stack);
      assert.equal(wave(app!), Math.max(...before[stack].map((c) => c.wave)));
      assert.deepEqual(await checkKustomization(root, `${stack}/${name}`), []);
    }
    await assert.rejects(newComponent(root, "apps", "ledger"), /already lists system\/ledger/);
  });
});

/** The fixtures of one scenario: a tree with stacks (and root/) that one check must reject. */
const FIXTURES = join(REPO, "tests/fixtures/stacks");

/** Every problem of every kustomization root of a fixture, as `file: message`. */
async function fixtureProblems(scenario: string): Promise<string[]> {
  const root = join(FIXTURES, scenario);
  const out: string[] = [];
  for (const stack of STACKS) {
    const walk = async (rel: string): Promise<void> => {
      const entries = await Array.fromAsync(Deno.readDir(join(root, rel))).catch(() => []);
      if (entries.some((e) => e.name === "kustomization.yaml")) {
        for (const p of await checkKustomization(root, rel)) out.push(`${p.file}: ${p.message}`);
      }
      for (const e of entries) if (e.isDirectory) await walk(`${rel}/${e.name}`);
    };
    await walk(stack);
  }
  return out.sort();
}

function assertProblems(found: string[], expected: RegExp[]) {
  for (const e of expected) assert.ok(found.some((m) => e.test(m)), `${e} not in ${JSON.stringify(found, null, 1)}`);
  assert.equal(found.length, expected.length, JSON.stringify(found, null, 1));
}

Deno.test("a kustomization `namespace:` over a second Namespace is caught (it would rename it and move its objects)", async () => {
  assertProblems(await fixtureProblems("namespace-rename"), [
    /namespace\.yaml: Namespace two: the kustomization's `namespace: one` renames it to one/,
    /namespace\.yaml: Role two\/reader: the kustomization's `namespace: one` moves it to one/,
  ]);
});

Deno.test("an overlay inside the base it lists is caught (kustomize refuses the cycle)", async () => {
  assertProblems(await fixtureProblems("overlay-cycle"), [
    /thing\/dev\/kustomization\.yaml: resource \.\.\/ contains this kustomization/,
  ]);
});

Deno.test("a StorageClass beside the chart that serves it must sync in a later wave", async () => {
  assertProblems(await fixtureProblems("storageclass-wave"), [
    /storageclass\.yaml: StorageClass fast syncs with the chart that serves it/,
  ]);
});

Deno.test("chart values that render unstable objects, a missing GatewayClass or non-restricted pods are caught without the charts", async () => {
  assertProblems(await fixtureProblems("chart-values"), [
    /system\/cilium\/values\.yaml: cilium: gatewayAPI\.gatewayClass\.create must be "true"/,
    /system\/cilium\/values\.yaml: cilium: hubble\.tls\.auto\.method is 'helm'/,
    /system\/piraeus\/values\.yaml: piraeus: tls\.certManagerIssuerRef is not set/,
    /system\/cert-manager\/values\.yaml: cert-manager: config\.enableGatewayAPI is deprecated/,
    /kube-prometheus\/values\.yaml: kube-prometheus-stack: Grafana with persistence: grafana\.initChownData\.enabled must be false.*deploymentStrategy\.type must be Recreate/,
    /kube-prometheus\/values\.yaml: kube-prometheus-stack: kubeEtcd, kubeControllerManager, kubeScheduler: on Talos/,
    /keycloak\/values\.yaml: keycloakx: http\.relativePath is '\/auth' but --hostname has the path '\/'/,
    /crossplane\/values\.yaml: crossplane: restricted Pod Security: securityContextCrossplane lacks capabilities\.drop \[ALL\], runAsNonRoot: true, seccompProfile.*securityContextRBACManager lacks/,
  ]);
});

Deno.test("per environment: a StorageClass only a component left out of dev creates is caught in dev", async () => {
  const found = (await checkEnvironments(join(FIXTURES, "environments"))).map((p) => `${p.file}: ${p.message}`);
  assertProblems(found, [/platform\/app\/values\.yaml: StorageClass fast does not exist in dev \(there: standard\)/]);
});

Deno.test("the tree's volumes take the cluster's default class: naming Piraeus' class would break dev", async () => {
  assert.deepEqual(await checkEnvironments(REPO), []);
  await withTempDir(async (dir) => {
    for (const d of ["root", "system", "platform"]) await cp(join(REPO, d), join(dir, d), { recursive: true });
    const file = join(dir, "platform/keycloak/database.yaml");
    const text = await Deno.readTextFile(file);
    await Deno.writeTextFile(file, text.replace("  storage:\n", "  storage:\n    storageClass: replicated\n"));
    const found = (await checkEnvironments(dir)).map((p) => `${p.file}: ${p.message}`);
    assertProblems(found, [/platform\/keycloak\/database\.yaml: StorageClass replicated does not exist in dev/]);
  });
});

/**
 * The checks over renderings built from fixture YAML (tests/fixtures/check/<scenario>/rendering.yaml,
 * each starting with `# rejected by: CHECK: MESSAGE` or `# accepted`), with the real schema
 * validator, the Kubernetes OpenAPI documents of the pinned version and the real `psa` tool.
 * Schema validation is proved to need no network: that test runs without net permission.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { checkRendering } from "../lib/check/run.ts";
import { readKubernetesVersion } from "../lib/repo.ts";
import { goModuleSource, KubernetesSchemas } from "../lib/check/kubeschemas.ts";
import { psaTool } from "../lib/check/podsecurity.ts";
import { crdVersions, Validator } from "../lib/check/validator.ts";
import { Runner } from "../lib/cmd.ts";
import { loadConfig } from "../lib/config.ts";
import type { Finding, KubeObject, Rendering } from "../lib/render/model.ts";
import { showRef } from "../lib/render/model.ts";
import { Toolbox } from "../lib/toolbox.ts";
import { RESTRICTED } from "./apps.ts";
import { REPO } from "./helpers.ts";

const FIXTURES = join(REPO, "tests", "fixtures", "check");

// One schema cache for the whole file, removed when the test process ends.
const cacheDir = Deno.makeTempDirSync({ prefix: "homelab-test-" });
globalThis.addEventListener("unload", () => Deno.removeSync(cacheDir, { recursive: true }));
const realConfig = loadConfig();
const runner = new Runner({ env: realConfig.env, resolve: new Toolbox(realConfig).resolve });
const version = (await readKubernetesVersion(REPO)).replace(/^v/, "");
const crds = parseYaml(await Deno.readTextFile(join(FIXTURES, "crds.yaml"))) as KubeObject[];

/** A rendering from a fixture file, with the shared CRDs as the app `crds`. */
function fixtureRendering(text: string): Rendering {
  const doc = parseYaml(text) as {
    env: "prod" | "dev";
    apps: {
      name: string;
      namespace: string;
      syncOptions?: string[];
      ignoreDifferences?: never[];
      unstable?: never[];
      objects: KubeObject[];
    }[];
  };
  const app = (a: (typeof doc.apps)[number]) => ({
    app: {
      name: a.name,
      path: `system/${a.name}`,
      namespace: a.namespace,
      syncOptions: a.syncOptions ?? [],
      ignoreDifferences: a.ignoreDifferences ?? [],
      application: { apiVersion: "argoproj.io/v1alpha1", kind: "Application", metadata: { name: a.name } },
    },
    objects: a.objects,
    secrets: "digest" as const,
    unstable: a.unstable,
    cached: false,
  });
  return {
    env: doc.env,
    root: [],
    apps: [app({ name: "crds", namespace: "", objects: crds }), ...doc.apps.map(app)],
  };
}

function show(findings: readonly Finding[]): string {
  return findings.map((f) => `${f.severity} ${f.check} ${f.object ? showRef(f.object) + ": " : ""}${f.message}`)
    .join("\n");
}

Deno.test("the schema cache fills from the k8s.io/kubernetes module of the pinned version", async () => {
  const kube = await KubernetesSchemas.open(cacheDir, version, goModuleSource(runner));
  assert.equal(kube.version, version);
  assert.deepEqual(kube.kind("apps/v1", "Deployment"), {
    path: "apis/apps/v1",
    definition: "io.k8s.api.apps.v1.Deployment",
    namespaced: true,
  });
  assert.equal(kube.kind("v1", "Namespace")?.namespaced, false);
  assert.equal(kube.kind("apps/v1", "Widget"), undefined);
});

Deno.test({
  name: "schemas: strict validation with no network and no subprocess",
  permissions: { read: true, write: true, env: true, net: false, run: false },
  async fn() {
    // No source: the cache filled above is all there is.
    const kube = await KubernetesSchemas.open(cacheDir, version);
    const v = new Validator(kube, crds.flatMap((c) => crdVersions(c, "crds")), join(cacheDir, "compiled"));
    const deployment = (spec: Record<string, unknown>): KubeObject => ({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web", namespace: "web", creationTimestamp: null } as never,
      spec: {
        selector: { matchLabels: { app: "web" } },
        template: { metadata: { labels: { app: "web" } }, spec: { containers: [{ name: "web", image: "web:1" }] } },
        ...spec,
      },
    });
    assert.deepEqual(await v.validate(deployment({ replicas: 2 })), { known: true, errors: [], namespaced: true });
    assert.deepEqual((await v.validate(deployment({ replica: 2 }))).errors, ['unknown field "spec.replica"']);
    assert.deepEqual((await v.validate(deployment({ replicas: "two" }))).errors, ["spec.replicas: must be integer"]);
    // int-or-string and quantities take both forms; anything else names the field.
    const probe = (port: unknown) =>
      deployment({
        template: {
          spec: {
            containers: [{
              name: "w",
              image: "w:1",
              readinessProbe: { httpGet: { port } },
              resources: { limits: { cpu: 1, memory: "1Gi" } },
            }],
          },
        },
      });
    assert.deepEqual((await v.validate(probe(8080))).errors, []);
    assert.deepEqual((await v.validate(probe("http"))).errors, []);
    assert.deepEqual((await v.validate(probe(true))).errors, [
      "spec.template.spec.containers[0].readinessProbe.httpGet.port: must be integer or string",
    ]);
    // metadata is an ObjectMeta, in custom resources too.
    const gateway = (metadata: Record<string, unknown>, spec: Record<string, unknown>): KubeObject => ({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "Gateway",
      metadata: { name: "g", ...metadata } as never,
      spec,
    });
    const listeners = [{ name: "h", port: 80, protocol: "HTTP" }];
    assert.deepEqual((await v.validate(gateway({}, { gatewayClassName: "c", listeners }))).errors, []);
    assert.deepEqual((await v.validate(gateway({ labels: { a: 1 } }, { gatewayClassName: "c", listeners }))).errors, [
      "metadata.labels.a: must be string",
    ]);
    assert.deepEqual((await v.validate(gateway({}, { gatewayClass: "c", listeners }))).errors, [
      "spec.gatewayClassName: required field is missing",
      'unknown field "spec.gatewayClass"',
    ]);
    assert.deepEqual(await v.validate({ apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "w" } }), {
      known: false,
      errors: [],
    });
    // A removed API version names the one to use.
    const pdb = { apiVersion: "policy/v1beta1", kind: "PodDisruptionBudget", metadata: { name: "p" } };
    assert.equal((await v.validate(pdb)).known, false);
    assert.deepEqual(kube.apiVersionsOf("policy", "PodDisruptionBudget"), ["policy/v1"]);
    // A second validator over the same cache loads the compiled code instead of compiling.
    const compiled = [...Deno.readDirSync(join(cacheDir, "compiled"))].length;
    assert.ok(compiled >= 2, `${compiled} compiled validators kept`);
    const again = new Validator(kube, crds.flatMap((c) => crdVersions(c, "crds")), join(cacheDir, "compiled"));
    assert.deepEqual((await again.validate(deployment({ replica: 2 }))).errors, ['unknown field "spec.replica"']);
    assert.equal([...Deno.readDirSync(join(cacheDir, "compiled"))].length, compiled);
  },
});

for (const scenario of [...Deno.readDirSync(FIXTURES)].filter((e) => e.isDirectory).map((e) => e.name).sort()) {
  Deno.test({
    name: `fixture ${scenario}`,
    permissions: { read: true, write: true, env: true, net: false, run: true },
    async fn() {
      const text = await Deno.readTextFile(join(FIXTURES, scenario, "rendering.yaml"));
      const head = text.split("\n")[0];
      const rejected = /^# rejected by: ([a-z-]+): (.+)$/.exec(head);
      assert.ok(
        rejected || head.startsWith("# accepted"),
        `${scenario}: starts with neither '# rejected by:' nor '# accepted'`,
      );
      const rendering = fixtureRendering(text);
      // Filled once (by whichever test runs first), from the module cache.
      const kube = await KubernetesSchemas.open(cacheDir, version, goModuleSource(runner));
      const validator = new Validator(
        kube,
        rendering.apps.flatMap((a) =>
          a.objects.filter((o) => o.kind === "CustomResourceDefinition").flatMap((o) => crdVersions(o, a.app.name))
        ),
        join(cacheDir, "compiled"),
      );
      const findings = await checkRendering(rendering, { validator, podSecurity: RESTRICTED, psa: psaTool(runner) });
      const errors = findings.filter((f) => f.severity === "error");
      if (!rejected) {
        assert.deepEqual(errors, [], `${scenario} should pass:\n${show(errors)}`);
        return;
      }
      const [, check, message] = rejected;
      assert.ok(
        errors.some((f) =>
          f.check === check && `${f.object ? showRef(f.object) + ": " : ""}${f.message}`.includes(message)
        ),
        `${scenario}: expected a ${check} error containing\n  ${message}\ngot:\n${show(findings)}`,
      );
      // Nothing else is wrong with the fixture: it reproduces exactly one failure class.
      assert.deepEqual(errors.filter((f) => f.check !== check), [], `${scenario}: other errors:\n${show(errors)}`);
    },
  });
}

import assert from "node:assert/strict";
import type { Finding, KubeObject, RenderedApp, Rendering } from "../render/model.ts";
import type { PodSecurityConfiguration } from "../talos/admission.ts";
import { checkRendering, reportedOn } from "./run.ts";
import type { Validation, Validator } from "./validator.ts";
import { renderedApp } from "../../tests/apps.ts";

/** A validator that knows core kinds (and `spec.replicas` only) and no custom resource. */
const validator = {
  validate(o: KubeObject): Promise<Validation> {
    if (o.apiVersion.includes("example.com")) return Promise.resolve({ known: false, errors: [] });
    const spec = (o.spec ?? {}) as Record<string, unknown>;
    const errors = Object.keys(spec).filter((k) => k !== "replicas").map((k) => `unknown field "spec.${k}"`);
    return Promise.resolve({ known: true, errors, namespaced: o.kind !== "Namespace" });
  },
  scopeOf: (apiVersion: string, kind: string) => apiVersion.includes("example.com") ? undefined : kind !== "Namespace",
  versionsOf: () => [],
  kube: { version: "1.34.0", apiVersionsOf: () => [] },
} as unknown as Validator;

const podSecurity = {
  defaults: { enforce: "privileged", "enforce-version": "latest" },
  exemptions: { namespaces: [], runtimeClasses: [], usernames: [] },
} as unknown as PodSecurityConfiguration;

function rendering(failing: boolean): Rendering {
  const app = (name: string, objects: KubeObject[], error?: string) => renderedApp(name, objects, { error });
  const web: KubeObject[] = [
    { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "typo" }, spec: { replica: 2 } },
    { apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "w" } },
    { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "elsewhere", namespace: "ghost" } },
  ];
  return {
    env: "prod",
    root: [],
    apps: [
      failing ? app("operator", [], "app operator: `kustomize build system/operator` failed") : app("operator", []),
      app("web", [{ apiVersion: "v1", kind: "Namespace", metadata: { name: "web" } }, ...web]),
    ],
  };
}

const show = (r: Rendering) =>
  checkRendering(r, { validator, podSecurity, psa: () => Promise.resolve([]) }).then((found) =>
    found.map((f) => `${f.severity} ${f.check} ${f.object?.name ?? "-"}`)
  );

Deno.test("check: while another app fails to build, what may follow from it is a warning; a schema error stays an error", async () => {
  assert.deepEqual(await show(rendering(false)), [
    "error schema typo",
    "error schema w",
    "error namespace elsewhere",
  ]);
  assert.deepEqual(await show(rendering(true)), [
    "error build -",
    "error schema typo",
    "warning schema w",
    "warning namespace elsewhere",
  ]);
  const [, , unknownKind] = await checkRendering(rendering(true), {
    validator,
    podSecurity,
    psa: () => Promise.resolve([]),
  });
  assert.match(unknownKind.message, /^unknown kind Widget .*\(perhaps only because operator failed to build\)$/);
});

function rendered(name: string, error?: string): RenderedApp {
  return renderedApp(name, [], { error });
}

Deno.test("check --app: while another app failed to build, the named app's result says it is incomplete", () => {
  const rendering: Rendering = {
    env: "prod",
    root: [],
    apps: [rendered("web"), rendered("cilium", "app cilium: `kustomize build system/cilium` failed"), rendered("db")],
  };
  const findings: Finding[] = [
    { app: "cilium", check: "build", severity: "error", message: "app cilium: `kustomize build` failed" },
    { app: "web", check: "image", severity: "warning", message: "not pinned" },
  ];
  const all = reportedOn(rendering, findings);
  assert.deepEqual(all.apps, ["web", "cilium", "db", "root", "cluster"]);
  assert.deepEqual(all.findings, findings, "without --app the build error is there, nothing added");

  const web = reportedOn(rendering, findings, ["web"]);
  assert.deepEqual(web.apps, ["web"]);
  assert.deepEqual(web.findings.map((f) => [f.app, f.check, f.severity]), [
    ["web", "incomplete", "error"],
    ["web", "image", "warning"],
  ]);
  assert.match(web.findings[0].message, /^the result is incomplete: cilium failed to build, .*check --app cilium/);

  // The failed app itself, named: its own build error says it all.
  const cilium = reportedOn(rendering, findings, ["cilium"]);
  assert.deepEqual(cilium.findings.map((f) => f.check), ["build"]);
  // Nothing failed: nothing added.
  const ok = { ...rendering, apps: rendering.apps.filter((a) => !a.error) };
  assert.deepEqual(reportedOn(ok, findings.slice(1), ["web"]).findings.map((f) => f.check), ["image"]);
});

import assert from "node:assert/strict";
import type { Finding, RenderedApp, Rendering } from "../render/model.ts";
import { reportedOn } from "./run.ts";

function rendered(name: string, error?: string): RenderedApp {
  return {
    app: {
      name,
      path: `system/${name}`,
      namespace: name,
      syncOptions: [],
      ignoreDifferences: [],
      application: { apiVersion: "argoproj.io/v1alpha1", kind: "Application", metadata: { name } },
    },
    objects: [],
    ...(error ? { error } : {}),
    secrets: "digest",
    cached: false,
  };
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

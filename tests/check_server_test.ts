// deno-lint-ignore-file no-console -- tests print freely; library code speaks through the Ui
import assert from "node:assert/strict";
import { serverFindings } from "../lib/check/server.ts";
import type { Finding, KubeObject, Rendering } from "../lib/render/model.ts";
import { clusterAdmission } from "../lib/talos/admission.ts";
import { REPO } from "./helpers.ts";
import { toolRunner, widgetCrd } from "./kube_helpers.ts";
import { renderedApp } from "./apps.ts";

const app = (name: string, objects: KubeObject[]) => renderedApp(name, objects);

const namespace = (name: string, level = "restricted"): KubeObject => ({
  apiVersion: "v1",
  kind: "Namespace",
  metadata: { name, labels: { "pod-security.kubernetes.io/enforce": level } },
});

const restrictedPod = {
  securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
  containers: [{
    name: "c",
    image: "registry.example.org/app:1.0.0",
    securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
  }],
};

function deployment(
  name: string,
  ns: string,
  spec: Record<string, unknown> = {},
  pod: Record<string, unknown> = restrictedPod,
): KubeObject {
  const labels = { app: name };
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace: ns },
    spec: { replicas: 1, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: pod }, ...spec },
  };
}

const crd = widgetCrd({
  type: "object",
  properties: { min: { type: "integer" }, max: { type: "integer" } },
  "x-kubernetes-validations": [{ rule: "self.min <= self.max", message: "min must not exceed max" }],
});

/** A CRD no object uses (so only dry-run) that the server refuses: a protected group without approval. */
const unusedProtectedCrd: KubeObject = {
  ...crd,
  metadata: { name: "sprockets.example.k8s.io" },
  spec: {
    ...(crd.spec as Record<string, unknown>),
    group: "example.k8s.io",
    names: { kind: "Sprocket", plural: "sprockets", singular: "sprocket", listKind: "SprocketList" },
  },
};

const widget = (name: string, spec: Record<string, unknown>): KubeObject => ({
  apiVersion: "example.org/v1",
  kind: "Widget",
  metadata: { name, namespace: "team" },
  spec,
});

const find = (fs: Finding[], name: string) => fs.filter((f) => f.object?.name === name);

Deno.test("check --server: the real API server judges every object, per app and object", async () => {
  const privileged = {
    containers: [{ name: "c", image: "registry.example.org/app:1.0.0", securityContext: { privileged: true } }],
  };
  const rendering: Rendering = {
    env: "prod",
    root: [],
    apps: [
      app("team", [namespace("team"), crd, deployment("good", "team"), unusedProtectedCrd]),
      app("broken", [
        deployment("typo", "team", { replica: 2 }),
        deployment("root", "team", {}, privileged),
        widget("ok", { min: 1, max: 2 }),
        widget("cel", { min: 3, max: 2 }),
        widget("extra", { min: 1, max: 2, colour: "red" }),
        deployment("homeless", "nowhere"),
        { apiVersion: "example.org/v1", kind: "Gadget", metadata: { name: "g", namespace: "team" } },
        deployment(
          "old",
          "team",
          {},
          {
            ...restrictedPod,
            nodeSelector: { "node-role.kubernetes.io/master": "" },
          } as typeof restrictedPod,
        ),
      ]),
      // kube-system is exempt on the real cluster (Talos's default), so it is here too.
      app("cni", [deployment("agent", "kube-system", {}, privileged)]),
    ],
  };
  const admission = await clusterAdmission(toolRunner(), REPO);
  const findings = await serverFindings(toolRunner(), rendering, { admission: admission.admissionConfigYaml });
  const show = JSON.stringify(findings, null, 1);
  if (Deno.env.get("SHOW")) console.log(show);

  for (const clean of ["team", "widgets.example.org", "good", "ok", "agent"]) {
    assert.deepEqual(find(findings, clean), [], `${clean} should pass: ${show}`);
  }
  const one = (name: string, check: string, severity: string, pattern: RegExp) => {
    const fs = find(findings, name);
    assert.equal(fs.length, 1, `${name}: ${JSON.stringify(fs)}`);
    assert.equal(fs[0].app, "broken");
    assert.equal(fs[0].check, check, name);
    assert.equal(fs[0].severity, severity, name);
    assert.match(fs[0].message, pattern, name);
  };
  one("typo", "server", "error", /unknown field "spec\.replica"/);
  one("root", "pod-security", "error", /would violate PodSecurity "restricted:latest": privileged/);
  one("cel", "server", "error", /min must not exceed max/);
  one("extra", "server", "error", /unknown field "spec\.colour"/);
  one("homeless", "server", "error", /namespaces "nowhere" not found/);
  one("g", "server", "error", /no resource for example\.org\/v1 Gadget/);
  one("old", "server", "warning", /node-role\.kubernetes\.io\/master.*deprecated|control-plane/);
  const sprocket = find(findings, "sprockets.example.k8s.io");
  assert.equal(sprocket.length, 1, show);
  assert.equal(sprocket[0].app, "team");
  assert.match(sprocket[0].message, /protected groups must have approval annotation/);
  assert.equal(findings.length, 8, show);
});

Deno.test("refusals read as the user would say them", async () => {
  const { refusal } = await import("../lib/check/server.ts");
  assert.equal(
    refusal({
      message: "failed to create typed patch object (team/typo; apps/v1, Kind=Deployment): " +
        ".spec.replica: field not declared in schema",
    }),
    'unknown field "spec.replica"',
  );
  assert.equal(
    refusal({ message: 'namespaces "x" not found', details: { causes: [{ message: "extra cause" }] } }),
    'namespaces "x" not found; extra cause',
  );
  assert.equal(refusal(undefined), "refused");
});

Deno.test("the server's findings join the offline ones without saying the same thing twice", async () => {
  const { mergeFindings } = await import("../lib/check/server.ts");
  const object = { apiVersion: "apps/v1", kind: "Deployment", namespace: "team", name: "web" };
  const offline: Finding[] = [
    { app: "web", check: "pod-security", severity: "error", object, message: "violates PodSecurity" },
    { app: "web", check: "schema", severity: "warning", object, message: "deprecated" },
  ];
  const server: Finding[] = [
    { app: "web", check: "pod-security", severity: "error", object, message: "would violate PodSecurity" },
    { app: "web", check: "server", severity: "error", object, message: 'unknown field "spec.replica"' },
    { app: "web", check: "server", severity: "error", object: { ...object, name: "api" }, message: "refused" },
  ];
  const merged = mergeFindings(offline, server);
  assert.deepEqual(merged.map((f) => `${f.check}:${f.object?.name}:${f.message}`), [
    "pod-security:web:violates PodSecurity",
    "schema:web:deprecated",
    'server:web:unknown field "spec.replica"',
    "server:api:refused",
  ]);
});

Deno.test("check --server: an object without a namespace is judged in its Application's destination namespace", async () => {
  const privileged = {
    containers: [{ name: "c", image: "registry.example.org/app:1.0.0", securityContext: { privileged: true } }],
  };
  const homeless = (name: string): KubeObject => {
    const d = deployment(name, "", {}, privileged);
    return { ...d, metadata: { name: d.metadata.name } };
  };
  // As the tree's privileged namespaces do: enforce and warn at the same level.
  const lenient = (name: string): KubeObject => {
    const ns = namespace(name, "privileged");
    return {
      ...ns,
      metadata: { ...ns.metadata, labels: { ...ns.metadata.labels, "pod-security.kubernetes.io/warn": "privileged" } },
    };
  };
  const rendering: Rendering = {
    env: "prod",
    root: [],
    apps: [
      // `default` lets anything run here, so an object judged in `default` would pass either way.
      app("namespaces", [lenient("default"), lenient("privileged")]),
      app("privileged", [homeless("allowed")]),
      app("restricted", [namespace("restricted"), homeless("refused")]),
    ],
  };
  const admission = await clusterAdmission(toolRunner(), REPO);
  const findings = await serverFindings(toolRunner(), rendering, { admission: admission.admissionConfigYaml });
  const show = JSON.stringify(findings, null, 1);
  assert.deepEqual(find(findings, "allowed"), [], show);
  const refused = find(findings, "refused");
  assert.equal(refused.length, 1, show);
  assert.equal(refused[0].check, "pod-security");
  assert.equal(refused[0].object?.namespace, "restricted", "named with the namespace it lands in");
  assert.match(refused[0].message, /would violate PodSecurity "restricted:latest": privileged/);
  assert.equal(findings.length, 1, show);
});

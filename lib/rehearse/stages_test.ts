import assert from "node:assert/strict";
import { InputError } from "../errors.ts";
import { type GroupKind, loadHealthChecks, loadStages, parseHealthChecks, stageKinds, unsimulated } from "./stages.ts";

const REPO = new URL("../..", import.meta.url).pathname;
const stages = await loadStages(`${REPO}rehearse/stages`);
const checks = await loadHealthChecks(`${REPO}rehearse/argocd-health.yaml`);

/** Kinds of the tree whose health Argo CD judges, and what the charts add. */
const TREE: GroupKind[] = [
  { group: "cert-manager.io", kind: "Certificate" },
  { group: "cert-manager.io", kind: "ClusterIssuer" },
  { group: "gateway.networking.k8s.io", kind: "Gateway" },
  { group: "gateway.networking.k8s.io", kind: "GatewayClass" },
  { group: "gateway.networking.k8s.io", kind: "HTTPRoute" },
  { group: "postgresql.cnpg.io", kind: "Cluster" },
  { group: "monitoring.coreos.com", kind: "Prometheus" },
  { group: "monitoring.coreos.com", kind: "Alertmanager" },
  { group: "external-secrets.io", kind: "ClusterSecretStore" },
  { group: "", kind: "Service" },
  { group: "", kind: "PersistentVolumeClaim" },
  { group: "apps", kind: "Deployment" },
  { group: "batch", kind: "Job" },
  { group: "apiextensions.k8s.io", kind: "CustomResourceDefinition" },
];

Deno.test("every kind of the tree whose health Argo CD judges has a Stage or a controller here", () => {
  assert.deepEqual(unsimulated(TREE, stages, checks), []);
});

Deno.test("a judged kind without a Stage is reported, kinds Argo CD does not judge are not", () => {
  const kinds = [
    ...TREE,
    { group: "kubevirt.io", kind: "VirtualMachine" },
    { group: "kubevirt.io", kind: "KubeVirt" },
    { group: "piraeus.io", kind: "LinstorCluster" },
    { group: "", kind: "ConfigMap" },
    { group: "kubevirt.io", kind: "VirtualMachine" },
  ];
  assert.deepEqual(unsimulated(kinds, stages, checks), [{ group: "kubevirt.io", kind: "VirtualMachine" }]);
});

Deno.test("a kind judged through a wildcard directory (_.crossplane.io/_) is reported", () => {
  assert.deepEqual(unsimulated([{ group: "pkg.crossplane.io", kind: "Provider" }], stages, checks), [
    { group: "pkg.crossplane.io", kind: "Provider" },
  ]);
  assert.deepEqual(unsimulated([{ group: "ec2.aws.upbound.io", kind: "VPC" }], stages, checks), [
    { group: "ec2.aws.upbound.io", kind: "VPC" },
  ]);
  assert.deepEqual(unsimulated([{ group: "crossplane.io", kind: "Thing" }], stages, checks), []);
});

Deno.test("without its Stage, a kind is reported", () => {
  const without = { kinds: stages.kinds.filter((k) => k.kind !== "Certificate") };
  assert.deepEqual(unsimulated(TREE, without, checks), [{ group: "cert-manager.io", kind: "Certificate" }]);
});

Deno.test("Stage kinds: the group comes from resourceRef.apiGroup (a group/version)", () => {
  const text = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: a}
spec: {resourceRef: {apiGroup: cert-manager.io/v1, kind: Certificate}}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: b}
spec: {resourceRef: {apiGroup: v1, kind: Service}}
`;
  assert.deepEqual(stageKinds(text, "x.yaml"), [
    { group: "cert-manager.io", kind: "Certificate" },
    { group: "", kind: "Service" },
  ]);
});

Deno.test("a file in rehearse/stages that is not a Stage is refused, naming the file", () => {
  let e: unknown;
  try {
    stageKinds("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", "rehearse/stages/x.yaml");
  } catch (err) {
    e = err;
  }
  assert.ok(e instanceof InputError);
  assert.match(e.message, /rehearse\/stages\/x\.yaml/);
  assert.throws(
    () => stageKinds("a: [\n", "bad.yaml"),
    (x: Error) => x instanceof InputError && /bad.yaml is not valid YAML/.test(x.message),
  );
});

Deno.test("the health list names its Argo CD version and refuses entries that are not group/Kind", () => {
  assert.deepEqual(checks.version, "v3.6.1");
  assert.throws(
    () => parseHealthChecks("version: v1\ngo: [Service]\nlua: []\ncontrollers: []\n", "h.yaml"),
    (x: Error) => x instanceof InputError && /`go` must be a list of group\/Kind strings/.test(x.message),
  );
});

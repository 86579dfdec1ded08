import assert from "node:assert/strict";
import { apiVersionSet, crdKinds, discoveredKinds } from "./apis.ts";

Deno.test("API versions as Argo CD passes them: group/version and group/version/Kind, listable and watchable, sorted", () => {
  const discovered = discoveredKinds([
    { groupVersion: "v1", kind: "ConfigMap", name: "configmaps", namespaced: true, verbs: ["get", "list", "watch"] },
    { groupVersion: "apps/v1", kind: "Deployment", name: "deployments", namespaced: true, verbs: ["list", "watch"] },
    // Create-only (reviews, bindings): Argo CD's cluster cache does not count them.
    {
      groupVersion: "authentication.k8s.io/v1",
      kind: "TokenReview",
      name: "tokenreviews",
      namespaced: false,
      verbs: ["create"],
    },
  ]);
  const crds = crdKinds([
    {
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      metadata: { name: "servicemonitors.monitoring.coreos.com" },
      spec: {
        group: "monitoring.coreos.com",
        names: { kind: "ServiceMonitor" },
        versions: [{ name: "v1", served: true }, { name: "v1alpha1", served: false }],
      },
    },
    { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "not-a-crd" } },
  ]);
  assert.deepEqual(apiVersionSet(discovered, crds), [
    "apps/v1",
    "apps/v1/Deployment",
    "monitoring.coreos.com/v1",
    "monitoring.coreos.com/v1/ServiceMonitor",
    "v1",
    "v1/ConfigMap",
  ]);
});

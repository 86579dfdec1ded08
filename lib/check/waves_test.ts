import assert from "node:assert/strict";
import type { KubeObject, Rendering } from "../render/model.ts";
import { checkWaveOrder } from "./waves.ts";

const clusterScoped = new Set(["GatewayClass", "ClusterIssuer", "StorageClass", "CustomResourceDefinition"]);
const scopeOf = (_: string, kind: string) => !clusterScoped.has(kind);

function app(name: string, wave: number, objects: KubeObject[]) {
  return {
    application: {
      apiVersion: "argoproj.io/v1alpha1",
      kind: "Application",
      metadata: { name, annotations: { "argocd.argoproj.io/sync-wave": String(wave) } },
    } as KubeObject,
    rendered: {
      app: { name, path: `system/${name}`, namespace: name, syncOptions: [], ignoreDifferences: [] },
      objects,
      secrets: "digest" as const,
      cached: false,
    },
  };
}

function rendering(...apps: ReturnType<typeof app>[]): Rendering {
  return {
    env: "prod",
    root: apps.map((a) => a.application),
    apps: apps.map((a) => ({ ...a.rendered, app: { ...a.rendered.app, application: a.application } })),
  };
}

const gateway: KubeObject = {
  apiVersion: "gateway.networking.k8s.io/v1",
  kind: "Gateway",
  metadata: { name: "shared", namespace: "gateway" },
  spec: { gatewayClassName: "cilium", listeners: [] },
};
const route: KubeObject = {
  apiVersion: "gateway.networking.k8s.io/v1",
  kind: "HTTPRoute",
  metadata: { name: "ui", namespace: "argocd" },
  spec: { parentRefs: [{ name: "shared", namespace: "gateway" }] },
};

Deno.test("a route whose Gateway a later wave creates is a wave inversion, naming both Applications and waves", () => {
  const f = checkWaveOrder(rendering(app("argocd", -10, [route]), app("gateway", -5, [gateway])), scopeOf);
  assert.equal(f.length, 1);
  assert.equal(f[0].app, "argocd");
  assert.equal(f[0].check, "wave-order");
  assert.deepEqual([f[0].object?.kind, f[0].object?.name], ["HTTPRoute", "ui"]);
  assert.match(f[0].message, /Gateway gateway\/shared, which the Application gateway creates in sync wave -5/);
  assert.match(f[0].message, /after this Application's wave -10/);
  // The same waves the other way round, the same wave, or the same Application: in order.
  assert.deepEqual(checkWaveOrder(rendering(app("argocd", 0, [route]), app("gateway", -5, [gateway])), scopeOf), []);
  assert.deepEqual(checkWaveOrder(rendering(app("argocd", -5, [route]), app("gateway", -5, [gateway])), scopeOf), []);
  assert.deepEqual(checkWaveOrder(rendering(app("gateway", -5, [gateway, route])), scopeOf), []);
});

Deno.test("wave inversions of CRDs, GatewayClasses, issuers and StorageClasses", () => {
  const crd: KubeObject = {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: "certificates.cert-manager.io" },
    spec: { group: "cert-manager.io", names: { kind: "Certificate" } },
  };
  const issuer: KubeObject = { apiVersion: "cert-manager.io/v1", kind: "ClusterIssuer", metadata: { name: "ca" } };
  const cert: KubeObject = {
    apiVersion: "cert-manager.io/v1",
    kind: "Certificate",
    metadata: { name: "wild", namespace: "gateway" },
    spec: { issuerRef: { kind: "ClusterIssuer", name: "ca" } },
  };
  const klass: KubeObject = {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "GatewayClass",
    metadata: { name: "cilium" },
  };
  const storage: KubeObject = { apiVersion: "storage.k8s.io/v1", kind: "StorageClass", metadata: { name: "fast" } };
  const claim: KubeObject = {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: { name: "data", namespace: "gateway" },
    spec: { storageClassName: "fast" },
  };
  const late = rendering(
    app("gateway", -5, [gateway, cert, claim]),
    app("cert-manager", 0, [crd, issuer]),
    app("cilium", 0, [klass]),
    app("piraeus", 1, [storage]),
  );
  const messages = checkWaveOrder(late, scopeOf).map((f) => `${f.object?.kind} ${f.message.split(",")[0]}`);
  assert.deepEqual(messages.sort(), [
    "Certificate needs ClusterIssuer ca",
    "Certificate needs the CustomResourceDefinition of Certificate",
    "Gateway needs GatewayClass cilium",
    "PersistentVolumeClaim needs StorageClass fast",
  ]);
  const early = rendering(
    app("gateway", -5, [gateway, cert, claim]),
    app("cert-manager", -10, [crd, issuer]),
    app("cilium", -20, [klass]),
    app("piraeus", -6, [storage]),
  );
  assert.deepEqual(checkWaveOrder(early, scopeOf), []);
});

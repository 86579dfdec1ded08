import assert from "node:assert/strict";
import type { Env, KubeObject, Rendering } from "../render/model.ts";
import { checkReferences } from "./references.ts";
import { appSpec } from "../../tests/apps.ts";

const claim: KubeObject = {
  apiVersion: "v1",
  kind: "PersistentVolumeClaim",
  metadata: { name: "data", namespace: "web" },
  spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
};

function rendering(env: Env, objects: KubeObject[]): Rendering {
  const app = {
    name: "web",
    path: "apps/web",
    namespace: "web",
    syncOptions: [],
    ignoreDifferences: [],
    application: { apiVersion: "argoproj.io/v1alpha1", kind: "Application", metadata: { name: "web" } },
  };
  return { env, root: [], apps: [{ app, objects, secrets: "digest", cached: false }] };
}

const namespaced = (_: string, kind: string) => kind !== "StorageClass";

Deno.test("a claim without a class: kind's default class serves it in dev; prod needs a default in the render", () => {
  assert.deepEqual(checkReferences(rendering("dev", [claim]), namespaced), []);
  const prod = checkReferences(rendering("prod", [claim]), namespaced);
  assert.equal(prod.length, 1);
  assert.match(prod[0].message, /no StorageClass in this render is the default/);
  const replicated: KubeObject = {
    apiVersion: "storage.k8s.io/v1",
    kind: "StorageClass",
    metadata: { name: "replicated", annotations: { "storageclass.kubernetes.io/is-default-class": "true" } },
  };
  assert.deepEqual(checkReferences(rendering("prod", [claim, replicated]), namespaced), []);
  // A class named outright must exist there: kind's `standard` is not in prod.
  const standard = { ...claim, spec: { ...(claim.spec as object), storageClassName: "standard" } };
  assert.deepEqual(checkReferences(rendering("dev", [standard]), namespaced), []);
  assert.match(checkReferences(rendering("prod", [standard, replicated]), namespaced)[0].message, /'standard'/);
});

const scoped = (_: string, kind: string) => !["StorageClass", "GatewayClass", "Namespace"].includes(kind);

/** A gateway app (class, Gateway in `gateway`) and a web app whose route points at `backend`. */
function routed(
  backend: Record<string, unknown>,
  service: { namespace: string; ports: Record<string, unknown>[] },
  extra: KubeObject[] = [],
): Rendering {
  const spec = (name: string, namespace: string) => appSpec(name, { namespace });
  const gateway: KubeObject[] = [
    { apiVersion: "gateway.networking.k8s.io/v1", kind: "GatewayClass", metadata: { name: "cilium" } },
    {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "Gateway",
      metadata: { name: "shared" },
      spec: { gatewayClassName: "cilium", listeners: [{ name: "https", port: 443, protocol: "HTTPS" }] },
    },
  ];
  const web: KubeObject[] = [
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "web", ...(service.namespace === "web" ? {} : { namespace: service.namespace }) },
      spec: { ports: service.ports },
    },
    {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      metadata: { name: "web" },
      spec: {
        parentRefs: [{ name: "shared", namespace: "gateway", sectionName: "https" }],
        rules: [{ backendRefs: [{ name: "web", ...backend }] }],
      },
    },
  ];
  return {
    env: "prod",
    root: [],
    apps: [
      { app: spec("gateway", "gateway"), objects: gateway, secrets: "digest", cached: false },
      { app: spec("web", "web"), objects: web, secrets: "digest", cached: false },
      { app: spec("grants", "grants"), objects: extra, secrets: "digest", cached: false },
    ],
  };
}

const messages = (r: Rendering) => checkReferences(r, scoped).map((f) => `${f.severity} ${f.message}`);

Deno.test("a route's backend port is the Service's port, never its targetPort", () => {
  const ports = [{ name: "http", port: 80, targetPort: 8080 }];
  assert.deepEqual(messages(routed({ port: 80 }, { namespace: "web", ports })), []);
  assert.deepEqual(messages(routed({ port: 8080 }, { namespace: "web", ports })), [
    "error rules[0].backendRefs: Service web/web has no port 8080 (it has: 80)",
  ]);
  // A named targetPort is no port number either; the port's name is not its number.
  const named = [{ name: "http", port: 80, targetPort: "http" }, { name: "metrics", port: 9090, targetPort: 9091 }];
  assert.deepEqual(messages(routed({ port: 9090 }, { namespace: "web", ports: named })), []);
  assert.deepEqual(messages(routed({ port: 9091 }, { namespace: "web", ports: named })), [
    "error rules[0].backendRefs: Service web/web has no port 9091 (it has: 80, 9090)",
  ]);
  assert.deepEqual(messages(routed({}, { namespace: "web", ports })), [
    "error rules[0].backendRefs: Service web/web needs a port",
  ]);
});

Deno.test("a ReferenceGrant allows a route only from the namespace it names, only in the Service's namespace", () => {
  const ports = [{ port: 80, targetPort: 8080 }];
  const grant = (namespace: string, from: string, to: Record<string, unknown> = { group: "", kind: "Service" }) => ({
    apiVersion: "gateway.networking.k8s.io/v1beta1",
    kind: "ReferenceGrant",
    metadata: { name: `from-${from}`, namespace },
    spec: { from: [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute", namespace: from }], to: [to] },
  });
  const across = (...grants: KubeObject[]) =>
    messages(routed({ namespace: "backend", port: 80 }, { namespace: "backend", ports }, grants));
  const refused = [
    "error rules[0].backendRefs: Service backend/web is in another namespace and no ReferenceGrant in backend " +
    "allows HTTPRoutes from web: add one",
  ];
  assert.deepEqual(across(), refused);
  assert.deepEqual(across(grant("backend", "web")), []);
  // From another namespace than the route's.
  assert.deepEqual(across(grant("backend", "other")), refused);
  // In the route's namespace (or any other) instead of the Service's.
  assert.deepEqual(across(grant("web", "web")), refused);
  assert.deepEqual(across(grant("gateway", "web")), refused);
  // For another kind of source, or to another Service by name.
  assert.deepEqual(
    across({
      ...grant("backend", "web"),
      spec: {
        from: [{ group: "gateway.networking.k8s.io", kind: "GRPCRoute", namespace: "web" }],
        to: [{ group: "", kind: "Service" }],
      },
    }),
    refused,
  );
  assert.deepEqual(across(grant("backend", "web", { group: "", kind: "Service", name: "api" })), refused);
  assert.deepEqual(across(grant("backend", "web", { group: "", kind: "Service", name: "web" })), []);
});

import assert from "node:assert/strict";
import type { Env, KubeObject, Rendering } from "../render/model.ts";
import { checkReferences } from "./references.ts";

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

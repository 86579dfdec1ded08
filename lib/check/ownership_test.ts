import assert from "node:assert/strict";
import type { KubeObject, Rendering } from "../render/model.ts";
import { checkOwnership } from "./ownership.ts";
import { renderedApp, renderingOf } from "../../tests/apps.ts";

function rendering(apps: { name: string; namespace: string; objects: KubeObject[] }[]): Rendering {
  return renderingOf(apps.map(({ name, namespace, objects }) => renderedApp(name, objects, { namespace })));
}

const scopeOf = (_: string, kind: string) => !["ClusterRole", "Namespace"].includes(kind);
const configMap = (namespace?: string): KubeObject => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name: "settings", ...(namespace ? { namespace } : {}) },
});

Deno.test("ownership: one object from two apps, however each names its namespace", () => {
  // Only one app writes the namespace; the other's object lands there from its destination.
  const found = checkOwnership(
    rendering([
      { name: "web", namespace: "web", objects: [configMap()] },
      { name: "tuning", namespace: "tuning", objects: [configMap("web")] },
    ]),
    scopeOf,
  );
  assert.deepEqual(found.map((f) => [f.app, f.object?.namespace, f.message.split(":")[0]]), [
    ["web", "web", "ConfigMap/web/settings is also rendered by tuning"],
    ["tuning", "web", "ConfigMap/web/settings is also rendered by web"],
  ]);
  // Neither writes it, both go to the same destination.
  assert.equal(
    checkOwnership(
      rendering([
        { name: "a", namespace: "shared", objects: [configMap()] },
        { name: "b", namespace: "shared", objects: [configMap()] },
      ]),
      scopeOf,
    ).length,
    2,
  );
  // The same name in two namespaces is two objects; so is the same name of another group or kind.
  assert.deepEqual(
    checkOwnership(
      rendering([
        { name: "a", namespace: "a", objects: [configMap()] },
        { name: "b", namespace: "b", objects: [configMap()] },
        { name: "c", namespace: "a", objects: [{ ...configMap(), kind: "Secret" }] },
        { name: "d", namespace: "a", objects: [{ ...configMap(), apiVersion: "example.com/v1" }] },
      ]),
      scopeOf,
    ),
    [],
  );
  // A cluster-scoped object is one object whatever namespace either app (wrongly) gives it.
  const role = (namespace?: string): KubeObject => ({
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    metadata: { name: "viewer", ...(namespace ? { namespace } : {}) },
  });
  assert.equal(
    checkOwnership(
      rendering([
        { name: "a", namespace: "a", objects: [role("a")] },
        { name: "b", namespace: "b", objects: [role()] },
      ]),
      scopeOf,
    ).length,
    2,
  );
});

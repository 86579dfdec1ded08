/**
 * Every namespace an object lands in is created by some Application (a Namespace object in a
 * render, or an Application with `CreateNamespace=true` for its destination), or is one the
 * cluster has from the start.
 *
 * @module
 */

import { type Finding, refOf, type Rendering } from "../render/model.ts";
import { namespaceOf, type ScopeOf } from "./scope.ts";

/** The namespaces every cluster has. */
const BUILTIN_NAMESPACES = ["default", "kube-system", "kube-public", "kube-node-lease"];

/** The namespaces the rendering creates, by name → the app that creates it. */
function createdNamespaces(rendering: Rendering): Map<string, string> {
  const created = new Map<string, string>();
  for (const app of rendering.apps) {
    for (const o of app.objects) {
      if (o.kind === "Namespace" && o.apiVersion === "v1" && !created.has(o.metadata.name)) {
        created.set(o.metadata.name, app.app.name);
      }
    }
    if (app.app.syncOptions.includes("CreateNamespace=true") && app.app.namespace && !created.has(app.app.namespace)) {
      created.set(app.app.namespace, app.app.name);
    }
  }
  return created;
}

/** One finding per object in a namespace nothing creates. */
export function checkNamespaces(rendering: Rendering, scopeOf: ScopeOf): Finding[] {
  const created = createdNamespaces(rendering);
  const findings: Finding[] = [];
  for (const app of rendering.apps) {
    for (const o of app.objects) {
      const ns = namespaceOf(o, app.app, scopeOf);
      if (!ns || BUILTIN_NAMESPACES.includes(ns) || created.has(ns)) continue;
      findings.push({
        app: app.app.name,
        check: "namespace",
        severity: "error",
        object: refOf(o),
        message: `lands in namespace '${ns}', which no Application creates: Argo CD would fail to sync it. ` +
          `Add a Namespace '${ns}' to a component (usually ${app.app.path}/namespace.yaml), or put the object ` +
          "into an existing namespace",
      });
    }
  }
  return findings;
}

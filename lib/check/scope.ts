/**
 * Where an object lands: its namespace as Argo CD applies it (a namespaced object without one
 * goes to the Application's destination namespace).
 *
 * @module
 */

import type { AppSpec, KubeObject } from "../render/model.ts";

/** Whether a kind is namespaced; undefined for a kind no schema knows. */
export type ScopeOf = (apiVersion: string, kind: string) => boolean | undefined;

/** The namespace `o` lands in when `app` applies it; undefined for cluster-scoped objects. */
export function namespaceOf(o: KubeObject, app: AppSpec | undefined, scopeOf: ScopeOf): string | undefined {
  const namespaced = scopeOf(o.apiVersion, o.kind);
  if (namespaced === false) return undefined;
  if (o.metadata.namespace) return o.metadata.namespace;
  return namespaced ? app?.namespace || undefined : undefined;
}

/** The API group of an apiVersion (`""` for the core group). */
export function groupOf(apiVersion: string): string {
  const i = apiVersion.lastIndexOf("/");
  return i < 0 ? "" : apiVersion.slice(0, i);
}

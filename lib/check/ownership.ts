/**
 * No object is managed by two Applications: Argo CD would flip it between them on every sync
 * (and report a SharedResourceWarning).
 *
 * @module
 */

import { type Finding, type ObjectRef, refOf, type Rendering, showRef } from "../render/model.ts";
import { groupOf, namespaceOf, type ScopeOf } from "./scope.ts";

/** One finding per object (and app) that another app also renders. */
export function checkOwnership(rendering: Rendering, scopeOf: ScopeOf): Finding[] {
  const owners = new Map<string, { ref: ObjectRef; apps: string[] }>();
  for (const app of rendering.apps) {
    for (const o of app.objects) {
      const ns = namespaceOf(o, app.app, scopeOf);
      const key = `${groupOf(o.apiVersion)}|${o.kind}|${ns ?? ""}|${o.metadata.name}`;
      const entry = owners.get(key) ?? { ref: { ...refOf(o), ...(ns ? { namespace: ns } : {}) }, apps: [] };
      if (!entry.apps.includes(app.app.name)) entry.apps.push(app.app.name);
      owners.set(key, entry);
    }
  }
  const findings: Finding[] = [];
  for (const { ref, apps } of owners.values()) {
    if (apps.length < 2) continue;
    for (const app of apps) {
      findings.push({
        app,
        check: "ownership",
        severity: "error",
        object: ref,
        message: `${showRef(ref)} is also rendered by ${apps.filter((a) => a !== app).join(", ")}: two Applications ` +
          "would fight over it. Keep it in one component and remove it from the other (for a chart, a values " +
          "switch or a kustomize patch with `$patch: delete`)",
      });
    }
  }
  return findings;
}

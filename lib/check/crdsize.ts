/**
 * A CRD over 256 KiB cannot be applied client-side: kubectl keeps the whole object in the
 * `last-applied-configuration` annotation, and annotations are limited to 256 KiB. Such CRDs
 * need a server-side apply: `ServerSideApply=true` on their Application (or on the CRD), and no
 * `Replace=true`.
 *
 * @module
 */

import { appliedServerSide, type Finding, refOf, type RenderedApp } from "../render/model.ts";

/** The annotation size limit of the API server. */
const ANNOTATION_LIMIT = 256 * 1024;

/** The CRD-size findings of one app. */
export function checkCrdSizes(app: RenderedApp): Finding[] {
  const findings: Finding[] = [];
  for (const o of app.objects) {
    if (o.kind !== "CustomResourceDefinition" || appliedServerSide(app.app, o)) continue;
    const size = new TextEncoder().encode(JSON.stringify(o)).length;
    if (size <= ANNOTATION_LIMIT) continue;
    findings.push({
      app: app.app.name,
      check: "crd-size",
      severity: "error",
      object: refOf(o),
      message: `is ${Math.ceil(size / 1024)} KiB, over the 256 KiB a client-side apply can store in its ` +
        "last-applied annotation: set serverSideApply: true for this component in root/components.json",
    });
  }
  return findings;
}

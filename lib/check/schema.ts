/**
 * The schema check: every rendered object (and the root app's) validated strictly against its
 * kind's schema. An unknown kind is an error, not a skip: the API server would refuse it.
 *
 * @module
 */

import { type Finding, type KubeObject, refOf, type Rendering } from "../render/model.ts";
import { groupOf } from "./scope.ts";
import type { Validator } from "./validator.ts";

async function checkObject(app: string, o: KubeObject, validator: Validator, findings: Finding[]): Promise<void> {
  const result = await validator.validate(o);
  const object = typeof o.kind === "string" && o.metadata?.name ? refOf(o) : undefined;
  if (!result.known) {
    const group = groupOf(String(o.apiVersion ?? ""));
    const versions = validator.versionsOf(group, String(o.kind ?? ""));
    const builtin = validator.kube.apiVersionsOf(group, String(o.kind ?? ""));
    findings.push({
      app,
      check: "schema",
      severity: "error",
      object,
      message: result.errors.length
        ? result.errors.join("; ")
        : builtin.length
        ? `apiVersion ${o.apiVersion} of ${o.kind} is not served by Kubernetes v${validator.kube.version}: use ` +
          builtin.join(" or ")
        : versions.length
        ? `unknown version: ${o.kind} of ${group} is served as ${versions.join(", ")}, not ${o.apiVersion}`
        : `unknown kind ${o.kind} (apiVersion ${o.apiVersion}): neither Kubernetes v${validator.kube.version} nor ` +
          "a CRD in this render or schemas/runtime-crds.yaml defines it. Fix the apiVersion/kind, or add the " +
          "component that installs the CRD (an operator's run-time CRDs go into schemas/runtime-crds.yaml)",
    });
    return;
  }
  for (const e of result.errors) findings.push({ app, check: "schema", severity: "error", object, message: e });
}

/** The schema findings of a rendering (the root app's objects under `root`). */
export async function checkSchemas(rendering: Rendering, validator: Validator): Promise<Finding[]> {
  const findings: Finding[] = [];
  for (const o of rendering.root) await checkObject("root", o, validator, findings);
  for (const app of rendering.apps) {
    for (const o of app.objects) await checkObject(app.app.name, o, validator, findings);
  }
  return findings;
}

/**
 * Where rendered objects carry pods: a Pod itself, the pod template of a workload
 * (Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job), a CronJob's job
 * template, and the pod templates of operator resources we know (Piraeus' satellite
 * configuration patches pods, so it has none of its own). Shared by the Pod Security and the
 * image checks.
 *
 * @module
 */

import type { KubeObject } from "../render/model.ts";

/** One pod (template) of an object. */
export interface PodTemplate {
  /** Where in the object: `spec.template`, `spec.jobTemplate.spec.template`, or `` for a Pod. */
  readonly at: string;
  readonly metadata: Record<string, unknown>;
  readonly spec: Record<string, unknown>;
}

const TEMPLATED = new Set(["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"]);

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return v && typeof v === "object" && !Array.isArray(v) ? v as Record<string, unknown> : undefined;
}

/** The pod templates of an object (none for objects that carry no pod). */
export function podTemplates(o: KubeObject): PodTemplate[] {
  const spec = asRecord(o.spec);
  if (!spec) return [];
  const group = o.apiVersion.includes("/") ? o.apiVersion.split("/")[0] : "";
  const builtin = group === "" || group === "apps" || group === "batch";
  if (builtin && o.kind === "Pod") return [{ at: "", metadata: { ...o.metadata }, spec }];
  if (builtin && TEMPLATED.has(o.kind)) {
    const t = asRecord(spec.template);
    return t && asRecord(t.spec)
      ? [{ at: "spec.template", metadata: asRecord(t.metadata) ?? {}, spec: asRecord(t.spec)! }]
      : [];
  }
  if (builtin && o.kind === "CronJob") {
    const t = asRecord(asRecord(asRecord(spec.jobTemplate)?.spec)?.template);
    return t && asRecord(t.spec)
      ? [{ at: "spec.jobTemplate.spec.template", metadata: asRecord(t.metadata) ?? {}, spec: asRecord(t.spec)! }]
      : [];
  }
  return [];
}

/** Every container of a pod spec (init, regular, ephemeral) with the field it sits in. */
export function containersOf(spec: Record<string, unknown>): { field: string; container: Record<string, unknown> }[] {
  const out: { field: string; container: Record<string, unknown> }[] = [];
  for (const field of ["initContainers", "containers", "ephemeralContainers"]) {
    const list = spec[field];
    if (!Array.isArray(list)) continue;
    for (const c of list) if (asRecord(c)) out.push({ field, container: c });
  }
  return out;
}

/**
 * Pod Security: every pod (template) evaluated with the upstream policy code
 * (`k8s.io/pod-security-admission/policy`, through the pinned `psa` tool built from
 * tools/go/psa) at the level its namespace enforces: the namespace's
 * `pod-security.kubernetes.io/enforce` label, else the cluster's default from the admission
 * configuration Talos runs. Namespaces the configuration exempts are skipped.
 *
 * @module
 */

import { cmd, type Runner } from "../cmd.ts";
import { HomelabError } from "../errors.ts";
import { type Finding, refOf, type Rendering } from "../render/model.ts";
import type { PodSecurityConfiguration } from "../talos/admission.ts";
import { podTemplates } from "./pods.ts";
import { namespaceOf, type ScopeOf } from "./scope.ts";

/** One pod for `psa` to evaluate. */
export interface PsaRequest {
  readonly id: string;
  readonly level: string;
  readonly version: string;
  readonly metadata: Record<string, unknown>;
  readonly spec: Record<string, unknown>;
}

/** `psa`'s verdict on one pod. */
export interface PsaVerdict {
  readonly id: string;
  readonly allowed: boolean;
  readonly forbidden: readonly { readonly reason: string; readonly detail?: string }[];
  /** The admission plugin's wording: `violates PodSecurity "restricted:latest": …`. */
  readonly message?: string;
}

/** Evaluates pods (the `psa` tool, or a stand-in in unit tests). */
export type PsaEvaluator = (requests: readonly PsaRequest[]) => Promise<PsaVerdict[]>;

/** The pinned `psa` tool: one run for all pods, JSON in and out. */
export function psaTool(runner: Runner): PsaEvaluator {
  return async (requests) => {
    if (!requests.length) return [];
    const out = await runner.output(cmd("psa", [], { stdin: JSON.stringify(requests), readOnly: true }));
    const verdicts = JSON.parse(out) as PsaVerdict[];
    if (!Array.isArray(verdicts) || verdicts.length !== requests.length) {
      throw new HomelabError(`psa answered ${verdicts.length} verdicts for ${requests.length} pods`);
    }
    return verdicts;
  };
}

const ENFORCE = "pod-security.kubernetes.io/enforce";
const ENFORCE_VERSION = "pod-security.kubernetes.io/enforce-version";
const LEVELS = ["privileged", "baseline", "restricted"];

/** The Pod Security findings of a rendering. */
export async function checkPodSecurity(
  rendering: Rendering,
  config: PodSecurityConfiguration,
  scopeOf: ScopeOf,
  evaluate: PsaEvaluator,
): Promise<Finding[]> {
  const findings: Finding[] = [];
  // The level of each namespace the render creates.
  const namespaces = new Map<string, { level: string; version: string; by: string }>();
  for (const app of rendering.apps) {
    for (const o of app.objects) {
      if (o.kind !== "Namespace" || o.apiVersion !== "v1") continue;
      const labels = o.metadata.labels ?? {};
      const level = labels[ENFORCE];
      if (level !== undefined && !LEVELS.includes(level)) {
        findings.push({
          app: app.app.name,
          check: "pod-security",
          severity: "error",
          object: refOf(o),
          message: `label ${ENFORCE}: '${level}' is not one of ${LEVELS.join(", ")}`,
        });
        continue;
      }
      namespaces.set(o.metadata.name, {
        level: level ?? config.defaults.enforce,
        version: labels[ENFORCE_VERSION] ?? (level ? "latest" : config.defaults["enforce-version"]),
        by: level
          ? `namespace ${o.metadata.name} enforces '${level}'`
          : `the cluster default '${config.defaults.enforce}'`,
      });
    }
  }

  const requests: PsaRequest[] = [];
  const about: { app: string; object: ReturnType<typeof refOf>; at: string; by: string }[] = [];
  for (const app of rendering.apps) {
    for (const o of app.objects) {
      const pods = podTemplates(o);
      if (!pods.length) continue;
      const ns = namespaceOf(o, app.app, scopeOf) ?? "default";
      if (config.exemptions.namespaces.includes(ns)) continue;
      const nsLevel = namespaces.get(ns) ??
        {
          level: config.defaults.enforce,
          version: config.defaults["enforce-version"],
          by: `the cluster default '${config.defaults.enforce}'`,
        };
      for (const pod of pods) {
        if (
          typeof pod.spec.runtimeClassName === "string" &&
          config.exemptions.runtimeClasses.includes(pod.spec.runtimeClassName)
        ) {
          continue;
        }
        if (nsLevel.level === "privileged") continue;
        requests.push({
          id: String(requests.length),
          level: nsLevel.level,
          version: nsLevel.version,
          metadata: pod.metadata,
          spec: pod.spec,
        });
        about.push({ app: app.app.name, object: refOf(o), at: pod.at, by: nsLevel.by });
      }
    }
  }
  const verdicts = await evaluate(requests);
  for (const [i, v] of verdicts.entries()) {
    if (v.allowed) continue;
    const a = about[i];
    findings.push({
      app: a.app,
      check: "pod-security",
      severity: "error",
      object: a.object,
      message: `${a.at ? `${a.at}: ` : ""}${v.message ?? "violates PodSecurity"} (${a.by}; the API server would ` +
        `reject its pods: fix the securityContext, or give the namespace a lower level with a comment why)`,
    });
  }
  return findings;
}

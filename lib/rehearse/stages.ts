/**
 * The status that controllers which do not run on the local control plane would set, simulated by
 * kwok Stages kept as data in `rehearse/stages/`, and the kinds whose health Argo CD judges but no
 * Stage (and no controller that runs here) brings about: those a rehearsal must report instead of
 * passing them silently.
 *
 * ```ts
 * const stages = await loadStages("rehearse/stages");
 * const checks = await loadHealthChecks("rehearse/argocd-health.yaml");
 * unsimulated([{ group: "cert-manager.io", kind: "Certificate" }, { group: "kubevirt.io", kind: "VirtualMachine" }], stages, checks);
 * // → [{ group: "kubevirt.io", kind: "VirtualMachine" }]
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { parseAllDocuments, parseDocument } from "yaml";
import { InputError } from "../errors.ts";

/** An API group (`""` for the core group) and a kind. */
export interface GroupKind {
  readonly group: string;
  readonly kind: string;
}

/** The Stage files of a folder and the kinds they act on. */
export interface Stages {
  /** Absolute or folder-relative paths of the Stage files, sorted. */
  readonly files: readonly string[];
  /** The kinds at least one Stage acts on. */
  readonly kinds: readonly GroupKind[];
}

/** Argo CD's built-in health checks (see `rehearse/argocd-health.yaml`). */
export interface HealthChecks {
  /** The Argo CD release the list was taken from. */
  readonly version: string;
  /** `group/Kind` patterns (`_` matches any text within a segment) of kinds with a built-in check. */
  readonly judged: readonly string[];
  /** `group/Kind` of kinds the local control plane's own controllers bring to health. */
  readonly controllers: readonly string[];
}

/** `group/Kind`, the way Argo CD names a kind (`/Service` for the core group). */
export function groupKindKey(gk: GroupKind): string {
  return `${gk.group}/${gk.kind}`;
}

/** The group of a Stage's `resourceRef.apiGroup`, which is a group/version (`v1` is the core group). */
function groupOf(apiGroup: string): string {
  return apiGroup.includes("/") ? apiGroup.slice(0, apiGroup.lastIndexOf("/")) : "";
}

/** The kinds the Stages in `text` (one YAML file, any number of documents) act on. */
export function stageKinds(text: string, file: string): GroupKind[] {
  const out: GroupKind[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) {
      const e = doc.errors[0];
      throw new InputError(`${file} is not valid YAML: ${e.message.split("\n")[0]}`, {
        file,
        line: e.linePos?.[0].line,
        hint: "fix the YAML syntax at that line",
      });
    }
    const o = doc.toJS() as {
      apiVersion?: string;
      kind?: string;
      spec?: { resourceRef?: { apiGroup?: string; kind?: string } };
    } | null;
    if (o === null) continue;
    const ref = o.spec?.resourceRef;
    if (o.apiVersion !== "kwok.x-k8s.io/v1alpha1" || o.kind !== "Stage" || !ref?.kind) {
      throw new InputError(
        `${file} holds a document that is not a kwok Stage with spec.resourceRef.kind ` +
          `(apiVersion ${o.apiVersion ?? "missing"}, kind ${o.kind ?? "missing"})`,
        { file, hint: "each document in rehearse/stages/ must be a kwok.x-k8s.io/v1alpha1 Stage" },
      );
    }
    out.push({ group: groupOf(ref.apiGroup ?? "v1"), kind: ref.kind });
  }
  return out;
}

/** Reads every `*.yaml` file of `dir` as kwok Stages. */
export async function loadStages(dir: string): Promise<Stages> {
  const files: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && e.name.endsWith(".yaml")) files.push(join(dir, e.name));
  }
  files.sort();
  const kinds = new Map<string, GroupKind>();
  for (const f of files) {
    for (const gk of stageKinds(await Deno.readTextFile(f), f)) kinds.set(groupKindKey(gk), gk);
  }
  return { files, kinds: [...kinds.values()] };
}

/** Parses `rehearse/argocd-health.yaml`. */
export function parseHealthChecks(text: string, file: string): HealthChecks {
  const doc = parseDocument(text);
  if (doc.errors.length) {
    throw new InputError(`${file} is not valid YAML: ${doc.errors[0].message.split("\n")[0]}`, { file });
  }
  const o = doc.toJS() as { version?: unknown; go?: unknown; lua?: unknown; controllers?: unknown } | null;
  const list = (key: "go" | "lua" | "controllers"): string[] => {
    const v = o?.[key];
    if (!Array.isArray(v) || !v.every((x) => typeof x === "string" && x.includes("/"))) {
      throw new InputError(`${file}: \`${key}\` must be a list of group/Kind strings`, {
        file,
        hint: "write each kind as group/Kind, with an empty group for the core group (/Service)",
      });
    }
    return v;
  };
  if (typeof o?.version !== "string") {
    throw new InputError(`${file}: \`version\` (the Argo CD release the list comes from) is missing`, { file });
  }
  return { version: o.version, judged: [...list("go"), ...list("lua")], controllers: list("controllers") };
}

/** Reads `rehearse/argocd-health.yaml`. */
export async function loadHealthChecks(path: string): Promise<HealthChecks> {
  return parseHealthChecks(await Deno.readTextFile(path), path);
}

/** Whether `key` (`group/Kind`) matches an Argo CD pattern, where `_` stands for any text but `/`. */
function matches(pattern: string, key: string): boolean {
  if (!pattern.includes("_")) return pattern === key;
  const re = pattern.split("_").map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("[^/]*");
  return new RegExp(`^${re}$`).test(key);
}

/**
 * The kinds among `kinds` (those of a rendering's objects) whose health Argo CD judges with a built-in check
 * but that neither a Stage nor a controller of the local control plane brings to health, sorted
 * and without duplicates.
 */
export function unsimulated(
  kinds: Iterable<GroupKind>,
  stages: Pick<Stages, "kinds">,
  checks: HealthChecks,
): GroupKind[] {
  const covered = new Set([...stages.kinds.map(groupKindKey), ...checks.controllers]);
  const out = new Map<string, GroupKind>();
  for (const gk of kinds) {
    const key = groupKindKey(gk);
    if (covered.has(key)) continue;
    if (checks.judged.some((p) => matches(p, key))) out.set(key, gk);
  }
  return [...out.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, gk]) => gk);
}

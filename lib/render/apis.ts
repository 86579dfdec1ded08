/**
 * The API versions a chart sees as `.Capabilities.APIVersions`, as Argo CD gives them.
 *
 * Argo CD's repo-server builds a kustomize source with `--helm-kube-version` and one
 * `--helm-api-versions` per entry of its destination cluster's API set: `group/version` and
 * `group/version/Kind` of every resource the cluster serves that can be listed and watched, sorted
 * (the application controller's `APIResourcesToStrings` over its cluster cache; kustomize 5.8.1
 * hands each to `helm template --api-versions`). Charts use it to emit a ServiceMonitor, a
 * GatewayClass or a PodDisruptionBudget only "when the API exists".
 *
 * render passes the set the cluster serves once this tree is synced:
 *
 * - the built-in APIs of the pinned kube-apiserver: its discovery, read once from a local control
 *   plane and cached per version (`<cacheDir>/schemas/discovery/v<version>.json`), like the schemas;
 * - the served versions of every CRD in the rendering of the whole tree;
 * - the run-time CRDs of `schemas/runtime-crds.yaml` (an operator installs them).
 *
 * The CRDs come from the rendering, whose charts may depend on them. A synced cluster is at a
 * fixed point: the tree rendered with set S yields CRDs C, and S = built-ins + run-time + C. The
 * pipeline renders with the CRDs of the previous render of the same environment (kept in the
 * render cache) and renders again, only the apps whose charts read the set, until the CRDs it
 * rendered are the ones it assumed (usually at once: the CRDs rarely change). Only apps whose charts
 * read `.Capabilities.APIVersions` (`chartReadsApiVersions` in build.ts) get the set, and it is in their
 * render cache key; any other app's output cannot depend on it.
 *
 * @module
 */

import { join } from "node:path";
import type { Runner } from "../cmd.ts";
import { HomelabError } from "../errors.ts";
import type { ApiResource } from "../kube/client.ts";
import { toolSpec } from "../tools.ts";
import type { KubeObject } from "./model.ts";
import { writeAtomic } from "../files.ts";

/** A served group, version and kind. */
export interface ServedKind {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
}

function strings(kinds: readonly ServedKind[]): string[] {
  const out = new Set<string>();
  for (const k of kinds) {
    const gv = k.group ? `${k.group}/${k.version}` : k.version;
    out.add(gv);
    out.add(`${gv}/${k.kind}`);
  }
  return [...out];
}

/** The set as Argo CD passes it: `group/version` and `group/version/Kind`, each once, sorted. */
export function apiVersionSet(...parts: readonly (readonly ServedKind[])[]): string[] {
  return [...new Set(parts.flatMap((p) => strings(p)))].sort();
}

/** The resources of a discovery that Argo CD counts: those one can list and watch. */
export function discoveredKinds(resources: readonly ApiResource[]): ServedKind[] {
  return resources
    .filter((r) => r.verbs.includes("list") && r.verbs.includes("watch"))
    .map((r) => {
      const i = r.groupVersion.lastIndexOf("/");
      return {
        group: i < 0 ? "" : r.groupVersion.slice(0, i),
        version: i < 0 ? r.groupVersion : r.groupVersion.slice(i + 1),
        kind: r.kind,
      };
    });
}

/** The served versions of the CustomResourceDefinitions among `objects`. */
export function crdKinds(objects: readonly KubeObject[]): ServedKind[] {
  const out: ServedKind[] = [];
  for (const o of objects) {
    if (o.kind !== "CustomResourceDefinition" || !o.apiVersion.startsWith("apiextensions.k8s.io/")) continue;
    const spec = (o.spec ?? {}) as { group?: string; names?: { kind?: string }; versions?: unknown };
    if (!spec.group || !spec.names?.kind || !Array.isArray(spec.versions)) continue;
    for (const v of spec.versions as { name?: string; served?: boolean }[]) {
      if (v?.name && v.served !== false) out.push({ group: spec.group, version: v.name, kind: spec.names.kind });
    }
  }
  return out;
}

/** Where the built-in kinds of Kubernetes `version` are cached. */
function discoveryFile(cacheDir: string, version: string): string {
  return join(cacheDir, "schemas", "discovery", `v${version.replace(/^v/, "")}.json`);
}

/**
 * The built-in kinds the pinned kube-apiserver of `version` serves, from the cache or, once, from
 * the discovery of a local control plane (started and stopped here).
 */
export async function builtinKinds(runner: Runner, cacheDir: string, version: string): Promise<ServedKind[]> {
  const v = version.replace(/^v/, "");
  const file = discoveryFile(cacheDir, v);
  try {
    return JSON.parse(await Deno.readTextFile(file)) as ServedKind[];
  } catch {
    // not cached yet
  }
  const pinned = toolSpec("kube-apiserver")?.version;
  if (pinned !== v) {
    throw new HomelabError(
      `the API versions of Kubernetes v${v} come from its kube-apiserver, but this repository builds v${pinned}`,
      { hint: "keep kubernetesVersion in talos/talconfig.yaml and the kubernetes pin in lib/tools.ts equal" },
    );
  }
  const { startControlPlane } = await import("../kube/controlplane.ts");
  const cp = await startControlPlane(runner);
  let kinds: ServedKind[];
  try {
    kinds = discoveredKinds(await cp.client.resources());
  } finally {
    await cp.stop();
  }
  if (!kinds.length) throw new HomelabError(`the local kube-apiserver v${v} reported no resources`);
  await Deno.mkdir(join(file, ".."), { recursive: true });
  await writeAtomic(file, JSON.stringify(kinds) + "\n");
  return kinds;
}

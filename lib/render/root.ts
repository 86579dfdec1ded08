/**
 * The root app: `root/main.jsonnet` evaluated as Argo CD's directory source does (the TLAs
 * `env`, `repoURL`, `revision`), and the {@link AppSpec} of each Application it returns.
 *
 * @module
 */

import type { Runner } from "../cmd.ts";
import { InputError } from "../errors.ts";
import { renderRoot } from "../stacks.ts";
import type { AppSpec, Env, IgnoreDifference, KubeObject } from "./model.ts";

/** The root app's output for `env`: AppProjects and Applications. */
export async function evaluateRoot(runner: Runner, repoRoot: string, env: Env): Promise<KubeObject[]> {
  const out = await renderRoot(runner, repoRoot, { env });
  if (!Array.isArray(out)) {
    throw new InputError("does not return a list of objects", { file: "root/main.jsonnet" });
  }
  return out as unknown as KubeObject[];
}

/** The Applications among the root app's objects, as {@link AppSpec}s (in the root's order). */
export function appSpecs(root: readonly KubeObject[]): AppSpec[] {
  return root.filter((o) => o.kind === "Application").map((application) => {
    const spec = (application.spec ?? {}) as {
      source?: { path?: string };
      destination?: { namespace?: string };
      syncPolicy?: { syncOptions?: string[] };
      ignoreDifferences?: IgnoreDifference[];
    };
    const path = spec.source?.path;
    if (!path) {
      throw new InputError(`Application ${application.metadata.name} has no spec.source.path`, {
        file: "root/main.jsonnet",
      });
    }
    return {
      name: application.metadata.name,
      path: path.replace(/^\.\//, "").replace(/\/$/, ""),
      namespace: spec.destination?.namespace ?? "",
      syncOptions: spec.syncPolicy?.syncOptions ?? [],
      ignoreDifferences: spec.ignoreDifferences ?? [],
      application,
    };
  });
}

/**
 * The root app: `root/main.jsonnet` evaluated as Argo CD's directory source does (the TLAs
 * `env`, `repoURL`, `revision`), and the {@link AppSpec} of each Application it returns.
 *
 * @module
 */

import { join } from "node:path";
import { cmd, type Runner } from "../cmd.ts";
import { InputError } from "../errors.ts";
import type { AppSpec, Env, IgnoreDifference, KubeObject } from "./model.ts";

/** An Argo CD resource as the root app returns it. */
export interface ArgoResource {
  readonly kind: "AppProject" | "Application";
  readonly metadata: { readonly name: string; readonly annotations?: Record<string, string> };
  readonly spec: {
    readonly project?: string;
    readonly source?: { readonly path: string; readonly repoURL: string; readonly targetRevision: string };
    readonly destination?: { readonly namespace: string };
    readonly syncPolicy?: {
      readonly automated?: { prune?: boolean; selfHeal?: boolean };
      readonly syncOptions?: string[];
    };
  };
}

/** Evaluates `root/main.jsonnet` with go-jsonnet, as Argo CD's directory source does. */
export async function renderRoot(
  runner: Runner,
  root: string,
  tlas: { env: "prod" | "dev"; repoURL?: string; revision?: string },
): Promise<ArgoResource[]> {
  const args = ["--tla-str", `env=${tlas.env}`];
  if (tlas.repoURL) args.push("--tla-str", `repoURL=${tlas.repoURL}`);
  if (tlas.revision) args.push("--tla-str", `revision=${tlas.revision}`);
  const out = await runner.output(
    cmd("jsonnet", [...args, "main.jsonnet"], { cwd: join(root, "root"), readOnly: true }),
  );
  return JSON.parse(out) as ArgoResource[];
}

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

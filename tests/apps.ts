/**
 * Small renderings for unit tests: an Application's spec as the root app makes it, an app's build
 * result, and a rendering of such apps.
 *
 * ```ts
 * renderingOf([renderedApp("web", [configMap]), renderedApp("db", [], { error: "boom" })]);
 * ```
 * @module
 */

import type { AppSpec, KubeObject, RenderedApp, Rendering } from "../lib/render/model.ts";
import type { PodSecurityConfiguration } from "../lib/talos/admission.ts";

/** What differs between the test apps: by default namespace = name and path = `system/<name>`. */
export interface AppOptions {
  readonly namespace?: string;
  readonly path?: string;
  readonly syncOptions?: string[];
  /** The build failed with this message. */
  readonly error?: string;
}

/** The spec of Application `name`. */
export function appSpec(name: string, options: AppOptions = {}): AppSpec {
  return {
    name,
    path: options.path ?? `system/${name}`,
    namespace: options.namespace ?? name,
    syncOptions: options.syncOptions ?? [],
    ignoreDifferences: [],
    application: { apiVersion: "argoproj.io/v1alpha1", kind: "Application", metadata: { name } },
  };
}

/** App `name` built into `objects` (or failed, with `options.error`). */
export function renderedApp(name: string, objects: KubeObject[] = [], options: AppOptions = {}): RenderedApp {
  return {
    app: appSpec(name, options),
    objects,
    ...(options.error ? { error: options.error } : {}),
    secrets: "digest",
    cached: false,
  };
}

/** A rendering of `apps` for an environment, with an empty root app. */
export function renderingOf(apps: RenderedApp[], env: "prod" | "dev" = "prod"): Rendering {
  return { env, root: [], apps };
}

/** The cluster's Pod Security configuration as talhelper generates it today (check_admission_test proves that). */
export const RESTRICTED: PodSecurityConfiguration = {
  apiVersion: "pod-security.admission.config.k8s.io/v1",
  kind: "PodSecurityConfiguration",
  defaults: {
    enforce: "restricted",
    "enforce-version": "latest",
    audit: "restricted",
    "audit-version": "latest",
    warn: "restricted",
    "warn-version": "latest",
  },
  exemptions: { namespaces: ["kube-system"], runtimeClasses: [], usernames: [] },
};

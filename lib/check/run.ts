/**
 * `deno task check`: render every Application (the render pipeline), then run every check over
 * the rendering and return the findings.
 *
 * ```ts
 * const { findings } = await runCheck(config, { env: "prod" }, ui);
 * findings.filter((f) => f.severity === "error").length; // 0 when the tree is fine
 * ```
 *
 * @module
 */

import { join } from "node:path";
import type { Config } from "../config.ts";
import type { Env, Finding, KubeObject, Rendering } from "../render/model.ts";
import { type RenderTools, renderWith } from "../render/pipeline.ts";
import type { PodSecurityConfiguration } from "../talos/admission.ts";
import type { Ui } from "../ui.ts";
import { checkAddresses } from "./addresses.ts";
import { admissionConfig } from "./admission.ts";
import { checkComponents } from "./components.ts";
import { checkCrdSizes } from "./crdsize.ts";
import { checkImages } from "./images.ts";
import { apiServerSource, KubernetesSchemas, type SchemaSource } from "./kubeschemas.ts";
import { checkNamespaces } from "./namespaces.ts";
import { checkOwnership } from "./ownership.ts";
import { checkPodSecurity, type PsaEvaluator, psaTool } from "./podsecurity.ts";
import { checkReferences } from "./references.ts";
import { checkWaveOrder } from "./waves.ts";
import { loadRuntimeCrds, readRuntimeCrdSources, runtimeCrdDrift, runtimeCrdObjects } from "./runtimecrds.ts";
import { mergeFindings, serverFindings } from "./server.ts";
import { checkSchemas } from "./schema.ts";
import { checkSecrets } from "./secrets.ts";
import { checkStability } from "./stability.ts";
import { checkStackFiles } from "./stacks.ts";
import { type CrdVersion, crdVersions, Validator } from "./validator.ts";

/** What to check. */
export interface CheckOptions {
  readonly env: Env;
  /** Report only these Applications (all are rendered: references cross apps). */
  readonly apps?: readonly string[];
  /** Charts, manifests and schemas only from the caches. */
  readonly offline?: boolean;
  /** Where Kubernetes' OpenAPI documents come from when the schema cache lacks them. */
  readonly schemaSource?: SchemaSource;
  /** Pod evaluation (the `psa` tool by default). */
  readonly psa?: PsaEvaluator;
  /**
   * Then let a local API server judge every object too (server-side dry-run, strict fields,
   * CRD schemas with CEL, Pod Security admission as Talos configures it).
   */
  readonly server?: boolean;
}

/** What a check found. */
export interface CheckResult {
  readonly rendering: Rendering;
  readonly findings: readonly Finding[];
  /** The apps reported on, in order (the rendering's, then `root` and `cluster`). */
  readonly apps: readonly string[];
}

/** What {@link checkRendering} needs besides the rendering. */
export interface CheckDeps {
  readonly validator: Validator;
  /** The cluster's Pod Security configuration ({@link podSecurityConfig}). */
  readonly podSecurity: PodSecurityConfiguration;
  readonly psa: PsaEvaluator;
}

/** Findings that may only follow from another app's failed build (its CRDs, namespaces, targets are missing). */
function consequence(f: Finding): boolean {
  return f.check === "namespace" || f.check === "reference" || f.check === "address" ||
    (f.check === "schema" && /^unknown (kind|version)/.test(f.message));
}

/**
 * Every check that looks only at the rendering: build failures, schemas, Pod Security,
 * stability, images, plaintext Secrets, CRD sizes, namespaces, ownership, references and
 * LoadBalancer addresses. While some app failed to build, what may only be a consequence of that
 * (a kind, namespace or target the failed app would have created) is a warning.
 */
export async function checkRendering(rendering: Rendering, deps: CheckDeps): Promise<Finding[]> {
  const findings: Finding[] = [];
  for (const app of rendering.apps) {
    if (app.error) findings.push({ app: app.app.name, check: "build", severity: "error", message: app.error });
  }
  findings.push(...await checkSchemas(rendering, deps.validator));
  const scopeOf = (apiVersion: string, kind: string) => deps.validator.scopeOf(apiVersion, kind);
  findings.push(...await checkPodSecurity(rendering, deps.podSecurity, scopeOf, deps.psa));
  for (const app of rendering.apps) {
    findings.push(...checkStability(app), ...checkImages(app), ...checkSecrets(app), ...checkCrdSizes(app));
  }
  findings.push(
    ...checkNamespaces(rendering, scopeOf),
    ...checkOwnership(rendering, scopeOf),
    ...checkReferences(rendering, scopeOf),
    ...checkWaveOrder(rendering, scopeOf),
    ...checkAddresses(rendering),
  );
  // Objects that rely on the destination namespace are named with it, as they land.
  const destination = new Map(rendering.apps.map((a) => [a.app.name, a.app.namespace]));
  const named = findings.map((f) =>
    f.object && !f.object.namespace && scopeOf(f.object.apiVersion, f.object.kind) && destination.get(f.app)
      ? { ...f, object: { ...f.object, namespace: destination.get(f.app) } }
      : f
  );
  const failed = rendering.apps.filter((a) => a.error).map((a) => a.app.name);
  if (!failed.length) return named;
  return named.map((f) =>
    consequence(f)
      ? {
        ...f,
        severity: "warning",
        message: `${f.message} (perhaps only because ${failed.join(", ")} failed to build)`,
      }
      : f
  );
}

/** Renders and checks; see the module documentation. */
export function runCheck(config: Config, options: CheckOptions, ui: Ui): Promise<CheckResult> {
  return renderWith(
    config,
    { env: options.env, offline: options.offline, apps: options.apps, every: true },
    ui,
    (rendering, tools) => checkRendered(config, options, ui, rendering, tools),
  );
}

/** Every check over a rendering, with the tools its render set up. */
async function checkRendered(
  config: Config,
  options: CheckOptions,
  ui: Ui,
  rendering: Rendering,
  { runner, charts, kubeVersion }: RenderTools,
): Promise<CheckResult> {
  const repoRoot = config.repoRoot;
  const findings: Finding[] = [];

  // Schemas: Kubernetes' own, the render's CRDs, the pinned run-time CRDs.
  const kube = await KubernetesSchemas.open(
    config.cacheDir,
    kubeVersion.replace(/^v/, ""),
    options.schemaSource ?? apiServerSource(runner),
  );
  const crds: CrdVersion[] = rendering.apps.flatMap((a) =>
    a.objects.filter((o) => o.kind === "CustomResourceDefinition").flatMap((o) => crdVersions(o, a.app.name))
  );
  const sources = await readRuntimeCrdSources(repoRoot);
  const runtime = await loadRuntimeCrds(sources, charts, config.cacheDir);
  crds.push(...runtime.crds);
  findings.push(...runtime.findings, ...await runtimeCrdDrift(repoRoot, sources));
  const runtimeObjects: KubeObject[] = options.server ? await runtimeCrdObjects(sources, charts) : [];
  const validator = new Validator(kube, crds, join(config.cacheDir, "schemas", "compiled"));
  const admission = await admissionConfig(runner, repoRoot, config.cacheDir);
  findings.push(
    ...await checkRendering(rendering, {
      validator,
      podSecurity: admission.podSecurity,
      psa: options.psa ?? psaTool(runner),
    }),
    ...await checkComponents(repoRoot, rendering),
    ...await checkStackFiles(repoRoot, rendering.apps.map((a) => a.app), (a, k) => validator.scopeOf(a, k)),
  );
  if (options.server) {
    const server = await ui.progress(
      "check --server: the local API server judges every object",
      () =>
        serverFindings(runner, rendering, {
          admission: admission.admissionConfigYaml,
          runtimeCrds: runtimeObjects,
          log: config.verbose ? (line) => ui.info(line) : undefined,
        }),
    );
    const merged = mergeFindings(findings, server);
    findings.length = 0;
    findings.push(...merged);
  }

  return { rendering, ...reportedOn(rendering, findings, options.apps) };
}

/**
 * The findings of the apps asked for (all, and `root` and `cluster`, when none are named). Every
 * app is checked against the others' output, so while another app failed to build the result
 * for a named one is incomplete: each named app then gets an `incomplete` error naming the apps
 * that failed, and the check does not pass.
 */
export function reportedOn(
  rendering: Rendering,
  findings: readonly Finding[],
  apps?: readonly string[],
): { findings: Finding[]; apps: string[] } {
  const order = [...rendering.apps.map((a) => a.app.name), "root", "cluster"];
  if (!apps?.length) return { findings: [...findings], apps: order };
  const selected = order.filter((a) => apps.includes(a));
  const failed = rendering.apps.filter((a) => a.error && !apps.includes(a.app.name)).map((a) => a.app.name);
  const incomplete: Finding[] = failed.length
    ? selected.map((app) => ({
      app,
      check: "incomplete",
      severity: "error",
      message: `the result is incomplete: ${failed.join(", ")} failed to build, and every app is checked against ` +
        "the others' output (CRDs, namespaces, reference targets), so errors may be missing here or be only " +
        `consequences; \`deno task check --app ${failed[0]}\` shows why it failed`,
    }))
    : [];
  return { findings: [...incomplete, ...findings.filter((f) => selected.includes(f.app))], apps: selected };
}

/**
 * The data the render pipeline hands between its stages: `render` builds every Application's
 * source into {@link RenderedApp}s, `check` turns them into {@link Finding}s, `diff` compares two
 * {@link Rendering}s, and bootstrap applies what `render` produced.
 *
 * @module
 */

/** The two environments the root app knows (its `env` top-level argument). */
export type Env = "prod" | "dev";

/** A Kubernetes object as rendered (parsed YAML). */
export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
    readonly [key: string]: unknown;
  };
  readonly [key: string]: unknown;
}

/** How an object is named in findings and diffs. */
export interface ObjectRef {
  /** `group/version` or `version` for the core group. */
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace?: string;
  readonly name: string;
}

/** One entry of an Application's `spec.ignoreDifferences`. */
export interface IgnoreDifference {
  readonly group?: string;
  readonly kind: string;
  readonly name?: string;
  readonly namespace?: string;
  readonly jsonPointers?: readonly string[];
  readonly jqPathExpressions?: readonly string[];
  readonly managedFieldsManagers?: readonly string[];
}

/** The Application (from the root app) that a rendered source belongs to. */
export interface AppSpec {
  /** The Application's name (= the component's name). */
  readonly name: string;
  /** The source path in the repository, e.g. `system/cilium` or `system/cilium/dev`. */
  readonly path: string;
  /** `spec.destination.namespace`. */
  readonly namespace: string;
  readonly syncOptions: readonly string[];
  readonly ignoreDifferences: readonly IgnoreDifference[];
  /** The Application object itself, as the root app returned it. */
  readonly application: KubeObject;
}

/** How secret values appear in a render. */
export type SecretMode =
  /** each value replaced by a short stable digest of its decrypted value */
  | "digest"
  /** no key could open the file: each value replaced by a placeholder */
  | "placeholder"
  /** `--show-secrets`: the decrypted values */
  | "shown";

/** One Application's rendered source. */
export interface RenderedApp {
  readonly app: AppSpec;
  /** The objects in the order the build emitted them; empty when the build failed. */
  readonly objects: readonly KubeObject[];
  /** The build failed: the tool's message, as the user sees it. */
  readonly error?: string;
  readonly secrets: SecretMode;
  /**
   * Objects that differed between two builds from identical inputs (generated certificates,
   * random passwords), each with the JSON pointers that differed. Present when the render
   * built the app twice (a render-cache miss); the cache keeps it for later hits.
   */
  readonly unstable?: readonly { readonly ref: ObjectRef; readonly pointers: readonly string[] }[];
  /** Whether this came from the render cache. */
  readonly cached: boolean;
}

/** Everything one `render` produced for one environment. */
export interface Rendering {
  readonly env: Env;
  /** The root app's output: AppProjects and Applications. */
  readonly root: readonly KubeObject[];
  readonly apps: readonly RenderedApp[];
}

/** One problem `check` found. */
export interface Finding {
  /** The Application it belongs to; `root` for the root app, `cluster` for whole-cluster checks. */
  readonly app: string;
  /** Which check: `build`, `schema`, `pod-security`, `stability`, `namespace`, `ownership`, … */
  readonly check: string;
  readonly severity: "error" | "warning";
  readonly object?: ObjectRef;
  /** One line: what is wrong and, where it helps, how to fix it. */
  readonly message: string;
}

/** The reference of an object. */
export function refOf(o: KubeObject): ObjectRef {
  return {
    apiVersion: o.apiVersion,
    kind: o.kind,
    ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}),
    name: o.metadata.name,
  };
}

/** `Kind/namespace/name` (or `Kind/name` for cluster-scoped objects), as findings print it. */
export function showRef(r: ObjectRef): string {
  return r.namespace ? `${r.kind}/${r.namespace}/${r.name}` : `${r.kind}/${r.name}`;
}

/**
 * Whether Argo CD's sync applies `o` server-side, as gitops-engine decides it: never when the
 * Application or the object asks for `Replace=true` or the object for `ServerSideApply=false`,
 * else when the Application or the object asks for `ServerSideApply=true`.
 */
export function appliedServerSide(app: Pick<AppSpec, "syncOptions">, o: KubeObject): boolean {
  const own = (o.metadata.annotations?.["argocd.argoproj.io/sync-options"] ?? "").split(",").map((s) => s.trim());
  if (app.syncOptions.includes("Replace=true") || own.includes("Replace=true")) return false;
  if (own.includes("ServerSideApply=false")) return false;
  return app.syncOptions.includes("ServerSideApply=true") || own.includes("ServerSideApply=true");
}

/**
 * The OpenAPI v3 documents of one Kubernetes version, kept in a schema cache:
 * `<cacheDir>/schemas/kubernetes/v<version>/`, one file per API server path (`api/v1`,
 * `apis/apps/v1`, …, the server's `/openapi/v3/<path>` documents) and an `index.json` written
 * last. A {@link SchemaSource} fills it once; checks then read it with no network.
 *
 * Two sources: the API server of the local control plane (`/openapi/v3`, wired in by the
 * control plane's code) and, the same documents, the spec shipped in the module zip of
 * `k8s.io/kubernetes` (`api/openapi-spec/v3/`), which {@link goModuleSource} takes through the Go
 * module proxy (or the module cache alone, offline).
 *
 * @module
 */

import { join } from "node:path";
import { cmd, type Runner } from "../cmd.ts";
import { HomelabError } from "../errors.ts";

/** Fills the schema cache: API path (`apis/apps/v1`) → that path's OpenAPI v3 document. */
export type SchemaSource = (version: string) => Promise<Map<string, unknown>>;

/** `apis/apps/v1` ↔ the file name the cache (and the Kubernetes source tree) uses. */
function fileOfPath(path: string): string {
  return `${path.replaceAll("/", "__")}_openapi.json`;
}

function pathOfFile(file: string): string | undefined {
  const m = /^(.+)_openapi\.json$/.exec(file);
  return m ? m[1].replaceAll("__", "/") : undefined;
}

/**
 * The OpenAPI v3 documents in the module zip of `k8s.io/kubernetes@v<version>`
 * (`api/openapi-spec/v3/*.json`: what that release's API server serves at `/openapi/v3`).
 * `go mod download` fetches the module through the Go module proxy once; with `offline`, only
 * the module cache is used.
 */
export function goModuleSource(runner: Runner, options: { offline?: boolean } = {}): SchemaSource {
  return async (version) => {
    const env: Record<string, string> = { GOFLAGS: "-mod=mod", GOWORK: "off" };
    if (options.offline) env.GOPROXY = "off";
    const out = await runner.output(
      cmd("go", ["mod", "download", "-json", `k8s.io/kubernetes@v${version}`], {
        env,
        readOnly: true,
        timeout: 15 * 60_000,
        // Outside any module, so no go.mod is read or written.
        cwd: "/",
      }),
    );
    const dir = (JSON.parse(out) as { Dir?: string }).Dir;
    if (!dir) throw new HomelabError(`go mod download gave no directory for k8s.io/kubernetes@v${version}`);
    return await readSpecDir(join(dir, "api", "openapi-spec", "v3"));
  };
}

/**
 * The OpenAPI v3 documents the real kube-apiserver of `version` serves at `/openapi/v3`: a local
 * control plane (the pinned kube-apiserver, which must be that version) is started, asked, and
 * stopped. Only what that server serves by default is there, as on the cluster.
 */
export function apiServerSource(runner: Runner): SchemaSource {
  return async (version) => {
    const { openapiDocuments, startControlPlane } = await import("../kube/controlplane.ts");
    const { toolSpec } = await import("../tools.ts");
    const pinned = toolSpec("kube-apiserver")?.version;
    if (pinned !== version) {
      throw new HomelabError(
        `the schemas of Kubernetes v${version} come from its kube-apiserver, but this repository builds v${pinned}`,
        { hint: "keep kubernetesVersion in talos/talconfig.yaml and the kubernetes pin in lib/tools.ts equal" },
      );
    }
    const cp = await startControlPlane(runner);
    try {
      return await openapiDocuments(cp.client);
    } finally {
      await cp.stop();
    }
  };
}

/** Reads a directory of `<path>_openapi.json` files (the Kubernetes source tree's layout). */
async function readSpecDir(dir: string): Promise<Map<string, unknown>> {
  const docs = new Map<string, unknown>();
  for await (const e of Deno.readDir(dir)) {
    const path = e.isFile ? pathOfFile(e.name) : undefined;
    if (path) docs.set(path, JSON.parse(await Deno.readTextFile(join(dir, e.name))));
  }
  if (!docs.size) throw new HomelabError(`${dir} holds no OpenAPI v3 documents`);
  return docs;
}

/** A built-in kind: the document and definition that describe it. */
export interface KindInfo {
  /** The API path of its document (`apis/apps/v1`). */
  readonly path: string;
  /** Its definition's name in that document (`io.k8s.api.apps.v1.Deployment`). */
  readonly definition: string;
  readonly namespaced: boolean;
}

/** What `index.json` of a filled schema cache says. */
interface Index {
  readonly version: string;
  readonly paths: readonly string[];
  /** `apiVersion|kind` → where its schema is. */
  readonly kinds: Readonly<Record<string, KindInfo>>;
  /** Changes whenever the cache is filled (keys of compiled validators include it). */
  readonly id: string;
}

/** The schema cache directory of Kubernetes `version`. */
function kubernetesSchemaDir(cacheDir: string, version: string): string {
  return join(cacheDir, "schemas", "kubernetes", `v${version.replace(/^v/, "")}`);
}

/** Thrown when the schemas of a version are not cached and no source may fill them. */
class MissingSchemasError extends HomelabError {}

/** The OpenAPI v3 documents of one Kubernetes version, read from the schema cache on demand. */
export class KubernetesSchemas {
  readonly #docs = new Map<string, Promise<Record<string, unknown> | undefined>>();

  private constructor(
    readonly dir: string,
    readonly version: string,
    readonly paths: ReadonlySet<string>,
    /** Identifies this filling of the cache. */
    readonly id: string,
    readonly kinds: Readonly<Record<string, KindInfo>>,
  ) {}

  /** The apiVersions under which this Kubernetes serves `kind` of `group` (for messages about removed versions). */
  apiVersionsOf(group: string, kind: string): string[] {
    return Object.keys(this.kinds).map((k) => k.split("|")).filter(([av, k]) =>
      k === kind && (av.includes("/") ? av.slice(0, av.lastIndexOf("/")) : "") === group
    ).map(([av]) => av);
  }

  /** Where the schema of a built-in kind is, or undefined when this version has no such kind. */
  kind(apiVersion: string, kind: string): KindInfo | undefined {
    return Object.hasOwn(this.kinds, `${apiVersion}|${kind}`) ? this.kinds[`${apiVersion}|${kind}`] : undefined;
  }

  /**
   * Opens the cache of `version`, filling it first from `source` when it is empty. Without a
   * source, an empty cache is a {@link MissingSchemasError} saying how to fill it.
   */
  static async open(cacheDir: string, version: string, source?: SchemaSource): Promise<KubernetesSchemas> {
    const v = version.replace(/^v/, "");
    const dir = kubernetesSchemaDir(cacheDir, v);
    let index = await readIndex(dir);
    if (!index) {
      if (!source) {
        throw new MissingSchemasError(
          `the OpenAPI schemas of Kubernetes v${v} are not in the schema cache (${dir})`,
          {
            hint: "run `deno task check` once: it asks the pinned kube-apiserver (`deno task tools` builds it)",
          },
        );
      }
      let docs: Map<string, unknown>;
      try {
        docs = await source(v);
      } catch (err) {
        throw new MissingSchemasError(
          `the OpenAPI schemas of Kubernetes v${v} are not in the schema cache (${dir}) and could not be ` +
            `fetched: ${(err as Error).message.split("\n").slice(0, 3).join(" ")}`,
          {
            hint: "the check takes them from the k8s.io/kubernetes module with `go mod download`: it needs Go and " +
              "the Go module proxy once (or that module in the Go module cache, which --offline uses)",
            cause: err,
          },
        );
      }
      index = await fill(dir, v, docs);
    }
    return new KubernetesSchemas(dir, v, new Set(index.paths), index.id, index.kinds ?? {});
  }

  /** The document of an API path, or undefined when this version has no such path. */
  doc(path: string): Promise<Record<string, unknown> | undefined> {
    let p = this.#docs.get(path);
    if (!p) {
      p = this.paths.has(path)
        ? Deno.readTextFile(join(this.dir, fileOfPath(path))).then((t) => JSON.parse(t))
        : Promise.resolve(undefined);
      this.#docs.set(path, p);
    }
    return p;
  }

  /** The `components.schemas` of an API path's document (empty when there is none). */
  async definitions(path: string): Promise<Record<string, unknown>> {
    const d = await this.doc(path);
    return ((d?.components as Record<string, unknown> | undefined)?.schemas ?? {}) as Record<string, unknown>;
  }
}

/**
 * The built-in kinds of a set of documents: each path's own group/version kinds (a document
 * also carries the definitions it references from other groups), with their scope taken from
 * the path the API server serves them under.
 */
function kindsOf(docs: ReadonlyMap<string, unknown>): Record<string, KindInfo> {
  const kinds: Record<string, KindInfo> = {};
  for (const [path, doc] of docs) {
    const m = /^(?:api\/(v[^/]+)|apis\/([^/]+)\/(v[^/]+))$/.exec(path);
    if (!m) continue;
    const [group, version] = m[1] ? ["", m[1]] : [m[2], m[3]];
    const apiVersion = group ? `${group}/${version}` : version;
    const d = (doc ?? {}) as { components?: { schemas?: Record<string, unknown> }; paths?: Record<string, unknown> };
    const scope = new Map<string, boolean>();
    // Kinds one can read (get), then those one can only create (reviews).
    for (const [verb, action] of [["get", "get"], ["post", "post"]]) {
      for (const [p, item] of Object.entries(d.paths ?? {})) {
        const op = (item as Record<string, Record<string, unknown> | undefined>)[verb];
        const gvk = op?.["x-kubernetes-group-version-kind"] as { kind?: string } | undefined;
        if (op?.["x-kubernetes-action"] !== action || !gvk?.kind || scope.has(gvk.kind)) continue;
        if (/\/\{name\}\/[a-z]+$/.test(p)) continue; // a subresource (status, scale, eviction…)
        scope.set(gvk.kind, p.includes("/namespaces/{namespace}/"));
      }
    }
    for (const [name, def] of Object.entries(d.components?.schemas ?? {})) {
      const gvks = (def as Record<string, unknown>)["x-kubernetes-group-version-kind"];
      if (!Array.isArray(gvks)) continue;
      for (const g of gvks as { group: string; version: string; kind: string }[]) {
        if (g.group !== group || g.version !== version || !scope.has(g.kind)) continue;
        kinds[`${apiVersion}|${g.kind}`] ??= { path, definition: name, namespaced: scope.get(g.kind)! };
      }
    }
  }
  return kinds;
}

async function readIndex(dir: string): Promise<Index | undefined> {
  try {
    const index = JSON.parse(await Deno.readTextFile(join(dir, "index.json"))) as Index;
    // An index of an older format is filled again.
    return index.kinds && index.id ? index : undefined;
  } catch {
    return undefined;
  }
}

/** Writes the documents into a fresh directory beside `dir` and moves it into place. */
async function fill(dir: string, version: string, docs: Map<string, unknown>): Promise<Index> {
  const parent = join(dir, "..");
  await Deno.mkdir(parent, { recursive: true });
  const tmp = await Deno.makeTempDir({ dir: parent, prefix: `.v${version}-` });
  try {
    const paths = [...docs.keys()].sort();
    for (const p of paths) {
      if (!/^[a-z0-9.\-/]+$/i.test(p) || p.includes("..")) throw new HomelabError(`unexpected API path '${p}'`);
      await Deno.writeTextFile(join(tmp, fileOfPath(p)), JSON.stringify(docs.get(p)));
    }
    const index: Index = { version, paths, id: crypto.randomUUID(), kinds: kindsOf(docs) };
    await Deno.writeTextFile(join(tmp, "index.json"), JSON.stringify(index) + "\n");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    await Deno.rename(tmp, dir).catch(async (err) => {
      // Another check filled it at the same time.
      if (!await readIndex(dir)) throw err;
    });
    return index;
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

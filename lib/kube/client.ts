/**
 * A small client for the Kubernetes API over HTTPS: the requests the local control plane, its
 * waits and `check --server` need, with each response's `Warning` headers kept per request
 * (kubectl folds identical warnings of one call into one, so it cannot say which object a
 * warning belongs to).
 *
 * @module
 */

import { HomelabError } from "../errors.ts";
import type { KubeObject } from "../render/model.ts";

/** What one request returned. */
export interface ApiResponse<T = unknown> {
  readonly status: number;
  readonly body: T;
  /** The texts of the response's `Warning: 299 - "…"` headers. */
  readonly warnings: readonly string[];
}

/** A Kubernetes `Status` error body. */
export interface ApiStatus {
  readonly kind?: string;
  readonly status?: string;
  readonly message?: string;
  readonly reason?: string;
  readonly code?: number;
  readonly details?: { readonly causes?: readonly { reason?: string; message?: string; field?: string }[] };
}

/** How to reach an API server. */
export interface Endpoint {
  /** `https://127.0.0.1:PORT`. */
  readonly server: string;
  /** PEM of the certificate authority that signed the server's certificate. */
  readonly caPem: string;
  /** A bearer token (the local control plane), or … */
  readonly token?: string;
  /** … a client certificate and its key, PEM (Talos and kind kubeconfigs). */
  readonly certPem?: string;
  readonly keyPem?: string;
}

/** A resource of the API, as discovery reports it. */
export interface ApiResource {
  readonly groupVersion: string;
  readonly kind: string;
  /** The plural name in URLs. */
  readonly name: string;
  readonly namespaced: boolean;
  /** What one can do with it (`get`, `list`, `watch`, `create`, …). */
  readonly verbs: readonly string[];
}

/** An error the API server answered with. */
export class ApiError extends HomelabError {
  readonly status: number;
  readonly body: ApiStatus;
  constructor(method: string, path: string, status: number, body: ApiStatus) {
    super(`${method} ${path}: ${status} ${body.message ?? body.reason ?? ""}`.trimEnd());
    this.status = status;
    this.body = body;
  }
}

/** Splits `Warning` header values (`299 - "text"`, comma-separated) into their texts. */
function parseWarnings(header: string | null): string[] {
  if (!header) return [];
  const out: string[] = [];
  const re = /\d{3}\s+\S+\s+"((?:[^"\\]|\\.)*)"/g;
  for (let m = re.exec(header); m; m = re.exec(header)) out.push(m[1].replace(/\\(.)/g, "$1"));
  return out;
}

/**
 * How long one request may go unanswered. kube-apiserver ends a request it cannot finish after
 * its own `--request-timeout` (a minute by default) with an answer; silence for longer means
 * the connection is stuck, and a wait built on requests would otherwise never end.
 */
export const REQUEST_TIMEOUT_MS = 120_000;

/** Talks to one API server. */
export class KubeClient {
  readonly endpoint: Endpoint;
  readonly #http: Deno.HttpClient;
  readonly #timeoutMs: number;
  #discovery?: Promise<ApiResource[]>;

  constructor(endpoint: Endpoint, options: { requestTimeoutMs?: number } = {}) {
    this.endpoint = endpoint;
    this.#timeoutMs = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
    this.#http = endpoint.certPem && endpoint.keyPem
      ? Deno.createHttpClient({ caCerts: [endpoint.caPem], cert: endpoint.certPem, key: endpoint.keyPem })
      : Deno.createHttpClient({ caCerts: [endpoint.caPem] });
  }

  /** Closes the connections. */
  close(): void {
    this.#http.close();
  }

  /** One request; a JSON body is sent as JSON unless `contentType` says otherwise. */
  async request<T = unknown>(
    method: string,
    path: string,
    options: { body?: unknown; contentType?: string; signal?: AbortSignal } = {},
  ): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.endpoint.token) headers.authorization = `Bearer ${this.endpoint.token}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      headers["content-type"] = options.contentType ?? "application/json";
      body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
    }
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    let res: Response;
    let text: string;
    try {
      res = await fetch(`${this.endpoint.server}${path}`, { method, headers, body, client: this.#http, signal });
      text = await res.text();
    } catch (err) {
      if (!timeout.aborted || options.signal?.aborted) throw err;
      throw new HomelabError(
        `${method} ${path}: no answer from ${this.endpoint.server} within ${this.#timeoutMs / 1000}s`,
        { hint: "the API server or the connection to it is stuck; try again" },
      );
    }
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON (e.g. /readyz): keep the text
    }
    return { status: res.status, body: parsed as T, warnings: parseWarnings(res.headers.get("warning")) };
  }

  /** A request that must succeed (2xx); throws {@link ApiError} otherwise. */
  async must<T = unknown>(
    method: string,
    path: string,
    options: { body?: unknown; contentType?: string; signal?: AbortSignal } = {},
  ): Promise<ApiResponse<T>> {
    const r = await this.request<T>(method, path, options);
    if (r.status >= 300) throw new ApiError(method, path, r.status, (r.body ?? {}) as ApiStatus);
    return r;
  }

  /** Every resource the server serves (cached until {@link forgetDiscovery}). */
  resources(): Promise<ApiResource[]> {
    this.#discovery ??= this.#discover();
    return this.#discovery;
  }

  /** Forgets discovery (after CRDs were added). */
  forgetDiscovery(): void {
    this.#discovery = undefined;
  }

  async #discover(): Promise<ApiResource[]> {
    const groupVersions = ["v1"];
    const groups = (await this.must<{ groups: { versions: { groupVersion: string }[] }[] }>("GET", "/apis")).body;
    for (const g of groups.groups) for (const v of g.versions) groupVersions.push(v.groupVersion);
    const lists = await Promise.all(groupVersions.map(async (gv) => {
      const path = gv === "v1" ? "/api/v1" : `/apis/${gv}`;
      const r = await this.request<
        { resources: { name: string; kind: string; namespaced: boolean; verbs?: string[] }[] }
      >(
        "GET",
        path,
      );
      if (r.status >= 300) return [];
      return r.body.resources
        .filter((x) => !x.name.includes("/"))
        .map((x) => ({ groupVersion: gv, kind: x.kind, name: x.name, namespaced: x.namespaced, verbs: x.verbs ?? [] }));
    }));
    return lists.flat();
  }

  /** The resource serving `apiVersion`/`kind`, or undefined when the server has none. */
  async resourceOf(apiVersion: string, kind: string): Promise<ApiResource | undefined> {
    return (await this.resources()).find((r) => r.groupVersion === apiVersion && r.kind === kind);
  }

  /**
   * The URL path of an object (`name` omitted: its collection). Throws when the server does not
   * know the kind.
   */
  async pathOf(o: { apiVersion: string; kind: string; metadata: { name?: string; namespace?: string } }) {
    const r = await this.resourceOf(o.apiVersion, o.kind);
    if (!r) throw new HomelabError(`the API server has no resource for ${o.apiVersion} ${o.kind}`);
    const base = r.groupVersion === "v1" ? "/api/v1" : `/apis/${r.groupVersion}`;
    const ns = r.namespaced ? `/namespaces/${encodeURIComponent(o.metadata.namespace ?? "default")}` : "";
    const name = o.metadata.name ? `/${encodeURIComponent(o.metadata.name)}` : "";
    return `${base}${ns}/${r.name}${name}`;
  }

  /**
   * Server-side apply of one object. `dryRun` asks the server to judge it without storing it;
   * `strict` makes unknown or duplicate fields errors.
   */
  async apply(
    o: KubeObject,
    options: { fieldManager?: string; dryRun?: boolean; strict?: boolean; force?: boolean } = {},
  ): Promise<ApiResponse<KubeObject | ApiStatus>> {
    const query = new URLSearchParams({ fieldManager: options.fieldManager ?? "homelab" });
    if (options.force ?? true) query.set("force", "true");
    if (options.dryRun) query.set("dryRun", "All");
    if (options.strict ?? true) query.set("fieldValidation", "Strict");
    const path = await this.pathOf(o);
    return await this.request("PATCH", `${path}?${query}`, {
      body: JSON.stringify(o),
      contentType: "application/apply-patch+yaml",
    });
  }

  /** Reads an object; undefined when it does not exist. */
  async get<T = KubeObject>(
    o: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } },
  ): Promise<T | undefined> {
    const r = await this.request<T>("GET", await this.pathOf(o));
    if (r.status === 404) return undefined;
    if (r.status >= 300) throw new ApiError("GET", await this.pathOf(o), r.status, r.body as ApiStatus);
    return r.body;
  }
}

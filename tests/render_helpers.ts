/**
 * A chart repository served on 127.0.0.1 (charts made with `helm create` and `helm package` at
 * test time, indexed with `helm repo index`), and a fixture repository copied into a temporary
 * git repository pointing at it.
 * @module
 */

import { dirname, join } from "node:path";
import { cmd, Runner } from "../lib/cmd.ts";
import type { Config } from "../lib/config.ts";
import { realToolsPath } from "./secrets_helpers.ts";
import { git, REPO, tempConfig } from "./helpers.ts";

/** A chart repository on 127.0.0.1 serving `<dir>/site`. */
export interface ChartServer {
  readonly url: string;
  /** The folder served (`charts/` holds the packages and index.yaml). */
  readonly site: string;
  /** Paths requested so far. */
  readonly requests: string[];
  close(): Promise<void>;
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const hash = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(hash)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The pull side of an OCI registry, as `helm pull oci://HOST/charts/NAME` asks for it:
 * `/v2/charts/NAME/manifests/VERSION` and `/v2/charts/NAME/blobs/DIGEST`, built from the
 * package `<site>/charts/NAME-VERSION.tgz` (the chart's config, and the package as its layer).
 */
async function ociResponse(req: Request, path: string, site: string): Promise<Response> {
  if (path === "/v2/" || path === "/v2") return new Response("{}", { headers: { "content-type": "application/json" } });
  const m = /^\/v2\/(.+)\/([^/]+)\/(manifests|blobs)\/([^/]+)$/.exec(path);
  if (!m) return new Response("not found", { status: 404 });
  const [, dir, name, kind, ref] = m;
  const found = new Map<string, Uint8Array>();
  let manifest: Uint8Array | undefined;
  for await (const e of Deno.readDir(join(site, dir))) {
    const version = new RegExp(`^${name}-(\\d+\\.\\d+\\.\\d+)\\.tgz$`).exec(e.name)?.[1];
    if (!version) continue;
    const tgz = await Deno.readFile(join(site, dir, e.name));
    const config = new TextEncoder().encode(JSON.stringify({ apiVersion: "v2", name, version }));
    const layer = {
      mediaType: "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
      digest: `sha256:${await sha256Hex(tgz)}`,
      size: tgz.length,
    };
    const cfg = {
      mediaType: "application/vnd.cncf.helm.config.v1+json",
      digest: `sha256:${await sha256Hex(config)}`,
      size: config.length,
    };
    found.set(layer.digest, tgz);
    found.set(cfg.digest, config);
    if (version === ref) {
      manifest = new TextEncoder().encode(JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: cfg,
        layers: [layer],
      }));
    }
  }
  const body = kind === "manifests" ? manifest : found.get(ref);
  if (!body) return new Response("not found", { status: 404 });
  const headers = {
    "content-type": kind === "manifests" ? "application/vnd.oci.image.manifest.v1+json" : "application/octet-stream",
    "content-length": String(body.length),
    "docker-content-digest": `sha256:${await sha256Hex(body)}`,
  };
  return new Response(req.method === "HEAD" ? null : body as Uint8Array<ArrayBuffer>, { headers });
}

/** Serves `site` over HTTP on a free loopback port (and the charts in `<site>/charts` as an OCI registry). */
export function serve(site: string): ChartServer {
  const requests: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const path = decodeURIComponent(new URL(req.url).pathname);
    requests.push(path);
    if (path.includes("..")) return new Response("bad path", { status: 400 });
    if (path.startsWith("/v2")) {
      return await ociResponse(req, path, site).catch(() => new Response("not found", { status: 404 }));
    }
    try {
      return new Response(await Deno.readFile(join(site, path)));
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    site,
    requests,
    close: () => server.shutdown(),
  };
}

/** The real tools render runs, on one PATH. */
export function renderToolsPath(): Promise<string> {
  // kube-apiserver and etcd: the built-in API versions come from the pinned server's discovery.
  return realToolsPath(["helm", "kustomize", "jsonnet", "sops", "age", "age-keygen", "git", "kube-apiserver", "etcd"]);
}

const CHARTS = ["web", "nsemitter", "random", "clock", "capable"];

/** Makes the fixture charts (web, nsemitter, random, clock, capable) and indexes them under `<site>/charts`. */
export async function makeCharts(runner: Runner, work: string, site: string, url: string): Promise<void> {
  const src = join(work, "chart-src");
  await Deno.mkdir(src, { recursive: true });
  for (const name of CHARTS) {
    await runner.run(cmd("helm", ["create", name], { cwd: src }));
  }
  // nsemitter: a chart that creates the Namespace it is installed into.
  await Deno.writeTextFile(
    join(src, "nsemitter", "templates", "namespace.yaml"),
    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {{ .Release.Namespace }}\n",
  );
  // random: one Secret with a value made at template time, nothing else; clock: one ConfigMap
  // with the time of rendering (in seconds), nothing else.
  for (const name of ["random", "clock"]) {
    for await (const e of Deno.readDir(join(src, name, "templates"))) {
      await Deno.remove(join(src, name, "templates", e.name), { recursive: true });
    }
  }
  await Deno.writeTextFile(
    join(src, "random", "templates", "secret.yaml"),
    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}-token\nstringData:\n" +
      "  token: {{ randAlphaNum 24 | quote }}\n  fixed: same\n",
  );
  await Deno.writeTextFile(
    join(src, "clock", "templates", "configmap.yaml"),
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-stamp\ndata:\n" +
      "  renderedAt: {{ now | unixEpoch | quote }}\n  fixed: same\n",
  );
  // capable: a ConfigMap always, one only when the cluster serves monitoring.coreos.com/v1 (a CRD
  // of the tree), one only when it serves cilium.io/v2 CiliumNetworkPolicy (a run-time CRD).
  for await (const e of Deno.readDir(join(src, "capable", "templates"))) {
    await Deno.remove(join(src, "capable", "templates", e.name), { recursive: true });
  }
  await Deno.writeTextFile(
    join(src, "capable", "templates", "configmaps.yaml"),
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-always\n" +
      '{{- if .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" }}\n---\n' +
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-monitoring\n{{- end }}\n" +
      '{{- if .Capabilities.APIVersions.Has "cilium.io/v2/CiliumNetworkPolicy" }}\n---\n' +
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cilium\n{{- end }}\n",
  );
  await Deno.mkdir(join(site, "charts"), { recursive: true });
  for (const name of CHARTS) {
    await runner.run(cmd("helm", ["package", join(src, name), "-d", join(site, "charts")]));
  }
  await runner.run(cmd("helm", ["repo", "index", join(site, "charts"), "--url", `${url}/charts`]));
  // The run-time CRD the fixture's schemas/runtime-crds.yaml pins.
  await Deno.mkdir(join(site, "crds"), { recursive: true });
  await Deno.writeTextFile(join(site, "crds", "cilium.yaml"), RUNTIME_CRD);
  // The remote manifest of platform/remote-dup: an operator that creates the component's Namespace again.
  await Deno.mkdir(join(site, "manifests"), { recursive: true });
  await Deno.writeTextFile(
    join(site, "manifests", "operator.yaml"),
    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: remote-dup\n---\n" +
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: operator\ndata:\n  mode: remote\n",
  );
}

export { git };

/** The run-time CRD the fixture pins (an operator would install it), served at `<url>/crds/cilium.yaml`. */
export const RUNTIME_CRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: ciliumnetworkpolicies.cilium.io
spec:
  group: cilium.io
  scope: Namespaced
  names: { kind: CiliumNetworkPolicy, plural: ciliumnetworkpolicies }
  versions:
    - name: v2
      served: true
      storage: true
      schema:
        openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true }
`;

/** Copies a fixture tree, replacing `{{REPO}}` with `url`. */
export async function copyFixture(from: string, to: string, url: string): Promise<void> {
  for await (const e of Deno.readDir(from)) {
    const src = join(from, e.name);
    const dst = join(to, e.name);
    if (e.isDirectory) {
      await Deno.mkdir(dst, { recursive: true });
      await copyFixture(src, dst, url);
    } else {
      await Deno.mkdir(dirname(dst), { recursive: true });
      await Deno.writeTextFile(
        dst,
        (await Deno.readTextFile(src)).replaceAll("{{REPO}}", url).replaceAll("{{OCI}}", url.replace(/^http:/, "oci:")),
      );
    }
  }
}

/** The web app's secret values (test data, encrypted before they reach the fixture repository). */
export const WEB_PASSWORD = "fixture-password-Q7v2";
/** A binary-safe `data:` value of the same Secret. */
export const WEB_TOKEN = "fixture-token-Z3\u0000\u00ff";

/**
 * The fixture repository in `<work>/repo` (a git repository with one commit), an age key in
 * `<work>/age.txt`, the web app's Secret encrypted for it. Returns a config for it.
 */
export async function fixtureRepo(
  work: string,
  url: string,
  path: string,
): Promise<{ config: Config; repo: string; runner: Runner; keyFile: string }> {
  const repo = join(work, "repo");
  await Deno.mkdir(repo, { recursive: true });
  await copyFixture(join(REPO, "tests", "fixtures", "render", "repo"), repo, url);
  // The repository's own root app, over the fixture's components.json.
  await Deno.copyFile(join(REPO, "root", "main.jsonnet"), join(repo, "root", "main.jsonnet"));
  // Its Talos configuration: the cluster's Kubernetes version, whose APIs charts see.
  await Deno.mkdir(join(repo, "talos"), { recursive: true });
  await Deno.copyFile(join(REPO, "talos", "talconfig.yaml"), join(repo, "talos", "talconfig.yaml"));
  // The run-time CRDs, pinned by sha256 as the repository pins Cilium's.
  const digest = [...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(RUNTIME_CRD)))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  await Deno.mkdir(join(repo, "schemas"), { recursive: true });
  await Deno.writeTextFile(
    join(repo, "schemas", "runtime-crds.yaml"),
    `sources:\n  - name: cilium\n    component: system/web\n    chart: web\n    version: 0.1.0\n    digestsFor: 0.1.0\n    files:\n` +
      `      - url: ${url}/crds/cilium.yaml\n        sha256: "${digest}"\n`,
  );
  const keyFile = join(work, "age.txt");
  const config = {
    ...tempConfig(work, path, { SOPS_AGE_KEY_FILE: keyFile }),
    repoRoot: repo,
  };
  const runner = new Runner({ env: config.env });
  await runner.run(cmd("age-keygen", ["-o", keyFile]));
  const recipient = (await runner.output(cmd("age-keygen", ["-y", keyFile]))).trim();
  await Deno.writeTextFile(
    join(repo, ".sops.yaml"),
    `creation_rules:\n  - path_regex: \\.sops\\.yaml$\n    encrypted_regex: ^(data|stringData)$\n    age: ${recipient}\n`,
  );
  await writeWebSecret(runner, repo, WEB_PASSWORD);
  git(repo, "init", "-q");
  git(repo, "add", "-A");
  git(repo, "commit", "-qm", "fixture");
  return { config, repo, runner, keyFile };
}

/** Encrypts the web app's Secret with `password` into the fixture repository. */
export async function writeWebSecret(runner: Runner, repo: string, password: string): Promise<void> {
  const plain = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: web-credentials\ntype: Opaque\n" +
    `stringData:\n  username: admin\n  password: ${password}\ndata:\n  token: ${btoa(WEB_TOKEN)}\n`;
  const file = "system/web/web-credentials.sops.yaml";
  const out = await runner.output(cmd(
    "sops",
    ["encrypt", "--filename-override", file, "--input-type", "yaml", "--output-type", "yaml"],
    { cwd: repo, stdin: plain, env: { SOPS_DISABLE_VERSION_CHECK: "1" } },
  ));
  await Deno.writeTextFile(join(repo, file), out + "\n");
}

/**
 * Building one Application's source the way Argo CD's repo-server does: `kustomize build` of
 * its folder with the `kustomize.buildOptions` of `argocd-cm`, run from the repository root.
 * The build runs on a temporary copy of exactly the files the source reads, where each
 * kustomization finds its charts in the chart cache (`helmGlobals.chartHome`), its remote
 * manifests as cached local files, and its KSOPS generators served by the stand-in — the
 * user's tree is never touched.
 *
 * @module
 */

import { basename, dirname, join } from "node:path";
import { parseAllDocuments, parseDocument } from "yaml";
import { cmd, CommandError, type Runner } from "../cmd.ts";
import { HomelabError } from "../errors.ts";
import type { CachedChart } from "./charts.ts";
import { OUTPUT_ANNOTATION } from "./ksops.ts";
import { type KubeObject, type ObjectRef, refOf } from "./model.ts";
import type { SourceInfo } from "./source.ts";
import { exists } from "../files.ts";

/** How every build runs. */
export interface BuildSettings {
  /** `kustomize.buildOptions` from system/argocd's values (argocd-cm). */
  readonly buildOptions: readonly string[];
  /** `--helm-kube-version`, as Argo CD passes the cluster's version. */
  readonly kubeVersion?: string;
  /** `--helm-api-versions`, one each, as Argo CD passes the cluster's API set (see apis.ts). */
  readonly apiVersions?: readonly string[];
}

/** The inputs of one build copy. */
export interface CopyInputs {
  readonly charts: ReadonlyMap<string, CachedChart>;
  /** URL → cached file. */
  readonly remotes: ReadonlyMap<string, { path: string; digest: string }>;
  /** Generator file → the stand-in's output file. */
  readonly ksops: ReadonlyMap<string, string>;
}

/** The key of a chart in {@link CopyInputs.charts}. */
export function chartKey(c: { repo: string; name: string; version: string }): string {
  return `${c.repo}|${c.name}|${c.version}`;
}

/** Copies the source's files to `<work>/tree` and points the copy at the caches. */
export async function prepareCopy(
  repoRoot: string,
  info: SourceInfo,
  inputs: CopyInputs,
  work: string,
): Promise<string> {
  const tree = join(work, "tree");
  for (const f of info.files) {
    await Deno.mkdir(dirname(join(tree, f)), { recursive: true });
    await Deno.copyFile(join(repoRoot, f), join(tree, f));
  }
  for (const kfile of info.kustomizations) {
    const dir = dirname(kfile);
    const doc = parseDocument(await Deno.readTextFile(join(repoRoot, kfile)));
    const k = (doc.toJS() ?? {}) as Record<string, unknown>;
    let changed = false;
    const charts = Array.isArray(k.helmCharts) ? k.helmCharts as Record<string, unknown>[] : [];
    if (charts.length && charts.every((c) => typeof c.repo === "string" && c.repo)) {
      const home = join(work, "charthome", dir);
      for (const c of charts) {
        const cached = inputs.charts.get(
          chartKey({ repo: String(c.repo), name: String(c.name), version: String(c.version) }),
        );
        if (!cached) continue;
        const link = join(home, `${c.name}-${c.version}`, String(c.name));
        await Deno.mkdir(dirname(link), { recursive: true });
        await Deno.symlink(cached.dir, link).catch((err) => {
          if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
        });
      }
      doc.setIn(["helmGlobals", "chartHome"], home);
      // Without a valuesFile kustomize reads the chart's own values.yaml through its loader, which
      // refuses a chart home outside the kustomization; helm applies the chart's defaults anyway.
      for (const [i, c] of charts.entries()) {
        if (c.valuesFile !== undefined) continue;
        await Deno.writeTextFile(join(tree, dir, ".render-no-values.yaml"), "{}\n");
        doc.setIn(["helmCharts", i, "valuesFile"], ".render-no-values.yaml");
      }
      changed = true;
    }
    const resources = Array.isArray(k.resources) ? k.resources as unknown[] : [];
    for (const [i, r] of resources.entries()) {
      const remote = typeof r === "string" ? inputs.remotes.get(r) : undefined;
      if (!remote) continue;
      const name = `.render-remote/${remote.digest.slice(0, 12)}-${
        basename(new URL(String(r)).pathname) || "manifest.yaml"
      }`;
      await Deno.mkdir(join(tree, dir, ".render-remote"), { recursive: true });
      await Deno.copyFile(remote.path, join(tree, dir, name));
      doc.setIn(["resources", i], name);
      changed = true;
    }
    if (changed) await Deno.writeTextFile(join(tree, kfile), doc.toString());
  }
  for (const [gfile, out] of inputs.ksops) {
    const doc = parseDocument(await Deno.readTextFile(join(repoRoot, gfile)));
    doc.setIn(["metadata", "annotations", OUTPUT_ANNOTATION], out);
    await Deno.writeTextFile(join(tree, gfile), doc.toString());
  }
  return tree;
}

/** A build failed: the paragraph the user sees is the message. */
class BuildError extends HomelabError {}

/** What to say about a kustomize/helm failure, by its message. */
export function hintFor(message: string): string {
  if (/namespace transformation produces ID conflict/.test(message)) {
    return "a chart or manifest creates a Namespace that the kustomization's `namespace:` would rename onto " +
      "another object; drop the top-level `namespace:` (set it per chart with helmCharts[].namespace) or " +
      "use a NamespaceTransformer with `unsetOnly: true`";
  }
  if (/exists; can not use behavior/.test(message)) {
    return "the chart creates an object the kustomization also lists (often its Namespace); turn that off in " +
      "the chart's values (e.g. createNamespace: false) or drop the kustomization's copy";
  }
  if (/may not add resource with an already registered id/.test(message)) {
    return "two sources create the same object (often a remote manifest that brings the component's " +
      "Namespace again); keep one: remove the local copy, or delete the other with a `$patch: delete` patch";
  }
  if (/no matches for Id|failed to find unique target for patch/.test(message)) {
    return "a patch targets an object the build does not contain; check its kind, name and namespace";
  }
  if (/must specify --enable-helm|--enable-alpha-plugins|--enable-exec/.test(message)) {
    return "set kustomize.buildOptions in system/argocd/values.yaml (configs.cm)";
  }
  return "run the same `kustomize build` in the folder for the whole output, fix the file it names, and render again";
}

/** The objects of a kustomize build's output. */
function parseObjects(yaml: string): KubeObject[] {
  const objects: KubeObject[] = [];
  for (const d of parseAllDocuments(yaml)) {
    if (!("toJS" in d)) continue;
    if (d.errors.length) throw new Error(`kustomize printed invalid YAML: ${d.errors[0].message}`);
    const o = d.toJS({ maxAliasCount: -1 }) as KubeObject | null;
    if (o && typeof o === "object") objects.push(o);
  }
  return objects;
}

/** Runs `kustomize build` on the copy; a failure is a {@link BuildError} naming the app and file. */
export async function kustomizeBuild(
  runner: Runner,
  tree: string,
  work: string,
  app: { name: string; path: string },
  settings: BuildSettings,
  env: { PATH: string },
): Promise<KubeObject[]> {
  const helm = await runner.resolve("helm");
  const args = ["build", app.path, ...settings.buildOptions, "--helm-command", helm];
  if (settings.buildOptions.includes("--enable-helm")) {
    if (settings.kubeVersion) args.push("--helm-kube-version", settings.kubeVersion);
    for (const v of settings.apiVersions ?? []) args.push("--helm-api-versions", v);
  }
  let out: string;
  try {
    out = (await runner.run(cmd("kustomize", args, { cwd: tree, env, readOnly: true, timeout: 600_000 }))).stdout;
  } catch (err) {
    if (!(err instanceof CommandError)) throw err;
    // Temporary paths and Go pointers (`&{0xc000… <nil>}`) differ between runs: keep them out.
    const clean = (t: string) =>
      t.replaceAll(`${tree}/`, "").replaceAll(tree, ".").replaceAll(work, "<render>").replace(/0x[0-9a-f]{6,}/g, "0x…");
    const tail = clean(err.stderrTail).split("\n").map((l) => `  | ${l}`).join("\n");
    throw new BuildError(
      `app ${app.name}: \`kustomize build ${app.path}\` failed (${app.path}/kustomization.yaml)` +
        `${err.timedOut ? ", timed out" : ""}:\n${tail}`,
      { hint: hintFor(err.stderrTail) },
    );
  }
  return parseObjects(out);
}

function escapePointer(key: string): string {
  return key.replaceAll("~", "~0").replaceAll("/", "~1");
}

/** JSON pointers of the leaves where `a` and `b` differ. */
export function differingPointers(a: unknown, b: unknown, at = ""): string[] {
  if (a === b) return [];
  if (a && b && typeof a === "object" && typeof b === "object" && Array.isArray(a) === Array.isArray(b)) {
    const keys = new Set([...Object.keys(a as object), ...Object.keys(b as object)]);
    return [...keys].flatMap((k) =>
      differingPointers(
        (a as Record<string, unknown>)[k],
        (b as Record<string, unknown>)[k],
        `${at}/${escapePointer(k)}`,
      )
    );
  }
  return [at];
}

function keyOf(r: ObjectRef): string {
  return `${r.apiVersion}|${r.kind}|${r.namespace ?? ""}|${r.name}`;
}

/** The objects that differ between two builds from identical inputs, with the pointers that differ. */
export function unstableObjects(
  first: readonly KubeObject[],
  second: readonly KubeObject[],
): { ref: ObjectRef; pointers: string[] }[] {
  const other = new Map(second.map((o) => [keyOf(refOf(o)), o]));
  const seen = new Set<string>();
  const out: { ref: ObjectRef; pointers: string[] }[] = [];
  for (const o of first) {
    const ref = refOf(o);
    const key = keyOf(ref);
    seen.add(key);
    const pointers = differingPointers(o, other.get(key));
    if (pointers.length) out.push({ ref, pointers });
  }
  for (const o of second) {
    if (!seen.has(keyOf(refOf(o)))) out.push({ ref: refOf(o), pointers: [""] });
  }
  return out;
}

/**
 * Template functions whose output differs between two runs with identical inputs (Sprig's
 * random, key and certificate generators, salted hashes, encryption with a random IV, the
 * clock). Helm's other functions — and kustomize itself — are deterministic, so a chart whose
 * templates call none of these renders the same every time.
 */
const VARYING_FUNCTIONS =
  /\b(rand(Alpha|AlphaNum|Numeric|Ascii|Bytes|Int)|uuidv4|genPrivateKey|genCA(WithKey)?|genSelfSignedCert(WithKey)?|genSignedCert(WithKey)?|bcrypt|htpasswd|encryptAES|now|shuffle|randomPassword)\b/;

/** How a chart's output may vary between runs: by chance, or only with the clock (`now`). */
export type Variation = "random" | "clock" | undefined;

/**
 * Visits the text of every template of the unpacked chart at `dir` (files under a `templates`
 * folder and `.tpl` files, subcharts included: folders under its `charts/`, and packaged ones the
 * chart cache unpacked into `<dir>/../.subcharts`) until `visit` returns true; a packaged
 * subchart nobody unpacked is visited as `undefined` (its templates are unknown). Returns
 * whether a visit returned true.
 */
async function someTemplate(dir: string, visit: (text: string | undefined) => boolean): Promise<boolean> {
  const unpacked = join(dir, "..", ".subcharts");
  const hasUnpacked = await exists(unpacked);
  const walk = async (d: string, inTemplates: boolean): Promise<boolean> => {
    for await (const e of Deno.readDir(d)) {
      const p = join(d, e.name);
      if (e.isDirectory) {
        if (await walk(p, inTemplates || e.name === "templates")) return true;
      } else if (inTemplates || e.name.endsWith(".tpl")) {
        if (visit(await Deno.readTextFile(p).catch(() => ""))) return true;
      } else if (e.name.endsWith(".tgz") && !hasUnpacked) {
        if (visit(undefined)) return true;
      }
    }
    return false;
  };
  return await walk(dir, false) || (hasUnpacked && await walk(unpacked, false));
}

/**
 * How the templates of the unpacked chart at `dir` (subcharts included) may vary: `random` when
 * one calls a varying function other than `now` (or a packaged subchart nobody unpacked may),
 * `clock` when only `now`.
 */
export async function chartMayVary(dir: string): Promise<Variation> {
  let clock = false;
  const random = await someTemplate(dir, (text) => {
    if (text === undefined) return true; // a packaged subchart nobody unpacked: assume it may vary
    for (const action of text.match(/\{\{[\s\S]*?\}\}/g) ?? []) {
      for (const [f] of action.matchAll(new RegExp(VARYING_FUNCTIONS.source, "g"))) {
        if (f !== "now") return true;
        clock = true;
      }
    }
    return false;
  });
  return random ? "random" : clock ? "clock" : undefined;
}

/**
 * Whether the templates of the unpacked chart at `dir` (subcharts included) may read the API
 * versions the cluster serves (`.Capabilities.APIVersions`, by any path that names the field):
 * only such a chart's output depends on `--helm-api-versions`.
 */
export async function chartReadsApiVersions(dir: string): Promise<boolean> {
  return await someTemplate(dir, (text) => text === undefined || text.includes("APIVersions"));
}

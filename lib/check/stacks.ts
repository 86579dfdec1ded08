/**
 * The static checks every component passes (chart pins, values files, KSOPS generator files,
 * Namespace labels explained, StorageClasses that exist in each environment), as findings, each
 * attributed to the Application whose folder holds the file.
 *
 * @module
 */

import { dirname, join, normalize, relative } from "node:path";
import { isMap, isScalar, LineCounter, parseAllDocuments, parseDocument } from "yaml";
import { checkChartValues, type Values } from "../chart_rules.ts";
import type { AppSpec, Finding } from "../render/model.ts";
import { ENCRYPTED_FILE } from "../secrets/sopsconfig.ts";
import { parseSopsFile } from "../secrets/sopsfile.ts";
import { exists } from "../files.ts";
import { imageRef, unpinned } from "./images.ts";
import type { ScopeOf } from "./scope.ts";
import { kustomizationRoots, readComponents, STACKS } from "../stacks.ts";

/** One problem in one file. */
export interface StackProblem {
  readonly file: string;
  readonly line?: number;
  readonly message: string;
}

const EXACT_VERSION = /^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/;

/** Image references that are not pinned: no tag, or `latest`, and no digest. */
function unpinnedImages(value: unknown, path: string[] = []): string[] {
  const found: string[] = [];
  if (Array.isArray(value)) value.forEach((v, i) => found.push(...unpinnedImages(v, [...path, String(i)])));
  else if (value && typeof value === "object") {
    const o = value as Record<string, unknown>;
    if (typeof o.repository === "string" && "tag" in o && unpinned(imageRef(o.repository, o.tag, o.digest))) {
      found.push(`${[...path, "tag"].join(".")}: '${String(o.tag ?? "")}'`);
    }
    for (const [k, v] of Object.entries(o)) {
      if (k === "image" && typeof v === "string") {
        if (unpinned(v)) found.push(`${[...path, k].join(".")}: '${v}'`);
      } else found.push(...unpinnedImages(v, [...path, k]));
    }
  }
  return found;
}

/** The static checks of one kustomization root (relative to `root`). */
export async function checkKustomization(
  root: string,
  dir: string,
  scopeOf: ScopeOf = UNKNOWN_SCOPE,
): Promise<StackProblem[]> {
  const problems: StackProblem[] = [];
  const file = `${dir}/kustomization.yaml`;
  const lines = new LineCounter();
  const doc = parseDocument(await Deno.readTextFile(join(root, file)), { lineCounter: lines });
  if (doc.errors.length) {
    return [{ file, line: doc.errors[0].linePos?.[0]?.line, message: doc.errors[0].message.split("\n")[0] }];
  }
  const k = (doc.toJS() ?? {}) as Record<string, unknown>;
  if (k.kind !== "Kustomization" && k.kind !== "Component") {
    problems.push({ file, message: "kind is not Kustomization" });
  }

  const charts = Array.isArray(k.helmCharts) ? k.helmCharts as Record<string, unknown>[] : [];
  const valuesFiles: string[] = [];
  for (const [i, c] of charts.entries()) {
    const at = doc.getIn(["helmCharts", i], true) as { range?: [number] } | undefined;
    const line = at?.range ? lines.linePos(at.range[0]).line : undefined;
    const what = `helmCharts[${i}] (${c.name ?? "no name"})`;
    if (typeof c.repo !== "string" || !/^(https|oci):\/\//.test(c.repo)) {
      problems.push({ file, line, message: `${what} has no https:// or oci:// repo` });
    }
    if (typeof c.name !== "string" || !c.name) problems.push({ file, line, message: `${what} has no name` });
    if (typeof c.version !== "string" || !EXACT_VERSION.test(c.version)) {
      problems.push({ file, line, message: `${what} version '${c.version ?? ""}' is not an exact version` });
    }
    if (typeof c.releaseName !== "string") problems.push({ file, line, message: `${what} has no releaseName` });
    let values: Values = {};
    let valuesFile = file;
    for (const v of [c.valuesFile, ...(Array.isArray(c.additionalValuesFiles) ? c.additionalValuesFiles : [])]) {
      if (typeof v !== "string") continue;
      if (await exists(join(root, dir, v))) {
        valuesFiles.push(v);
        valuesFile = `${dir}/${v.replace(/^\.\//, "")}`;
        values = deepMerge(values, (parseDocument(await Deno.readTextFile(join(root, dir, v))).toJS() ?? {}) as Values);
      } else problems.push({ file, line, message: `${what}: values file ${v} does not exist` });
    }
    if (c.valuesInline && typeof c.valuesInline === "object") values = deepMerge(values, c.valuesInline as Values);
    if (typeof c.name === "string") {
      for (const message of checkChartValues(c.name, values)) {
        problems.push({ file: valuesFile, message: `${c.name}: ${message}` });
      }
    }
  }

  const images = Array.isArray(k.images) ? k.images as Record<string, unknown>[] : [];
  for (const img of images) {
    if (unpinned(imageRef(img.name ?? "image", img.newTag, img.digest))) {
      problems.push({ file, message: `image ${img.name} is not pinned` });
    }
  }

  const manifests = [...valuesFiles];
  const resources: string[] = [];
  for (const r of Array.isArray(k.resources) ? k.resources as string[] : []) {
    if (/^https?:\/\//.test(r)) continue;
    const path = join(root, dir, r);
    if (!await exists(path)) problems.push({ file, message: `resource ${r} does not exist` });
    else if ((await Deno.stat(path)).isFile && /\.ya?ml$/.test(r)) {
      manifests.push(r);
      resources.push(r);
    } else if (!relative(normalize(path), normalize(join(root, dir))).startsWith("..")) {
      problems.push({
        file,
        message:
          `resource ${r} contains this kustomization: kustomize refuses the cycle; put what both share in a folder of its own (base/) that each root lists`,
      });
    }
  }
  for (const p of patchFiles(k)) {
    if (await exists(join(root, dir, p))) manifests.push(p);
    else problems.push({ file, message: `patch ${p} does not exist` });
  }
  for (const m of manifests) problems.push(...await checkManifest(root, `${dir}/${m.replace(/^\.\//, "")}`));
  for (const r of resources) {
    problems.push(
      ...await checkPlainResource(root, `${dir}/${r.replace(/^\.\//, "")}`, {
        namespace: typeof k.namespace === "string" ? k.namespace : undefined,
        charts: charts.length > 0,
      }, scopeOf),
    );
  }

  for (const g of Array.isArray(k.generators) ? k.generators as string[] : []) {
    const gfile = `${dir}/${g.replace(/^\.\//, "")}`;
    if (!await exists(join(root, gfile))) {
      problems.push({ file, message: `generator ${g} does not exist` });
      continue;
    }
    const gen = (parseDocument(await Deno.readTextFile(join(root, gfile))).toJS() ?? {}) as Record<string, unknown>;
    if (gen.kind !== "ksops") continue;
    for (const f of Array.isArray(gen.files) ? gen.files as string[] : []) {
      const sfile = `${dirname(gfile)}/${f.replace(/^\.\//, "")}`;
      if (!ENCRYPTED_FILE.test(sfile)) problems.push({ file: gfile, message: `${f} is not named *.sops.yaml` });
      let text: string;
      try {
        text = await Deno.readTextFile(join(root, sfile));
      } catch {
        problems.push({ file: gfile, message: `${f} does not exist` });
        continue;
      }
      if (!parseSopsFile(text).meta) {
        problems.push({ file: gfile, message: `${f} is not encrypted (no sops metadata)` });
      }
    }
  }
  return problems;
}

/** The patch files a kustomization names (`patches[].path`, the older patch fields). */
function patchFiles(k: Record<string, unknown>): string[] {
  const list = (v: unknown) => Array.isArray(v) ? v : [];
  return [
    ...list(k.patches).map((p) => (p as { path?: unknown })?.path),
    ...list(k.patchesStrategicMerge).filter((p) => typeof p === "string" && !p.includes("\n")),
    ...list(k.patchesJson6902).map((p) => (p as { path?: unknown })?.path),
  ].filter((p): p is string => typeof p === "string");
}

/** `b` merged over `a`, maps recursively (as Helm merges values files). */
function deepMerge(a: Values, b: Values): Values {
  const out: Values = { ...a };
  for (const [key, v] of Object.entries(b)) {
    const old = out[key];
    out[key] = v && typeof v === "object" && !Array.isArray(v) && old && typeof old === "object" && !Array.isArray(old)
      ? deepMerge(old as Values, v as Values)
      : v;
  }
  return out;
}

/**
 * Without the validator's knowledge of scope every kind counts as namespaced, as kustomize's
 * namespace transformer treats a kind it does not know.
 */
const UNKNOWN_SCOPE: ScopeOf = () => undefined;

/**
 * Checks one plain manifest a kustomization lists under `resources:`: a kustomization `namespace:`
 * renames every other Namespace to itself (kustomize's "namespace transformation produces ID
 * conflict") and moves objects out of the namespace they name; a StorageClass next to a chart waits
 * for it (the chart brings its provisioner, and often a webhook that validates StorageClasses).
 */
async function checkPlainResource(
  root: string,
  file: string,
  kust: { namespace?: string; charts: boolean },
  scopeOf: ScopeOf,
): Promise<StackProblem[]> {
  const problems: StackProblem[] = [];
  for (const doc of parseAllDocuments(await Deno.readTextFile(join(root, file)))) {
    if (!("toJS" in doc) || doc.errors.length) continue;
    const o = doc.toJS() as {
      apiVersion?: string;
      kind?: string;
      metadata?: { name?: string; namespace?: string; annotations?: Record<string, string> };
    } | null;
    if (!o?.kind) continue;
    const name = o.metadata?.name;
    const ns = kust.namespace;
    if (ns && o.kind === "Namespace" && name !== ns) {
      problems.push({
        file,
        message:
          `Namespace ${name}: the kustomization's \`namespace: ${ns}\` renames it to ${ns}; drop \`namespace:\` from the kustomization and give each object its own`,
      });
    } else if (
      ns && scopeOf(o.apiVersion ?? "", o.kind) !== false && o.metadata?.namespace && o.metadata.namespace !== ns
    ) {
      problems.push({
        file,
        message:
          `${o.kind} ${o.metadata.namespace}/${name}: the kustomization's \`namespace: ${ns}\` moves it to ${ns}; drop \`namespace:\` from the kustomization and give each object its own`,
      });
    }
    if (
      kust.charts && o.kind === "StorageClass" &&
      !(Number(o.metadata?.annotations?.["argocd.argoproj.io/sync-wave"]) >= 1)
    ) {
      problems.push({
        file,
        message:
          `StorageClass ${name} syncs with the chart that serves it: give it argocd.argoproj.io/sync-wave "1" or later so the operator (and its webhook) runs first`,
      });
    }
  }
  return problems;
}

/**
 * Checks one manifest or values file: images pinned; a Namespace carries a Pod Security
 * `enforce` label, and anything but `restricted` is explained by a comment right above it.
 */
export async function checkManifest(root: string, file: string): Promise<StackProblem[]> {
  const problems: StackProblem[] = [];
  const text = await Deno.readTextFile(join(root, file));
  const lines = new LineCounter();
  for (const doc of parseAllDocuments(text, { lineCounter: lines })) {
    if (!("toJS" in doc)) continue;
    if (doc.errors.length) {
      problems.push({ file, line: doc.errors[0].linePos?.[0]?.line, message: doc.errors[0].message.split("\n")[0] });
      continue;
    }
    const value = doc.toJS() as Record<string, unknown> | null;
    if (!value) continue;
    for (const img of unpinnedImages(value)) problems.push({ file, message: `image not pinned: ${img}` });
    if (value.kind !== "Namespace") continue;
    const labels = doc.getIn(["metadata", "labels"], true);
    const pair = isMap(labels)
      ? labels.items.find((p) => isScalar(p.key) && p.key.value === "pod-security.kubernetes.io/enforce")
      : undefined;
    const name = (value.metadata as { name?: string })?.name;
    if (!pair || !isScalar(pair.value)) {
      problems.push({ file, message: `Namespace ${name} has no pod-security.kubernetes.io/enforce label` });
      continue;
    }
    const level = String(pair.value.value);
    const range = (pair.key as { range?: [number] }).range;
    const line = range ? lines.linePos(range[0]).line : undefined;
    if (level !== "restricted" && !whyAbove(text, line)) {
      problems.push({
        file,
        line,
        message: `Namespace ${name} enforces '${level}' without a comment above the label saying why`,
      });
    }
  }
  return problems;
}

/** Whether the comment lines right above line `line` (1-based) say why. */
function whyAbove(text: string, line: number | undefined): boolean {
  if (!line) return false;
  const lines = text.split("\n");
  const block: string[] = [];
  for (let i = line - 2; i >= 0 && lines[i].trim().startsWith("#"); i--) block.push(lines[i]);
  return /\bwhy\b/i.test(block.join("\n"));
}

/**
 * Every problem of every kustomization root, and of each environment as a whole; `scopeOf` says
 * which kinds are cluster-scoped (the validator's knowledge: Kubernetes' own kinds and the CRDs).
 */
export async function checkStacks(root: string, scopeOf: ScopeOf = UNKNOWN_SCOPE): Promise<StackProblem[]> {
  const all: StackProblem[] = [];
  for (const dir of await kustomizationRoots(root)) all.push(...await checkKustomization(root, dir, scopeOf));
  all.push(...await checkEnvironments(root));
  return all;
}

/** The StorageClasses an environment has without any component (kind's own class in dev). */
export const BUILTIN_STORAGE_CLASSES: Record<"prod" | "dev", readonly string[]> = { prod: [], dev: ["standard"] };

/** The files a kustomization root reads (its manifests, patches and values), its bases' included. */
async function rootFiles(root: string, dir: string, seen = new Set<string>()): Promise<string[]> {
  if (seen.has(dir)) return [];
  seen.add(dir);
  let k: Record<string, unknown>;
  try {
    k = (parseDocument(await Deno.readTextFile(join(root, dir, "kustomization.yaml"))).toJS() ?? {}) as Record<
      string,
      unknown
    >;
  } catch {
    return [];
  }
  const files: string[] = [];
  const local = (p: string) => normalize(join(dir, p));
  for (const c of Array.isArray(k.helmCharts) ? k.helmCharts as Record<string, unknown>[] : []) {
    for (const v of [c.valuesFile, ...(Array.isArray(c.additionalValuesFiles) ? c.additionalValuesFiles : [])]) {
      if (typeof v === "string") files.push(local(v));
    }
  }
  for (const p of patchFiles(k)) files.push(local(p));
  for (const r of Array.isArray(k.resources) ? k.resources as string[] : []) {
    if (/^https?:\/\//.test(r)) continue;
    const path = local(r);
    const stat = await Deno.stat(join(root, path)).catch(() => undefined);
    if (stat?.isFile) files.push(path);
    else if (stat?.isDirectory) files.push(...await rootFiles(root, path, seen));
  }
  return files;
}

/** Calls `fn` for every map in a parsed YAML value. */
function eachMap(value: unknown, fn: (o: Record<string, unknown>) => void): void {
  if (Array.isArray(value)) value.forEach((v) => eachMap(v, fn));
  else if (value && typeof value === "object") {
    fn(value as Record<string, unknown>);
    Object.values(value).forEach((v) => eachMap(v, fn));
  }
}

/**
 * The check that needs a whole environment (`prod`, `dev`: the components `root/components.json`
 * keeps there, each at its path for that environment): a StorageClass named anywhere (values,
 * claims, volumeClaimTemplates, CloudNativePG clusters) exists in that environment. LoadBalancer
 * addresses against the environment's pools are checked on the rendering (`lib/check/addresses.ts`),
 * where overlays have been applied.
 */
export async function checkEnvironments(root: string): Promise<StackProblem[]> {
  const list = await readComponents(root);
  const problems: StackProblem[] = [];
  for (const env of ["prod", "dev"] as const) {
    const docs: { file: string; value: unknown }[] = [];
    for (const stack of STACKS) {
      for (const c of list[stack] ?? []) {
        if (env === "dev" && c.dev?.exclude) continue;
        const dir = env === "dev" && c.dev?.path ? c.dev.path : `${stack}/${c.name}`;
        for (const file of await rootFiles(root, dir)) {
          const text = await Deno.readTextFile(join(root, file)).catch(() => "");
          for (const d of parseAllDocuments(text)) {
            if ("toJS" in d && !d.errors.length) docs.push({ file, value: d.toJS() });
          }
        }
      }
    }
    const classes = new Set<string>(BUILTIN_STORAGE_CLASSES[env]);
    for (const { value } of docs) {
      const o = value as { kind?: string; metadata?: { name?: string } };
      if (o?.kind === "StorageClass" && o.metadata?.name) classes.add(o.metadata.name);
    }
    const seen = new Set<string>();
    const report = (p: StackProblem) => {
      const key = `${p.file}\n${p.message}`;
      if (seen.has(key)) return;
      seen.add(key);
      problems.push(p);
    };
    for (const { file, value } of docs) {
      eachMap(value, (o) => {
        for (const key of ["storageClassName", "storageClass"]) {
          const sc = o[key];
          if (typeof sc === "string" && sc && !classes.has(sc)) {
            report({
              file,
              message: `StorageClass ${sc} does not exist in ${env} (there: ${
                [...classes].join(", ") || "none"
              }); leave the class out to use the cluster's default one`,
            });
          }
        }
      });
    }
  }
  return problems;
}

/** The stack findings of the repository at `repoRoot`. */
export async function checkStackFiles(
  repoRoot: string,
  apps: readonly AppSpec[],
  scopeOf: ScopeOf,
): Promise<Finding[]> {
  const problems = await checkStacks(repoRoot, scopeOf);
  // The longest matching path wins (system/cilium/dev before system/cilium).
  const byPath = [...apps].sort((a, b) => b.path.length - a.path.length);
  return problems.map((p) => {
    const owner = byPath.find((a) => p.file === a.path || p.file.startsWith(`${a.path}/`)) ??
      byPath.find((a) => p.file.startsWith(`${a.path.split("/").slice(0, 2).join("/")}/`));
    return {
      app: owner?.name ?? "cluster",
      check: "stacks",
      severity: "error",
      message: `${p.file}${p.line ? `:${p.line}` : ""}: ${p.message}`,
    };
  });
}

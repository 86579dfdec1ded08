/**
 * What an Application's source reads: every local file (its folder and whatever its
 * kustomizations reference outside it), the charts it inflates, the remote manifests it names
 * by URL, and its KSOPS generators. The render cache key and the build copy come from this.
 *
 * @module
 */

import { join, normalize, relative } from "node:path";
import { parse as parseYaml } from "yaml";
import { InputError } from "../errors.ts";
import type { ChartRef } from "./charts.ts";

const KUSTOMIZATION_FILES = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/** One chart inflated by one kustomization. */
export interface SourceChart extends ChartRef {
  /** The kustomization's folder, relative to the repository root. */
  readonly dir: string;
}

/** One KSOPS generator. */
export interface KsopsGenerator {
  /** The generator file, relative to the repository root. */
  readonly file: string;
  /** The kustomization folder that lists it (ksops runs there), relative to the repository root. */
  readonly dir: string;
  /** The encrypted files it reads, relative to the repository root. */
  readonly files: readonly string[];
}

/** Everything an Application's source reads. */
export interface SourceInfo {
  /** The source path (the app's folder), relative to the repository root. */
  readonly path: string;
  /** Every local file, relative to the repository root, sorted. */
  readonly files: readonly string[];
  /** The kustomization files, relative to the repository root. */
  readonly kustomizations: readonly string[];
  readonly charts: readonly SourceChart[];
  /** Remote manifests: the kustomization folder and the URL. */
  readonly remotes: readonly { readonly dir: string; readonly url: string }[];
  readonly ksops: readonly KsopsGenerator[];
  /** Generators and transformers run as plugins other than ksops (their output may vary). */
  readonly plugins: number;
}

const URL = /^https?:\/\//;
/** kustomize's remote git bases (`github.com/org/repo//path?ref=…`): left to kustomize. */
const GIT_BASE = /(^git@|^ssh:\/\/|\/\/.+\?ref=|\.git($|\/|\?)|^github\.com\/)/;

async function stat(path: string): Promise<Deno.FileInfo | undefined> {
  return await Deno.stat(path).catch(() => undefined);
}

async function kustomizationFile(absDir: string): Promise<string | undefined> {
  for (const f of KUSTOMIZATION_FILES) if ((await stat(join(absDir, f)))?.isFile) return f;
  return undefined;
}

function strings(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === "string");
  return [];
}

function paths(list: unknown, key: string): string[] {
  return Array.isArray(list)
    ? list.flatMap((e) => (e && typeof e === "object" ? strings((e as Record<string, unknown>)[key]) : []))
    : [];
}

/** Reads what the source at `path` (relative to `repoRoot`) uses. */
export async function readSource(repoRoot: string, path: string): Promise<SourceInfo> {
  const files = new Set<string>();
  const kustomizations: string[] = [];
  const charts: SourceChart[] = [];
  const remotes: { dir: string; url: string }[] = [];
  const ksops: KsopsGenerator[] = [];
  let plugins = 0;
  const visited = new Set<string>();

  const inside = (rel: string) => {
    if (rel.startsWith("..") || normalize(rel).startsWith("..")) {
      throw new InputError(`refers to ${rel}, outside the repository`, { file: path });
    }
    return rel;
  };

  const addTree = async (rel: string, skip: ReadonlySet<string>) => {
    const abs = join(repoRoot, rel);
    for await (const e of Deno.readDir(abs)) {
      const child = rel === "." ? e.name : `${rel}/${e.name}`;
      if (skip.has(child)) continue;
      if (e.isDirectory) await addTree(child, skip);
      else if (e.isFile || e.isSymlink) files.add(child);
    }
  };

  const visit = async (dir: string): Promise<void> => {
    if (visited.has(dir)) return;
    visited.add(dir);
    const abs = join(repoRoot, dir);
    const kfile = await kustomizationFile(abs);
    if (!kfile) {
      throw new InputError("has no kustomization.yaml (Argo CD builds a kustomize source from it)", { file: dir });
    }
    const kpath = `${dir}/${kfile}`;
    kustomizations.push(kpath);
    let k: Record<string, unknown>;
    try {
      k = (parseYaml(await Deno.readTextFile(join(repoRoot, kpath))) ?? {}) as Record<string, unknown>;
    } catch (err) {
      throw new InputError(`is not valid YAML: ${(err as Error).message.split("\n")[0]}`, { file: kpath });
    }
    const helmCharts = Array.isArray(k.helmCharts) ? k.helmCharts as Record<string, unknown>[] : [];
    // kustomize's default chart home (charts/) may hold charts a local `kustomize build --enable-helm` pulled.
    const skip = new Set<string>();
    if (helmCharts.length) skip.add(`${dir}/${(k.helmGlobals as { chartHome?: string })?.chartHome ?? "charts"}`);
    await addTree(dir, skip);

    for (const c of helmCharts) {
      if (typeof c.repo === "string" && typeof c.name === "string" && c.version !== undefined) {
        charts.push({ dir, repo: c.repo, name: c.name, version: String(c.version) });
      }
    }

    // Every field that names a file or folder; those outside `dir` are followed.
    const refs = [
      ...["resources", "components", "bases", "crds", "configurations", "generators", "transformers", "validators"]
        .flatMap((f) => strings(k[f])),
      ...strings(k.patchesStrategicMerge).filter((p) => !p.includes("\n")),
      ...paths(k.patches, "path"),
      ...paths(k.patchesJson6902, "path"),
      ...paths(k.replacements, "path"),
      ...paths(k.configMapGenerator, "files").map((f) => f.replace(/^[^=]*=/, "")),
      ...paths(k.secretGenerator, "files").map((f) => f.replace(/^[^=]*=/, "")),
      ...paths(k.configMapGenerator, "envs"),
      ...paths(k.secretGenerator, "envs"),
      ...paths(k.configMapGenerator, "env"),
      ...paths(k.secretGenerator, "env"),
      ...helmCharts.flatMap((c) => [...strings(c.valuesFile), ...strings(c.additionalValuesFiles)]),
      ...strings((k.openapi as { path?: string } | undefined)?.path),
    ];
    for (const r of refs) {
      if (r.includes("\n")) continue; // an inline generator or patch
      if (URL.test(r)) {
        if (!GIT_BASE.test(r)) remotes.push({ dir, url: r });
        continue;
      }
      if (GIT_BASE.test(r)) continue;
      const rel = inside(relative(repoRoot, join(abs, r)) || ".");
      const info = await stat(join(repoRoot, rel));
      if (!info) continue; // kustomize reports the missing file with its own message
      if (info.isDirectory) {
        if (rel !== dir && !rel.startsWith(`${dir}/`)) await visit(rel);
        else if (await kustomizationFile(join(repoRoot, rel))) await visit(rel);
      } else files.add(rel);
    }

    const generators = new Set(strings(k.generators));
    for (const g of [...generators, ...strings(k.transformers)]) {
      if (g.includes("\n") || URL.test(g)) continue;
      const gfile = relative(repoRoot, join(abs, g));
      if (!(await stat(join(repoRoot, gfile)))?.isFile) continue;
      let gen: Record<string, unknown>;
      try {
        gen = (parseYaml(await Deno.readTextFile(join(repoRoot, gfile))) ?? {}) as Record<string, unknown>;
      } catch {
        continue;
      }
      if (gen.kind !== "ksops" || !generators.has(g)) {
        if (JSON.stringify(gen.metadata ?? {}).includes("config.kubernetes.io/function")) plugins++;
        continue;
      }
      if (gen.secretFrom !== undefined) {
        throw new InputError("uses secretFrom, which the render's ksops stand-in does not serve yet", {
          file: gfile,
          hint: "list whole Secret manifests under files: (what `deno task secrets new` writes)",
        });
      }
      // ksops runs in the kustomization's folder: its files are relative to it.
      const list = strings(gen.files).map((f) => inside(relative(repoRoot, join(abs, f.replace(/^[^=]*=/, "")))));
      for (const f of list) files.add(f);
      ksops.push({ file: gfile, dir, files: list });
    }
  };

  await visit(path);
  return {
    path,
    files: [...files].sort(),
    kustomizations,
    charts,
    remotes,
    ksops,
    plugins,
  };
}

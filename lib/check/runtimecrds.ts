/**
 * CRDs an operator installs at run time (Cilium's), which no render contains: pinned in
 * `schemas/runtime-crds.yaml` by URL and sha256, fetched once into the chart cache, and read
 * from there by every later check (with no network).
 *
 * A source's `version` is a Renovate pin that moves with its chart; its sha256s cannot follow by
 * themselves, so `digestsFor` names the version they were taken from. A source whose two differ
 * is stale: no file of it is fetched, and the finding names `deno task charts crds`
 * ({@link refreshRuntimeCrdDigests}), which puts the sha256s of the new version's files there.
 *
 * @module
 */

import { join } from "node:path";
import { isMap, isScalar, isSeq, parse as parseYaml, parseAllDocuments, parseDocument, type Scalar } from "yaml";
import { HomelabError, InputError } from "../errors.ts";
import type { ChartCache } from "../render/charts.ts";
import type { Finding, KubeObject } from "../render/model.ts";
import { type CrdVersion, crdVersions } from "./validator.ts";
import { writeAtomic } from "../files.ts";

/** The list of pinned run-time CRDs, relative to the repository root. */
export const RUNTIME_CRDS_FILE = "schemas/runtime-crds.yaml";

/** One source of run-time CRDs (one operator at one version). */
export interface RuntimeCrdSource {
  readonly name: string;
  /** The component whose chart installs the operator (`system/cilium`). */
  readonly component: string;
  /** The chart's name in that component's `helmCharts`. */
  readonly chart: string;
  readonly version: string;
  /** The version whose files the sha256s are of: equal to `version` unless they are stale. */
  readonly digestsFor: string;
  readonly files: readonly { readonly url: string; readonly sha256: string }[];
}

/** The command that puts the sha256s of a source's files at its version into the file. */
export const REFRESH_COMMAND = "deno task charts crds";

/** Reads and checks `schemas/runtime-crds.yaml` (absent: no sources). */
export async function readRuntimeCrdSources(repoRoot: string): Promise<RuntimeCrdSource[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(join(repoRoot, RUNTIME_CRDS_FILE));
  } catch {
    return [];
  }
  const bad = (what: string) =>
    new InputError(what, {
      file: RUNTIME_CRDS_FILE,
      hint: "each source needs name, component, chart, version, digestsFor and files: [{url, sha256}] " +
        "(see the file's header)",
    });
  let doc: { sources?: unknown };
  try {
    doc = (parseYaml(text) ?? {}) as { sources?: unknown };
  } catch (err) {
    throw bad(`is not valid YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  if (!Array.isArray(doc.sources)) throw bad("has no `sources:` list");
  return doc.sources.map((s: Record<string, unknown>, i: number) => {
    for (const k of ["name", "component", "chart", "version", "digestsFor"]) {
      if (typeof s?.[k] !== "string" || !s[k]) throw bad(`sources[${i}] has no ${k}`);
    }
    if (!Array.isArray(s.files) || !s.files.length) throw bad(`sources[${i}] (${s.name}) lists no files`);
    for (const [j, f] of (s.files as Record<string, unknown>[]).entries()) {
      if (typeof f?.url !== "string" || !/^https?:\/\//.test(f.url)) {
        throw bad(`sources[${i}].files[${j}] has no http(s) url`);
      }
      if (typeof f.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(f.sha256)) {
        throw bad(`sources[${i}].files[${j}] (${f.url}) has no sha256 (64 hex digits, quoted)`);
      }
    }
    // `{version}` in a URL is the source's version: one pin for Renovate to move with the chart.
    const files = (s.files as { url: string; sha256: string }[])
      .map((f) => ({ url: f.url.replaceAll("{version}", String(s.version)), sha256: f.sha256 }));
    return { ...s, files } as unknown as RuntimeCrdSource;
  });
}

/** The parsed form of one cached CRD file, kept beside the schema cache. */
interface Parsed {
  readonly versions: CrdVersion[];
}

/**
 * The CRD versions of every pinned file: each fetched through the chart cache (once), its
 * digest compared with the pin, parsed once into `<cacheDir>/schemas/crds/<sha256>.json`. A
 * file that cannot be had becomes a finding (its kinds then show up as unknown), not an abort;
 * so does a stale source (its sha256s are of another version), whose files are not fetched.
 */
export async function loadRuntimeCrds(
  sources: readonly RuntimeCrdSource[],
  cache: ChartCache,
  cacheDir: string,
): Promise<{ crds: CrdVersion[]; findings: Finding[] }> {
  const parsedDir = join(cacheDir, "schemas", "crds");
  const findings: Finding[] = [];
  for (const s of sources.filter(stale)) {
    findings.push({
      app: "cluster",
      check: "schema",
      severity: "error",
      message: `${RUNTIME_CRDS_FILE}: ${s.name} is at version ${s.version}, but its sha256s are those of ` +
        `${s.digestsFor}'s files (digestsFor: ${s.digestsFor}), so its kinds are unknown. Run \`${REFRESH_COMMAND}\` ` +
        `where the URLs are reachable: it fetches ${s.version}'s files and puts their sha256s and digestsFor ` +
        `${s.version} there; review the diff and commit it`,
    });
  }
  const fresh = sources.filter((s) => !stale(s));
  // Each file in parallel; the results are read in the order of the list, so the same inputs
  // give the same CRDs and the same messages however the fetches finish.
  const results = await Promise.all(
    fresh.map((s) =>
      Promise.all(s.files.map(async (f): Promise<{ versions: CrdVersion[] } | { failure: string }> => {
        const from = `${RUNTIME_CRDS_FILE} (${s.name} ${s.version})`;
        const parsedFile = join(parsedDir, `${f.sha256}.json`);
        let parsed: Parsed | undefined;
        try {
          parsed = JSON.parse(await Deno.readTextFile(parsedFile)) as Parsed;
        } catch {
          // not parsed yet
        }
        if (!parsed) {
          let path: string;
          try {
            const got = await cache.remote(f.url);
            if (got.digest !== f.sha256) {
              throw new HomelabError(
                `has sha256 ${got.digest}, not the pinned ${f.sha256}: the file changed upstream or the pin is wrong`,
              );
            }
            path = got.path;
          } catch (err) {
            return { failure: `${f.url}: ${(err as Error).message.split("\n")[0]}` };
          }
          const text = await Deno.readTextFile(path);
          const versions: CrdVersion[] = [];
          for (const doc of parseAllDocuments(text)) {
            if (!("toJS" in doc)) continue;
            const o = doc.toJS() as KubeObject | null;
            if (o?.kind === "CustomResourceDefinition") versions.push(...crdVersions(o, from));
          }
          parsed = { versions };
          await Deno.mkdir(parsedDir, { recursive: true });
          await writeAtomic(parsedFile, JSON.stringify(parsed));
        }
        return { versions: parsed.versions.map((v) => ({ ...v, from })) };
      }))
    ),
  );
  const crds: CrdVersion[] = [];
  for (const [i, s] of fresh.entries()) {
    const list: string[] = [];
    for (const r of results[i]) {
      if ("failure" in r) list.push(r.failure);
      else crds.push(...r.versions);
    }
    if (!list.length) continue;
    findings.push({
      app: "cluster",
      check: "schema",
      severity: "error",
      message: `${RUNTIME_CRDS_FILE}: ${list.length} of ${s.files.length} pinned CRD files of ${s.name} ${s.version} ` +
        `are not at hand, so their kinds are unknown (first: ${list[0]}). Run \`deno task check\` once where the ` +
        "URLs are reachable (without --offline); the files are cached from then on",
    });
  }
  return { crds, findings };
}

/** Whether a source's sha256s were taken from another version than its own. */
export function stale(source: RuntimeCrdSource): boolean {
  return source.digestsFor !== source.version;
}

/**
 * Sources whose version no longer matches the chart their component pins (the chart was bumped,
 * the schemas were not).
 */
export async function runtimeCrdDrift(repoRoot: string, sources: readonly RuntimeCrdSource[]): Promise<Finding[]> {
  const findings: Finding[] = [];
  for (const s of sources) {
    let k: { helmCharts?: { name?: string; version?: string }[] } | null;
    try {
      k = parseYaml(await Deno.readTextFile(join(repoRoot, s.component, "kustomization.yaml")));
    } catch {
      findings.push({
        app: "cluster",
        check: "schema",
        severity: "error",
        message: `${RUNTIME_CRDS_FILE}: source ${s.name} names component ${s.component}, which has no ` +
          "readable kustomization.yaml",
      });
      continue;
    }
    const chart = (k?.helmCharts ?? []).find((c) => c.name === s.chart);
    if (chart && String(chart.version) !== s.version) {
      findings.push({
        app: "cluster",
        check: "schema",
        severity: "error",
        message: `${RUNTIME_CRDS_FILE}: source ${s.name} pins ${s.version} but ${s.component} installs chart ` +
          `${s.chart} ${chart.version}: put ${chart.version} in its version, then run \`${REFRESH_COMMAND}\` for the sha256s`,
      });
    }
  }
  return findings;
}

/**
 * The CRD objects of every pinned file that is at hand (for `check --server`, which installs
 * them in the local API server so their custom resources can be judged there too).
 */
export async function runtimeCrdObjects(
  sources: readonly RuntimeCrdSource[],
  cache: ChartCache,
): Promise<KubeObject[]> {
  const out: KubeObject[] = [];
  for (const f of sources.filter((s) => !stale(s)).flatMap((s) => s.files)) {
    let path: string;
    try {
      const got = await cache.remote(f.url);
      if (got.digest !== f.sha256) continue;
      path = got.path;
    } catch {
      continue; // reported by loadRuntimeCrds
    }
    for (const doc of parseAllDocuments(await Deno.readTextFile(path))) {
      if (!("toJS" in doc)) continue;
      const o = doc.toJS() as KubeObject | null;
      if (o?.kind === "CustomResourceDefinition") out.push(o);
    }
  }
  return out;
}

/** What {@link refreshRuntimeCrdDigests} did to one source. */
export interface Refreshed {
  readonly name: string;
  readonly version: string;
  readonly files: number;
  /** How many sha256s differ from those the file had. */
  readonly changed: number;
  /** The version the file's sha256s were of before. */
  readonly from: string;
}

/**
 * Fetches every file of every source at its `version` (through the chart cache) and writes
 * their sha256s, and `digestsFor: <version>`, into `schemas/runtime-crds.yaml` in place: the
 * rest of the file (comments, order, quoting) stays as it is. Nothing is written unless every
 * file could be had.
 */
export async function refreshRuntimeCrdDigests(repoRoot: string, cache: ChartCache): Promise<Refreshed[]> {
  const sources = await readRuntimeCrdSources(repoRoot);
  if (!sources.length) {
    throw new InputError("lists no sources (or does not exist)", { file: RUNTIME_CRDS_FILE });
  }
  const digests = await Promise.all(sources.map((s) => Promise.all(s.files.map((f) => cache.remote(f.url)))));
  const path = join(repoRoot, RUNTIME_CRDS_FILE);
  const text = await Deno.readTextFile(path);
  const doc = parseDocument(text);
  const edits: { at: [number, number]; text: string }[] = [];
  const list = doc.get("sources");
  if (!isSeq(list)) throw new InputError("has no `sources:` list", { file: RUNTIME_CRDS_FILE });
  list.items.forEach((node, i) => {
    if (!isMap(node)) return;
    const digestsFor = node.get("digestsFor", true);
    if (isScalar(digestsFor) && digestsFor.range) {
      edits.push({ at: [digestsFor.range[0], digestsFor.range[1]], text: sources[i].version });
    }
    const files = node.get("files");
    if (!isSeq(files)) return;
    files.items.forEach((f, j) => {
      const sha = isMap(f) ? f.get("sha256", true) as Scalar | undefined : undefined;
      if (sha?.range) edits.push({ at: [sha.range[0], sha.range[1]], text: `"${digests[i][j].digest}"` });
    });
  });
  let out = text;
  for (const e of edits.sort((a, b) => b.at[0] - a.at[0])) out = out.slice(0, e.at[0]) + e.text + out.slice(e.at[1]);
  if (out !== text) await writeAtomic(path, out);
  return sources.map((s, i) => ({
    name: s.name,
    version: s.version,
    files: s.files.length,
    changed: s.files.filter((f, j) => f.sha256 !== digests[i][j].digest).length,
    from: s.digestsFor,
  }));
}

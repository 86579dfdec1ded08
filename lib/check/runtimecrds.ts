/**
 * CRDs an operator installs at run time (Cilium's), which no render contains: pinned in
 * `schemas/runtime-crds.yaml` by URL and sha256, fetched once into the chart cache, and read
 * from there by every later check (with no network).
 *
 * @module
 */

import { join } from "node:path";
import { parse as parseYaml, parseAllDocuments } from "yaml";
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
  readonly files: readonly { readonly url: string; readonly sha256: string }[];
}

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
      hint: "each source needs name, component, chart, version and files: [{url, sha256}] (see the file's header)",
    });
  let doc: { sources?: unknown };
  try {
    doc = (parseYaml(text) ?? {}) as { sources?: unknown };
  } catch (err) {
    throw bad(`is not valid YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  if (!Array.isArray(doc.sources)) throw bad("has no `sources:` list");
  return doc.sources.map((s: Record<string, unknown>, i: number) => {
    for (const k of ["name", "component", "chart", "version"]) {
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
 * file that cannot be had becomes a finding (its kinds then show up as unknown), not an abort.
 */
export async function loadRuntimeCrds(
  sources: readonly RuntimeCrdSource[],
  cache: ChartCache,
  cacheDir: string,
): Promise<{ crds: CrdVersion[]; findings: Finding[] }> {
  const parsedDir = join(cacheDir, "schemas", "crds");
  // Each file in parallel; the results are read in the order of the list, so the same inputs
  // give the same CRDs and the same messages however the fetches finish.
  const results = await Promise.all(
    sources.map((s) =>
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
  const findings: Finding[] = [];
  for (const [i, s] of sources.entries()) {
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
          `${s.chart} ${chart.version}: put ${chart.version} in its version and update each sha256`,
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
  for (const f of sources.flatMap((s) => s.files)) {
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

/**
 * The cluster's Pod Security configuration for the checks: {@link clusterAdmission} (talhelper
 * genconfig with a throw-away secret bundle), kept in `<cacheDir>/check/` keyed by every input
 * that can change it (the Talos files other than secrets, and the talhelper pin), so an
 * unchanged tree does not run talhelper again.
 *
 * @module
 */

import { join, relative } from "node:path";
import type { Runner } from "../cmd.ts";
import { sha256 } from "../digest.ts";
import { clusterAdmission, type PodSecurityConfiguration } from "../talos/admission.ts";
import { toolSpec } from "../tools.ts";
import { writeAtomic } from "../files.ts";

const FORMAT = 2;

async function talosInputs(repoRoot: string): Promise<[string, string][]> {
  const files: [string, string][] = [];
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(dir)) {
      const path = join(dir, e.name);
      const rel = relative(repoRoot, path);
      // Generated machine configs (and their staging folders) hold secrets and are not inputs.
      if (e.isDirectory && rel !== "talos/clusterconfig" && !e.name.startsWith(".clusterconfig")) await walk(path);
      else if (e.isFile && !e.name.endsWith(".sops.yaml")) files.push([rel, await Deno.readTextFile(path)]);
    }
  };
  await walk(join(repoRoot, "talos"));
  return files.sort(([a], [b]) => a.localeCompare(b));
}

/** What the checks need of the cluster's admission configuration. */
export interface CachedAdmission {
  readonly podSecurity: PodSecurityConfiguration;
  /** The AdmissionConfiguration the API server is given (for `check --server`). */
  readonly admissionConfigYaml: string;
}

/** The PodSecurity configuration Talos gives the API server, from the cache when unchanged. */
export async function podSecurityConfig(
  runner: Runner,
  repoRoot: string,
  cacheDir: string,
): Promise<PodSecurityConfiguration> {
  return (await admissionConfig(runner, repoRoot, cacheDir)).podSecurity;
}

/** The admission configuration Talos gives the API server, from the cache when unchanged. */
export async function admissionConfig(
  runner: Runner,
  repoRoot: string,
  cacheDir: string,
): Promise<CachedAdmission> {
  const key = await sha256(JSON.stringify({
    v: FORMAT,
    talhelper: toolSpec("talhelper")?.version,
    files: await talosInputs(repoRoot),
  }));
  const file = join(cacheDir, "check", `admission-${key}.json`);
  try {
    return JSON.parse(await Deno.readTextFile(file)) as CachedAdmission;
  } catch {
    // not cached yet
  }
  const { podSecurity, admissionConfigYaml } = await clusterAdmission(runner, repoRoot);
  await writeAtomic(file, JSON.stringify({ podSecurity, admissionConfigYaml }) + "\n");
  return { podSecurity, admissionConfigYaml };
}

/**
 * Paths: finding executables on a search path (without reading the process environment), and
 * the paths a user types, taken from where they stand.
 *
 * @module
 */

import { delimiter, isAbsolute, join, relative, resolve } from "node:path";
import { UsageError } from "./errors.ts";

/**
 * A path the user typed (relative to `cwd`, where they stand, or absolute) as a path relative to
 * the repository `root`; a path outside the repository is a usage error, `why` its hint.
 */
export function repoPath(root: string, cwd: string, arg: string, why: string): string {
  const rel = relative(root, resolve(cwd, arg));
  if (rel.startsWith("..") || isAbsolute(rel)) throw new UsageError(`${arg} is outside the repository (${root})`, why);
  return rel;
}

/** A path the user typed, made absolute from where they stand (`cwd`). */
export function userPath(cwd: string, arg: string): string {
  return resolve(cwd, arg);
}

/** Whether `path` is a regular file with an execute bit set. */
export async function isExecutable(path: string): Promise<boolean> {
  try {
    const info = await Deno.stat(path);
    return info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0;
  } catch {
    return false;
  }
}

/**
 * The first executable called `name` in the directories of `searchPath` (a `PATH` value).
 *
 * ```ts
 * await findOnPath("sh", "/usr/bin:/bin"); // "/usr/bin/sh"
 * ```
 */
export async function findOnPath(name: string, searchPath: string): Promise<string | undefined> {
  if (name.includes("/")) return (await isExecutable(name)) ? name : undefined;
  for (const dir of searchPath.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

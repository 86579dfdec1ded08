/**
 * Finding executables on a search path, without reading the process environment.
 *
 * @module
 */

import { delimiter, join } from "node:path";

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

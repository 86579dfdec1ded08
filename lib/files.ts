/**
 * Files: whether a path exists, and writing a file so that readers see the old content or the
 * new, never half of it.
 *
 * @module
 */

/** Whether anything (file, folder, link target) exists at `path`. */
export async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/**
 * Writes a file through a temporary name beside it and a rename, so readers never see half of it;
 * the temporary file is removed when writing fails. `mode` applies to a file made anew.
 */
export async function writeAtomic(
  path: string,
  data: string | Uint8Array,
  options: { mode?: number } = {},
): Promise<void> {
  const tmp = `${path}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    if (typeof data === "string") await Deno.writeTextFile(tmp, data, options);
    else await Deno.writeFile(tmp, data, options);
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
}

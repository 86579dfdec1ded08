/**
 * Files: whether a path exists.
 *
 * @module
 */

/** Whether anything (file, folder, link target) exists at `path`. */
export async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

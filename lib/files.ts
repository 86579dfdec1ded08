/**
 * Files: whether a path exists, and writing files so that a reader, a failure or a Ctrl-C never
 * sees half of a change: one file by rename, several all together or none.
 *
 * ```ts
 * if (!await exists("site.yaml")) await writeAtomic("site.yaml", text);
 * await writeAllOrNothing(new Map([["a.yaml", a], ["b.yaml", b]]));
 * ```
 *
 * @module
 */

import { dirname } from "node:path";
import { interruptedWith, onExit } from "./cleanup.ts";
import { HomelabError, osErrorAt } from "./errors.ts";

/** Whether anything (file, folder, link target) exists at `path`. */
export async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/**
 * Writes a file through a temporary name beside it and a rename, so readers never see half of it;
 * its folder is made when missing, and the temporary file is removed when writing fails (a file
 * system's refusal is a paragraph naming the path). `mode` applies to a file made anew.
 * Ciphertext and public data only.
 */
export async function writeAtomic(
  path: string,
  data: string | Uint8Array,
  options: { mode?: number } = {},
): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true }).catch((err) => {
    throw osErrorAt(err, dirname(path), "mkdir");
  });
  const tmp = `${path}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    if (typeof data === "string") await Deno.writeTextFile(tmp, data, options);
    else await Deno.writeFile(tmp, data, options);
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw osErrorAt(err, path, "writefile");
  }
}

/**
 * Writes every file of `files` (path → text), or none of them: each is first written beside its
 * target, then all are renamed into place in one uninterrupted step (no signal is handled in
 * between). A failure puts back what was there; an interrupt while staging removes the staged
 * copies; folders made for them go too. Ciphertext and public data only.
 */
export async function writeAllOrNothing(files: ReadonlyMap<string, string>): Promise<void> {
  const staged: [tmp: string, path: string][] = [];
  const removeStaged = onExit(() => {
    for (const [tmp] of staged) {
      try {
        Deno.removeSync(tmp);
      } catch {
        // renamed into place, or never written
      }
    }
  });
  // Folders made for the new files: removed again when the files do not land.
  const made: string[] = [];
  try {
    for (const [path, text] of files) {
      const missing = await topMissing(dirname(path));
      await Deno.mkdir(dirname(path), { recursive: true }).catch((err) => {
        throw osErrorAt(err, dirname(path), "mkdir");
      });
      if (missing) made.push(missing);
      const tmp = `${path}.${crypto.randomUUID().slice(0, 8)}.tmp`;
      staged.push([tmp, path]);
      await Deno.writeTextFile(tmp, text).catch((err) => {
        throw osErrorAt(err, path, "writefile");
      });
    }
    // Interrupted while staging: the exit path is removing the staged copies; change nothing.
    if (interruptedWith() !== undefined) throw new HomelabError("interrupted; nothing was changed");
    // From here on nothing is awaited: the files change together, before a Ctrl-C is seen.
    const originals = staged.map(([, path]) => {
      try {
        return Deno.readFileSync(path);
      } catch {
        return undefined;
      }
    });
    let done = 0;
    try {
      for (const [tmp, path] of staged) {
        Deno.renameSync(tmp, path);
        done++;
      }
    } catch (err) {
      for (let i = 0; i < done; i++) {
        const original = originals[i];
        if (original === undefined) Deno.removeSync(staged[i][1]);
        else Deno.writeFileSync(staged[i][1], original);
      }
      throw osErrorAt(err, staged[done][1], "writefile");
    }
    made.length = 0;
  } finally {
    await removeStaged();
    for (const dir of made.reverse()) await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** The outermost folder of `dir` and its parents that does not exist yet; undefined when `dir` exists. */
async function topMissing(dir: string): Promise<string | undefined> {
  let top: string | undefined;
  for (let d = dir; d !== dirname(d); d = dirname(d)) {
    if (await Deno.lstat(d).then(() => true, () => false)) break; // a dangling link counts
    top = d;
  }
  return top;
}

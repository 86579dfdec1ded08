/**
 * sops, run through the command model from the repository root (so `.sops.yaml`'s path rules
 * match repository-relative paths). Plaintext goes in through standard input and comes out
 * through standard output, never through a file in the repository.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { type Arg, cmd, type Command, CommandError, type Runner, type Secret, secret } from "../cmd.ts";
import { interruptedWith, onExit } from "../cleanup.ts";
import { HomelabError, osErrorAt } from "../errors.ts";

const ENV = { SOPS_DISABLE_VERSION_CHECK: "1" };
/** sops's exit code when an edit left the file as it was. */
const UNCHANGED = 200;

/** Writes `text` next to `path` and renames it into place (ciphertext and public data only). */
export async function writeAtomic(path: string, text: string): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true }).catch((err) => {
    throw osErrorAt(err, dirname(path), "mkdir");
  });
  const tmp = `${path}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    await Deno.writeTextFile(tmp, text);
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
 * copies. Ciphertext and public data only.
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
  try {
    for (const [path, text] of files) {
      await Deno.mkdir(dirname(path), { recursive: true }).catch((err) => {
        throw osErrorAt(err, dirname(path), "mkdir");
      });
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
  } finally {
    await removeStaged();
  }
}

/** sops operations on files given relative to `root`. */
export class Sops {
  /** `config`: another `.sops.yaml` to take the creation rules from (a file in `root`, by its name). */
  constructor(readonly runner: Runner, readonly root: string, readonly config?: string) {}

  #cmd(
    args: Arg[],
    options: Pick<Command, "stdin" | "secretOutput" | "readOnly" | "inherit" | "guarded"> & {
      env?: Record<string, Arg>;
    } = {},
  ) {
    const config: Record<string, string> = this.config === undefined ? {} : { SOPS_CONFIG: this.config };
    return cmd("sops", args, { cwd: this.root, ...options, env: { ...ENV, ...config, ...options.env } });
  }

  /** Encrypts `plaintext` as the file `relPath` would be (its creation rule) and returns the ciphertext. */
  async encrypt(relPath: string, plaintext: Secret): Promise<string> {
    const type = relPath.endsWith(".json") ? "json" : "yaml";
    return (await this.runner.run(this.#cmd(
      ["encrypt", "--filename-override", relPath, "--input-type", type, "--output-type", type],
      { stdin: plaintext, readOnly: true },
    ))).stdout;
  }

  /** Encrypts `plaintext` and writes the ciphertext to `relPath`. */
  async encryptTo(relPath: string, plaintext: Secret): Promise<void> {
    const ciphertext = await this.encrypt(relPath, plaintext);
    await writeAtomic(join(this.root, relPath), ciphertext);
  }

  /** Encrypts a plaintext file where it is. */
  async encryptInPlace(relPath: string): Promise<void> {
    await this.runner.run(this.#cmd(["encrypt", "--in-place", relPath]));
  }

  /** The decrypted content, held as a secret. `env` overrides where sops finds keys. */
  async decrypt(relPath: string, env?: Record<string, Arg>): Promise<Secret> {
    const r = await this.runner.run(this.#cmd(["decrypt", relPath], { secretOutput: true, readOnly: true, env }));
    return secret(r.stdout);
  }

  /** Decrypts to this process's standard output; nothing is kept. */
  async decryptToStdout(relPath: string): Promise<void> {
    await this.runner.run(this.#cmd(["decrypt", relPath], { inherit: true, readOnly: true }));
  }

  /**
   * Opens `path` in $EDITOR through `sops edit`; its plaintext copy lives in `tmpdir`. sops and the
   * editor die with this process, however it ends. False when the file was left unchanged.
   */
  async edit(path: string, tmpdir: string): Promise<boolean> {
    try {
      await this.runner.run(this.#cmd(["edit", path], { inherit: true, guarded: true, env: { TMPDIR: tmpdir } }));
      return true;
    } catch (err) {
      if (err instanceof CommandError && err.code === UNCHANGED) return false;
      throw err;
    }
  }

  /** Re-wraps the data key for the recipients `.sops.yaml` gives the file now. */
  async updateKeys(relPath: string): Promise<void> {
    await this.runner.run(this.#cmd(["updatekeys", "--yes", relPath]));
  }

  /** Re-encrypts every value with a fresh data key. */
  async rotateDataKey(relPath: string): Promise<void> {
    await this.runner.run(this.#cmd(["rotate", "--in-place", relPath]));
  }
}

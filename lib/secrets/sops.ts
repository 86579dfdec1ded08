/**
 * sops, run through the command model from the repository root (so `.sops.yaml`'s path rules
 * match repository-relative paths). Plaintext goes in through standard input and comes out
 * through standard output, never through a file in the repository.
 *
 * @module
 */

import { join } from "node:path";
import { type Arg, cmd, type Command, CommandError, type Runner, type Secret, secret } from "../cmd.ts";
import { writeAtomic } from "../files.ts";

const ENV = { SOPS_DISABLE_VERSION_CHECK: "1" };
/** sops's exit code when an edit left the file as it was. */
const UNCHANGED = 200;

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

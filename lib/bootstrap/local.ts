/**
 * `deno task dev --local`: Argo CD in the dev cluster follows this working copy, not the pushed
 * branch. A snapshot of the work tree (tracked and untracked files git does not ignore) is
 * committed into a bare repository of its own, `.dev/serve/homelab.git` (git-ignored), with the
 * stacks' secrets re-encrypted for the dev cluster's key; `git daemon` serves it on the kind
 * network's gateway address, which the kind nodes reach.
 *
 * Nothing of the owner's changes: the snapshot is built in a temporary index, its objects go
 * into the served repository (which borrows the owner's objects through `alternates`), the
 * plaintext of a secret only passes through sops's pipes, and the owner's files, index and
 * branches stay as they are. The daemon is a child of the task: it serves while `dev --local`
 * runs and stops with it (Ctrl-C ends the serving).
 *
 * @module
 */

import { join } from "node:path";
import { onExit } from "../cleanup.ts";
import { cmd, type Daemon, type Runner, type Secret } from "../cmd.ts";
import { gitUrl, serveGit } from "../gitdaemon.ts";
import { placeholderYaml } from "../render/ksops.ts";
import { HomelabError } from "../errors.ts";
import { type SecretsContext, sopsOf } from "../secrets/context.ts";
import { exists } from "../files.ts";
import { PATHS } from "../repo.ts";

/** Where the served repository lives, under the repository root. */
export const SERVE_DIR = ".dev/serve";
/** Its name in the URL. */
export const SERVED_REPO = "homelab.git";
/** The branch Argo CD follows. */
export const LOCAL_BRANCH = "dev-local";

const AUTHOR = {
  GIT_AUTHOR_NAME: "homelab dev",
  GIT_AUTHOR_EMAIL: "dev@homelab.invalid",
  GIT_COMMITTER_NAME: "homelab dev",
  GIT_COMMITTER_EMAIL: "dev@homelab.invalid",
};

/** The working copy, snapshotted and served. */
export class LocalRepo {
  readonly bare: string;

  /** `devRecipient` gives the dev key's recipient, or undefined when secrets stay as they are. */
  constructor(readonly ctx: SecretsContext, readonly devRecipient: () => Promise<string | undefined>) {
    this.bare = join(ctx.root, SERVE_DIR, SERVED_REPO);
  }

  get #runner(): Runner {
    return this.ctx.runner;
  }

  async #git(args: string[], env: Record<string, string> = {}, stdin?: string): Promise<string> {
    return (await this.#runner.run(cmd("git", args, { cwd: this.ctx.root, env, stdin, readOnly: true }))).stdout.trim();
  }

  /** The served bare repository, made once; it borrows the owner's objects. */
  async #ensureBare(): Promise<void> {
    if (await exists(join(this.bare, "HEAD"))) return;
    await Deno.mkdir(this.bare, { recursive: true });
    await this.#git(["init", "--bare", "-q", this.bare]);
    await Deno.writeTextFile(
      join(this.bare, "objects", "info", "alternates"),
      `${join(this.ctx.root, ".git", "objects")}\n`,
    );
  }

  /**
   * Runs `fn` with a temporary index holding the work tree (the environment that uses it, and
   * its tree); the index is removed when `fn` ends.
   */
  async #staged<T>(fn: (env: Record<string, string>, tree: string) => Promise<T>): Promise<T> {
    await this.#ensureBare();
    const dir = await Deno.makeTempDir({ prefix: "homelab-local-" });
    const remove = onExit(() => Deno.remove(dir, { recursive: true }).catch(() => {}));
    try {
      const env = {
        GIT_INDEX_FILE: join(dir, "index"),
        GIT_OBJECT_DIRECTORY: join(this.bare, "objects"),
        GIT_ALTERNATE_OBJECT_DIRECTORIES: join(this.ctx.root, ".git", "objects"),
      };
      await this.#git(["read-tree", "HEAD"], env);
      await this.#git(["add", "-A", "."], env);
      return await fn(env, await this.#git(["write-tree"], env));
    } finally {
      await remove();
    }
  }

  /** The tree of the work tree now (before secrets are re-encrypted). */
  sourceTree(): Promise<string> {
    return this.#staged((_, tree) => Promise.resolve(tree));
  }

  /** The source tree the served branch was made from, when there is one. */
  async servedSource(): Promise<string | undefined> {
    const r = await this.#runner.run(
      cmd("git", ["--git-dir", this.bare, "log", "-1", "--format=%B", LOCAL_BRANCH], { readOnly: true }),
      { check: false },
    );
    return r.code === 0 ? /^source-tree: (\w+)$/m.exec(r.stdout)?.[1] : undefined;
  }

  /**
   * Commits a snapshot of the work tree to the served branch, every stack secret the owner can
   * open re-encrypted for the dev key, and each one it cannot open replaced by the same Secret with
   * placeholder values (encrypted for the dev key too). Returns the secrets re-encrypted and,
   * among them, those with placeholder values.
   */
  snapshot(): Promise<{ commit: string; reencrypted: string[]; locked: string[] }> {
    return this.#staged((env, source) => this.#snapshot(env, source));
  }

  async #snapshot(
    env: Record<string, string>,
    source: string,
  ): Promise<{ commit: string; reencrypted: string[]; locked: string[] }> {
    const recipient = await this.devRecipient();
    const files = recipient === undefined
      ? []
      : (await this.#git(["ls-files", "-z"], env)).split("\0").filter((f) =>
        /^(system|platform|apps|root)\/.+\.sops\.ya?ml$/.test(f) && f !== PATHS.argocdKey
      );
    const reencrypted: string[] = [];
    const locked: string[] = [];
    const sops = sopsOf(this.ctx);
    for (const file of files) {
      let plain: Secret | string;
      try {
        plain = await sops.decrypt(file);
      } catch {
        // No key of the owner's opens it: dev gets the same Secret with placeholder values, so its
        // Application syncs instead of failing (and holding back every later wave).
        locked.push(file);
        plain = await placeholderYaml(await Deno.readTextFile(join(this.ctx.root, file)));
      }
      // Run from / (no .sops.yaml there), so only the dev key is a recipient.
      const ciphertext = (await this.#runner.run(cmd("sops", [
        "encrypt",
        "--age",
        recipient!,
        "--encrypted-regex",
        "^(data|stringData)$",
        "--filename-override",
        file.split("/").pop()!,
        "--input-type",
        "yaml",
        "--output-type",
        "yaml",
      ], { cwd: "/", stdin: plain, readOnly: true, env: { SOPS_DISABLE_VERSION_CHECK: "1" } }))).stdout;
      const blob = await this.#git(["hash-object", "-w", "--stdin"], env, ciphertext);
      await this.#git(["update-index", "--cacheinfo", `100644,${blob},${file}`], env);
      if (!locked.includes(file)) reencrypted.push(file);
    }
    const tree = await this.#git(["write-tree"], env);
    const head = await this.#git(["rev-parse", "HEAD"]);
    const commit = await this.#git([
      "commit-tree",
      tree,
      "-p",
      head,
      "-m",
      `dev --local: the working copy, secrets for the dev key\n\nsource-tree: ${source}`,
    ], { ...env, ...AUTHOR });
    await this.#git(["--git-dir", this.bare, "update-ref", `refs/heads/${LOCAL_BRANCH}`, commit]);
    return { commit, reencrypted, locked };
  }

  /** `git daemon` serving the bare repository on `address:port`. */
  async serve(address: string, port: number): Promise<Daemon> {
    const serveDir = join(this.ctx.root, SERVE_DIR);
    const { daemon } = await serveGit(this.#runner, {
      base: serveDir,
      repo: SERVED_REPO,
      branch: LOCAL_BRANCH,
      address,
      port,
      logFile: join(serveDir, "daemon.log"),
      hint: `is port ${port} taken on ${address}? (${join(SERVE_DIR, "daemon.log")} has the daemon's log)`,
    });
    return daemon;
  }

  /** The URL Argo CD fetches from. */
  url(address: string, port: number): string {
    return gitUrl(address, port, SERVED_REPO);
  }
}

/** The kind network's gateway: the host address the kind nodes reach. */
export async function kindGateway(runner: Runner): Promise<string> {
  const out = await runner.output(cmd("docker", [
    "network",
    "inspect",
    "kind",
    "--format",
    "{{range .IPAM.Config}}{{.Gateway}} {{end}}",
  ], { readOnly: true }));
  const v4 = out.split(/\s+/).find((a) => /^\d+\.\d+\.\d+\.\d+$/.test(a));
  if (!v4) throw new HomelabError(`the docker network 'kind' has no IPv4 gateway (docker said: ${out || "nothing"})`);
  return v4;
}

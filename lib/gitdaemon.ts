/**
 * `git daemon` serving the repositories of one folder to Argo CD (dev's kind nodes, the
 * rehearsal's repo-server), started through the command model as a daemon of the task and
 * returned once it answers: `git ls-remote` of the branch Argo CD will follow succeeds.
 *
 * ```ts
 * const { daemon, url } = await serveGit(runner, { base, repo: "homelab.git", branch: "main", address: "127.0.0.1", port, logFile });
 * ```
 *
 * @module
 */

import { cmd, type Daemon, type Runner, startDaemon } from "./cmd.ts";
import { HomelabError } from "./errors.ts";
import { poll } from "./poll.ts";

/** What {@link serveGit} serves, and where. */
export interface GitServe {
  /** The folder whose repositories are served (`--base-path`). */
  readonly base: string;
  /** The repository's name under `base`, as it appears in the URL. */
  readonly repo: string;
  /** The branch that must be served before the daemon counts as ready. */
  readonly branch: string;
  readonly address: string;
  readonly port: number;
  readonly logFile: string;
  /** Shown in the error when it does not serve (`its log is …`, `is the port taken?`). */
  readonly hint?: string;
  readonly env?: Record<string, string>;
}

/** The URL of `repo` served on `address:port`. */
export function gitUrl(address: string, port: number, repo: string): string {
  return `git://${address.includes(":") ? `[${address}]` : address}:${port}/${repo}`;
}

/** Starts `git daemon` for `s.base` and waits until it serves `s.branch` of `s.repo`; see the module documentation. */
export async function serveGit(runner: Runner, s: GitServe): Promise<{ daemon: Daemon; url: string }> {
  const daemon = await startDaemon(
    runner,
    cmd("git", [
      "daemon",
      "--reuseaddr",
      "--export-all",
      "--informative-errors",
      `--base-path=${s.base}`,
      `--listen=${s.address}`,
      `--port=${s.port}`,
      s.base,
    ], { env: s.env }),
    s.logFile,
  );
  const url = gitUrl(s.address, s.port, s.repo);
  const served = await poll(async () => {
    const r = await runner.run(
      cmd("git", ["ls-remote", url, s.branch], { readOnly: true, timeout: 5_000, env: s.env }),
      { check: false },
    );
    return r.code === 0 && r.stdout.trim() ? true : undefined;
  }, { timeoutMs: 15_000, delayMs: 100 });
  if (!served) {
    await daemon.stop();
    const log = await Deno.readTextFile(s.logFile).catch(() => "");
    throw new HomelabError(`git daemon does not serve ${url}: ${log.trim().split("\n").pop() || "(no log)"}`, {
      hint: s.hint ?? `its log is ${s.logFile}`,
    });
  }
  return { daemon, url };
}

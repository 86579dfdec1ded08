/**
 * The tree a rehearsal's Argo CD syncs: a snapshot of the working copy (tracked files and
 * untracked ones git does not ignore) committed into a repository of its own, served by
 * `git daemon` on 127.0.0.1. Each Application's kustomizations are pointed at what this
 * machine has instead of what the cluster downloads — the charts of the chart cache
 * (`helmGlobals.chartHome`), remote manifests as cached files — exactly as `render` prepares
 * its build copies (lib/render/build.ts `prepareCopy`), so the repo-server builds without a
 * network.
 *
 * KSOPS: the repo-server finds a stand-in named `ksops` on its PATH (render's, lib/render/ksops.ts) that prints
 * the Secrets `render` prepares — each value a digest, or a placeholder where no key of the user's
 * opens the file: never plaintext. Where the key the cluster's Argo CD decrypts with could not
 * open a file either, the stand-in fails the way ksops would, naming the file and the key:
 * - prod: the `argocd` recipient of `.sops.yaml` must be among the file's recipients;
 * - dev: `deno task dev --local` re-encrypts for the dev cluster's key what the user's key opens,
 *   and gives every other file placeholder values: each opens in dev (listed as placeholders).
 *
 * @module
 */

import { dirname, join } from "node:path";
import { cmd, type Daemon, type Runner } from "../cmd.ts";
import { serveGit } from "../gitdaemon.ts";
import type { Config } from "../config.ts";
import { HomelabError } from "../errors.ts";
import { chartKey, prepareCopy } from "../render/build.ts";
import { ChartCache } from "../render/charts.ts";
import { Digester, digestSalt, prepareGenerators, writeStandIn } from "../render/ksops.ts";
import type { AppSpec, Env } from "../render/model.ts";
import { readSource } from "../render/source.ts";
import { listFiles } from "../secrets/context.ts";
import { parseSopsFile } from "../secrets/sopsfile.ts";
import { readSopsConfig } from "../secrets/sopsconfig.ts";

/** The served repository's name in its URL. */
export const SERVED_REPO = "homelab.git";
/** The branch the served repository holds. */
export const SERVED_BRANCH = "rehearsal";

/** A KSOPS file the cluster's Argo CD could not open. */
export interface LockedSecret {
  readonly app: string;
  readonly file: string;
  readonly why: string;
}

/** The prepared snapshot. */
export interface Snapshot {
  /** The repository (a work tree with its `.git`), to serve. */
  readonly repo: string;
  /** The folder holding the stand-in `ksops`, for the repo-server's PATH. */
  readonly bin: string;
  readonly commit: string;
  /** KSOPS files the cluster's key could not open: their Applications fail to build. */
  readonly locked: readonly LockedSecret[];
  /** KSOPS files whose values are placeholders (the user's key does not open them; the cluster's would). */
  readonly placeholders: readonly string[];
  /** Applications whose charts or manifests are not at hand (they are named; their builds fail). */
  readonly missing: readonly { app: string; what: string }[];
}

const AUTHOR = {
  GIT_AUTHOR_NAME: "homelab rehearse",
  GIT_AUTHOR_EMAIL: "rehearse@homelab.invalid",
  GIT_COMMITTER_NAME: "homelab rehearse",
  GIT_COMMITTER_EMAIL: "rehearse@homelab.invalid",
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_CONFIG_GLOBAL: "/dev/null",
};

/** The recipients of a SOPS file (none when it is not encrypted or cannot be read). */
async function recipientsOf(repoRoot: string, file: string): Promise<readonly string[]> {
  try {
    return parseSopsFile(await Deno.readTextFile(join(repoRoot, file)), file).meta?.recipients ?? [];
  } catch {
    return [];
  }
}

/**
 * Copies the working copy to `<work>/tree`, prepares every Application of `apps` as `render`
 * does, and commits the result to branch {@link SERVED_BRANCH} of a repository there.
 */
export async function prepareSnapshot(
  runner: Runner,
  config: Config,
  env: Env,
  apps: readonly AppSpec[],
  work: string,
): Promise<Snapshot> {
  const repoRoot = config.repoRoot;
  const tree = join(work, "tree");
  await Deno.mkdir(tree, { recursive: true, mode: 0o700 });
  for (const f of await listFiles({ root: repoRoot, runner } as Parameters<typeof listFiles>[0])) {
    const from = join(repoRoot, f);
    const st = await Deno.lstat(from).catch(() => undefined);
    if (!st?.isFile) continue; // deleted in the work tree, or a link
    await Deno.mkdir(dirname(join(tree, f)), { recursive: true });
    await Deno.copyFile(from, join(tree, f));
  }

  const bin = join(work, "bin");
  await writeStandIn(bin);

  const charts = new ChartCache(join(config.cacheDir, "charts"), runner, {
    offline: true,
    scratch: () => Promise.resolve(work),
  });
  const digester = new Digester(await digestSalt(config.cacheDir));
  const argocdRecipient = env === "prod" ? (await readSopsConfig(repoRoot).catch(() => undefined))?.argocd : undefined;
  const locked: LockedSecret[] = [];
  const placeholders: string[] = [];
  const missing: { app: string; what: string }[] = [];

  for (const spec of apps) {
    const info = await readSource(repoRoot, spec.path);
    const cached = [];
    for (const c of info.charts) {
      try {
        cached.push(await charts.get(c));
      } catch (err) {
        if (!(err instanceof HomelabError)) throw err;
        missing.push({ app: spec.name, what: err.message });
      }
    }
    const remotes = new Map<string, { path: string; digest: string }>();
    for (const r of info.remotes) {
      try {
        remotes.set(r.url, await charts.remote(r.url));
      } catch (err) {
        if (!(err instanceof HomelabError)) throw err;
        missing.push({ app: spec.name, what: err.message });
      }
    }
    const outDir = join(work, "ksops", spec.name);
    const { outputs, prepared } = await prepareGenerators(runner, config, repoRoot, info.ksops, digester, outDir);
    placeholders.push(...prepared.locked);
    // Generators whose files the cluster's key cannot open fail, naming the first such file.
    for (const [i, g] of info.ksops.entries()) {
      let why: { file: string; why: string } | undefined;
      for (const file of g.files) {
        if (env === "prod") {
          const recipients = await recipientsOf(repoRoot, file);
          if (argocdRecipient && !recipients.includes(argocdRecipient)) {
            why = {
              file,
              why: `Argo CD's key (the argocd recipient of .sops.yaml, ${argocdRecipient}) is not among its ` +
                "recipients; run `deno task secrets rotate` to encrypt it for Argo CD too",
            };
          }
        }
        if (why) break;
      }
      if (!why) continue;
      locked.push({ app: spec.name, ...why });
      const errorFile = join(outDir, `ksops-${i}.error`);
      await Deno.writeTextFile(errorFile, `ksops: ${why.file}: cannot be decrypted: ${why.why}\n`);
      outputs.set(g.file, errorFile);
    }
    await prepareCopy(
      repoRoot,
      info,
      { charts: new Map(cached.map((c) => [chartKey(c), c])), remotes, ksops: outputs },
      work,
    );
  }

  const git = async (args: string[]) =>
    (await runner.run(cmd("git", args, { cwd: tree, env: AUTHOR, readOnly: true }))).stdout.trim();
  await git(["init", "-q", "-b", SERVED_BRANCH]);
  // Everything copied (the copies of render's own scratch names too), ignore rules or not.
  await git(["add", "-A", "-f", "."]);
  await git(["commit", "-q", "--no-gpg-sign", "-m", `rehearsal of the working copy (${env})`]);
  const commit = await git(["rev-parse", "HEAD"]);
  return { repo: tree, bin, commit, locked, placeholders: [...new Set(placeholders)].sort(), missing };
}

/** `git daemon` serving `snapshot` on 127.0.0.1:`port`, and the URL Argo CD fetches from. */
export async function serveSnapshot(
  runner: Runner,
  snapshot: Snapshot,
  port: number,
  logFile: string,
): Promise<{ daemon: Daemon; url: string }> {
  const base = dirname(snapshot.repo);
  // git daemon serves `<base>/<name>`; the repository is the work tree `tree`, linked under its URL name.
  await Deno.symlink(join(snapshot.repo, ".git"), join(base, SERVED_REPO)).catch((err) => {
    if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
  });
  return await serveGit(runner, {
    base,
    repo: SERVED_REPO,
    branch: SERVED_BRANCH,
    address: "127.0.0.1",
    port,
    logFile,
    env: AUTHOR,
  });
}

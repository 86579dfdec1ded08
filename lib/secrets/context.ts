/**
 * What every secrets operation works with, and the repository's file list.
 *
 * @module
 */

import { join, relative } from "node:path";
import { cmd } from "../cmd.ts";
import type { RepoContext } from "../context.ts";
import { Sops } from "./sops.ts";

/** The repository, the machine, and how to run tools (the context every repository task shares). */
export type SecretsContext = RepoContext;

/** A {@link Sops} for the context's repository. */
export function sopsOf(ctx: SecretsContext): Sops {
  return new Sops(ctx.runner, ctx.root);
}

/**
 * The repository's files, relative to the root: what git tracks plus untracked files it does
 * not ignore (so a secret about to be added is seen too). Outside git, every file.
 */
export async function listFiles(ctx: SecretsContext): Promise<string[]> {
  const r = await ctx.runner.run(
    cmd("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: ctx.root, readOnly: true }),
    { check: false },
  );
  if (r.code === 0) return [...new Set(r.stdout.split("\0").filter(Boolean))].sort();
  const files: string[] = [];
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(dir)) {
      if (e.name === ".git" || e.name === "node_modules" || e.name === ".direnv") continue;
      const path = join(dir, e.name);
      if (e.isDirectory) await walk(path);
      else if (e.isFile) files.push(relative(ctx.root, path));
    }
  };
  await walk(ctx.root);
  return files.sort();
}

/** The staged files (added, copied, modified, renamed) and a reader for their staged content. */
export async function stagedFiles(
  ctx: SecretsContext,
): Promise<{ files: string[]; read: (f: string) => Promise<string> }> {
  const out = await ctx.runner.output(
    cmd("git", ["diff", "--cached", "--name-only", "-z", "--diff-filter=ACMR"], { cwd: ctx.root, readOnly: true }),
  );
  const files = out.split("\0").filter(Boolean).sort();
  const read = (f: string) =>
    ctx.runner.output(cmd("git", ["show", `:${f}`], { cwd: ctx.root, readOnly: true, secretOutput: true }));
  return { files, read };
}

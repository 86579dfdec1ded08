/**
 * The Talos secret bundle: made by talhelper, encrypted through sops on its way into the
 * repository, never in plaintext on disk. `talos gensecret` writes it; `secrets init --adopt`
 * re-creates it for a new owner.
 *
 * @module
 */

import { cmd, type Secret, secret } from "../cmd.ts";
import type { RepoContext } from "../context.ts";
import { sopsOf } from "../secrets/context.ts";
import { PATHS } from "../repo.ts";

/** A new Talos secret bundle (`talhelper gensecret`), encrypted on its way into the repository. */
export async function writeTalosBundle(ctx: RepoContext): Promise<void> {
  await sopsOf(ctx).encryptTo(PATHS.talosBundle, await gensecret(ctx));
}

/** A new Talos secret bundle's ciphertext, made by `encrypt` (as the bundle's path would be); nothing is written. */
export async function newTalosBundle(
  ctx: RepoContext,
  encrypt: (file: string, plaintext: Secret) => Promise<string>,
): Promise<string> {
  return await encrypt(PATHS.talosBundle, await gensecret(ctx));
}

async function gensecret(ctx: RepoContext): Promise<Secret> {
  const bundle = await ctx.runner.run(cmd("talhelper", ["gensecret"], { secretOutput: true, readOnly: true }));
  return secret(bundle.stdout);
}

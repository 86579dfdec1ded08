/**
 * The Talos secret bundle: made by talhelper, encrypted through sops on its way into the
 * repository, never in plaintext on disk. `talos gensecret` writes it; `secrets init --adopt`
 * re-creates it for a new owner.
 *
 * @module
 */

import { cmd, secret } from "../cmd.ts";
import type { RepoContext } from "../context.ts";
import { sopsOf } from "../secrets/context.ts";
import { TALOS_PATHS } from "./talconfig.ts";

/** A new Talos secret bundle (`talhelper gensecret`), encrypted on its way into the repository. */
export async function writeTalosBundle(ctx: RepoContext): Promise<void> {
  const bundle = await ctx.runner.run(cmd("talhelper", ["gensecret"], { secretOutput: true, readOnly: true }));
  await sopsOf(ctx).encryptTo(TALOS_PATHS.bundle, secret(bundle.stdout));
}

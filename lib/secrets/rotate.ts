/**
 * `secrets rotate`: recipients brought in line with `.sops.yaml`, each file checked with every key at hand.
 *
 * @module
 */

import { type Secret, secret } from "../cmd.ts";
import { HomelabError } from "../errors.ts";
import { type SecretsContext, sopsOf } from "./context.ts";
import { findKeys, type KeySearch, keyWarningLines, parseKeys, recipientOf } from "./keys.ts";
import { encryptedFiles, KeyPathError, readMeta } from "./files.ts";
import { PATHS } from "../repo.ts";

/** What `rotate` did to one file. */
export interface Rotation {
  readonly file: string;
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly dataKey: boolean;
  /** Recipients whose private key was at hand and opened the rotated file. */
  readonly verified: readonly string[];
  /** Recipients whose private key is not on this machine. */
  readonly unverified: readonly string[];
}

/** Where `opensWith` points sops's default key paths: nowhere, so only the given key counts. */
const NO_KEY_DIR = "/nonexistent/homelab-no-keys";

/** Decrypts `file` with exactly one key: no key file, no default path, nothing else. */
async function opensWith(ctx: SecretsContext, file: string, key: Secret): Promise<boolean> {
  try {
    await sopsOf(ctx).decrypt(file, {
      SOPS_AGE_KEY_FILE: "",
      SOPS_AGE_KEY: key,
      XDG_CONFIG_HOME: NO_KEY_DIR,
      HOME: NO_KEY_DIR,
    });
    return true;
  } catch {
    return false;
  }
}

/** The private keys at hand, by recipient: ours, and Argo CD's (decrypted from the repository). */
async function keysAtHand(ctx: SecretsContext, keys: KeySearch): Promise<Map<string, Secret>> {
  const map = new Map<string, Secret>(keys.identities.map((i) => [i.recipient, i.key]));
  try {
    const text = (await sopsOf(ctx).decrypt(PATHS.argocdKey)).reveal();
    for (const k of parseKeys(text)) {
      const key = secret(k);
      map.set(await recipientOf(ctx.runner, key), key);
    }
  } catch {
    // no Argo CD key file, or not ours to open
  }
  return map;
}

/**
 * `secrets rotate`: brings every encrypted file's recipients in line with `.sops.yaml`
 * (`sops updatekeys`), with `dataKey` also re-encrypts it under a fresh data key, then checks each
 * file opens with every current recipient whose key is at hand.
 */
export async function rotate(ctx: SecretsContext, options: { dataKey?: boolean } = {}): Promise<Rotation[]> {
  const keys = await findKeys(ctx.config, ctx.runner, ctx.ageKey);
  for (const w of keyWarningLines(keys)) ctx.ui.warn(w);
  const mine = new Set(keys.identities.map((i) => i.recipient));
  const files = await encryptedFiles(ctx);
  const locked = files.filter((f) => !f.meta.recipients.some((r) => mine.has(r)));
  if (locked.length) throw new KeyPathError(locked.map((f) => f.file).join(", "), locked[0].meta.recipients, keys);

  const sops = sopsOf(ctx);
  const results: Rotation[] = [];
  for (const { file, meta } of files) {
    await sops.updateKeys(file);
    if (options.dataKey) await sops.rotateDataKey(file);
    const after = (await readMeta(ctx, file)).recipients;
    results.push({
      file,
      added: after.filter((r) => !meta.recipients.includes(r)),
      removed: meta.recipients.filter((r) => !after.includes(r)),
      dataKey: options.dataKey ?? false,
      verified: [],
      unverified: [...after],
    });
  }
  const atHand = await keysAtHand(ctx, keys);
  for (let i = 0; i < results.length; i++) {
    const r = results[i];
    const verified: string[] = [];
    const unverified: string[] = [];
    for (const recipient of r.unverified) {
      const key = atHand.get(recipient);
      if (!key) unverified.push(recipient);
      else if (await opensWith(ctx, r.file, key)) verified.push(recipient);
      else {throw new HomelabError(`${r.file} does not open with the key of ${recipient} after rotation`, {
          hint: "restore the file from git and run `deno task secrets rotate` again",
        });}
    }
    results[i] = { ...r, verified, unverified };
  }
  return results;
}

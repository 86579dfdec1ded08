/**
 * Secret files one at a time: which key opens them, encrypting, decrypting and editing them,
 * and the errors that say what to do when that fails.
 *
 * @module
 */

import { privateTempDir } from "../cleanup.ts";
import { basename, dirname, join } from "node:path";
import { CommandError } from "../cmd.ts";
import { HomelabError, InputError, unreadable } from "../errors.ts";
import { listFiles, type SecretsContext, sopsOf } from "./context.ts";
import { writeAtomic } from "../files.ts";
import { describeSources, findKeys, type KeySearch, keyWarningLines } from "./keys.ts";
import { damagedError, damageOf, parseSopsFile, type SopsMeta } from "./sopsfile.ts";
import { ENCRYPTED_FILE, readSopsConfig, ruleFor } from "./sopsconfig.ts";

/** A file is encrypted for keys none of which we hold. */
export class KeyPathError extends HomelabError {
  readonly file: string;
  readonly recipients: readonly string[];

  constructor(file: string, recipients: readonly string[], keys: KeySearch) {
    const found = keys.identities.map((i) => i.recipient);
    super(
      `${file} is encrypted for ${recipients.join(", ") || "no age recipient"}, but none of your age keys ` +
        `is among them.\n  keys found: ${found.join(", ") || "none"}\n  looked in: ${describeSources(keys)}`,
      {
        hint: "put the private key of one of those recipients into SOPS_AGE_KEY_FILE (or the default path), " +
          "or, if the repository was encrypted by someone else, take it over with `deno task secrets init --adopt`",
      },
    );
    this.file = file;
    this.recipients = recipients;
  }
}

/** An encrypted file of the repository with its sops metadata. */
export interface EncryptedFile {
  readonly file: string;
  readonly meta: SopsMeta;
}

/** Every `*.sops.*` file that carries sops metadata. */
export async function encryptedFiles(ctx: SecretsContext): Promise<EncryptedFile[]> {
  const out: EncryptedFile[] = [];
  for (const file of (await listFiles(ctx)).filter((f) => ENCRYPTED_FILE.test(f))) {
    try {
      const meta = parseSopsFile(await Deno.readTextFile(join(ctx.root, file))).meta;
      if (meta) out.push({ file, meta });
    } catch {
      // `secrets check` reports files it cannot read or parse
    }
  }
  return out;
}

/** Refuses a path that is not a secret file (`NAME.sops.yaml`, `.sops.yml`, `.sops.json`). */
function requireSecretFile(file: string): void {
  if (!ENCRYPTED_FILE.test(file)) {
    throw new InputError("is not a secret file: secret files are named NAME.sops.yaml", {
      file,
      hint: "name a *.sops.yaml file (`git ls-files '*.sops.yaml'` lists them)",
    });
  }
}

/** A file of the repository as text; a missing or unreadable one is an error naming it and saying which. */
async function readRepoFile(ctx: SecretsContext, file: string): Promise<string> {
  try {
    return await Deno.readTextFile(join(ctx.root, file));
  } catch (err) {
    const reason = unreadable(err);
    throw new InputError(reason, {
      file,
      hint: reason === "does not exist"
        ? "check the path (relative to the repository root)"
        : "name a file you can read",
      cause: err,
    });
  }
}

export async function readMeta(ctx: SecretsContext, file: string): Promise<SopsMeta> {
  requireSecretFile(file);
  const text = await readRepoFile(ctx, file);
  const meta = parseSopsFile(text, file).meta;
  const damaged = damageOf(text);
  if (damaged) throw damagedError(file, damaged);
  if (!meta) {
    const sopsConfig = await readSopsConfig(ctx.root);
    throw new InputError("is not encrypted (no sops metadata)", {
      file,
      hint: ruleFor(sopsConfig, file)
        ? `run \`deno task secrets encrypt ${file}\``
        : `no creation rule of .sops.yaml covers it, so it cannot be encrypted where it is: ${NO_RULE_FIX}`,
    });
  }
  return meta;
}

/** What to do with a secret file no creation rule covers. */
export const NO_RULE_FIX = "secret files live under system/, platform/, apps/ or root/ (the Talos bundle is " +
  "talos/talsecret.sops.yaml); move it there, or add a rule for it to .sops.yaml";

/** Throws a {@link KeyPathError} unless a key we hold opens `file`. */
export async function requireKeyFor(ctx: SecretsContext, file: string): Promise<SopsMeta> {
  const meta = await readMeta(ctx, file);
  const keys = await findKeys(ctx.config, ctx.runner, ctx.ageKey);
  for (const w of keyWarningLines(keys)) ctx.ui.warn(w);
  if (!meta.recipients.some((r) => keys.identities.some((i) => i.recipient === r))) {
    throw new KeyPathError(file, meta.recipients, keys);
  }
  return meta;
}

/** `secrets encrypt FILE…`: encrypts plaintext files in place by their creation rule. */
export async function encryptFiles(ctx: SecretsContext, files: readonly string[]): Promise<string[]> {
  const sopsConfig = await readSopsConfig(ctx.root);
  const todo: string[] = [];
  for (const file of files) {
    requireSecretFile(file);
    const text = await readRepoFile(ctx, file);
    if (!ruleFor(sopsConfig, file)) {
      throw new InputError("matches no creation rule in .sops.yaml", { file, hint: NO_RULE_FIX });
    }
    if (parseSopsFile(text, file).meta) {
      ctx.ui.info(`${file}: already encrypted`);
      continue;
    }
    todo.push(file);
  }
  const sops = sopsOf(ctx);
  for (const file of todo) {
    await sops.encryptInPlace(file);
    ctx.ui.info(`${file}: encrypted`);
  }
  return todo;
}

/** `secrets decrypt FILE`: the plaintext on standard output only. */
export async function decryptFile(ctx: SecretsContext, file: string): Promise<void> {
  await requireKeyFor(ctx, file);
  const sops = sopsOf(ctx);
  try {
    await sops.decryptToStdout(file);
  } catch (err) {
    if (!(err instanceof CommandError)) throw err;
    // sops wrote its own message to the terminal; ask again, quietly, for the reason.
    const why = await sops.decrypt(file).then(() => undefined, (e) => e);
    throw decryptError(file, why instanceof CommandError ? why : err);
  }
}

/** Whether sops's error says the file was changed after it was encrypted. */
function isTampered(err: CommandError): boolean {
  return /MAC mismatch|message authentication failed|verify data integrity/i.test(err.stderrTail);
}

/** The error for a file sops cannot decrypt although a key of ours is among its recipients. */
export function decryptError(file: string, err: CommandError): InputError {
  return isTampered(err)
    ? new InputError("does not decrypt: its content was changed after it was encrypted (integrity check failed)", {
      file,
      hint: `restore it from git (\`git checkout -- ${file}\`); if it was never committed, delete it and ` +
        "create it again with `deno task secrets new`",
      cause: err,
    })
    : new InputError(`does not decrypt: ${err.stderrTail.split("\n").filter(Boolean).pop() ?? "sops failed"}`, {
      file,
      hint: `restore it from git (\`git checkout -- ${file}\`)`,
      cause: err,
    });
}

/**
 * `secrets edit FILE`: `sops edit` of a copy of the file, with its plaintext copy in a private
 * temporary directory; the re-encrypted copy replaces the file only when sops and the editor
 * finished well, so nothing lands in the repository after the task has gone.
 */
export async function editFile(ctx: SecretsContext, file: string): Promise<void> {
  await requireKeyFor(ctx, file);
  // sops edit opens a tampered file with nothing but "MAC mismatch": say what it means first.
  await sopsOf(ctx).decrypt(file).catch((err) => {
    throw err instanceof CommandError ? decryptError(file, err) : err;
  });
  const tmp = await privateTempDir("homelab-edit-");
  const copy = join(tmp, "copy", basename(file));
  await Deno.mkdir(dirname(copy), { mode: 0o700 });
  await Deno.copyFile(join(ctx.root, file), copy);
  if (await sopsOf(ctx).edit(copy, tmp)) await writeAtomic(join(ctx.root, file), await Deno.readTextFile(copy));
}

/**
 * The secret life cycle: init (keys, `.sops.yaml`, hook; adopting a clone encrypted for someone
 * else), encrypt, decrypt, edit, new, rotate.
 *
 * @module
 */

import { basename, join } from "node:path";
import { isSeq, parseDocument, stringify } from "yaml";
import { privateTempDir } from "../cleanup.ts";
import { cmd, type Secret, secret } from "../cmd.ts";
import { HomelabError, InputError } from "../errors.ts";
import { listFiles, type SecretsContext, sopsOf } from "./context.ts";
import {
  createKeyFile,
  describeSources,
  findKeys,
  generateKey,
  type KeySearch,
  parseKeys,
  personalKeyFile,
  recipientOf,
} from "./keys.ts";
import { writeAtomic } from "./sops.ts";
import { parseSopsFile, skeleton, type SopsMeta } from "./sopsfile.ts";
import { ENCRYPTED_FILE, PATHS, readSopsConfig, ruleFor, setRecipients } from "./sopsconfig.ts";

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

async function readMeta(ctx: SecretsContext, file: string): Promise<SopsMeta> {
  let text: string;
  try {
    text = await Deno.readTextFile(join(ctx.root, file));
  } catch {
    throw new InputError("does not exist", { file, hint: "check the path (relative to the repository root)" });
  }
  const meta = parseSopsFile(text).meta;
  if (!meta) {
    throw new InputError("is not encrypted (no sops metadata)", {
      file,
      hint: `run \`deno task secrets encrypt ${file}\``,
    });
  }
  return meta;
}

/** Throws a {@link KeyPathError} unless a key we hold opens `file`. */
export async function requireKeyFor(ctx: SecretsContext, file: string): Promise<SopsMeta> {
  const meta = await readMeta(ctx, file);
  const keys = await findKeys(ctx.config, ctx.runner, ctx.ageKey);
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
    let text: string;
    try {
      text = await Deno.readTextFile(join(ctx.root, file));
    } catch {
      throw new InputError("does not exist", { file });
    }
    if (!ruleFor(sopsConfig, file)) {
      throw new InputError("matches no creation rule in .sops.yaml", {
        file,
        hint: "secret files are named NAME.sops.yaml and live under system/, platform/, apps/ or root/",
      });
    }
    if (parseSopsFile(text).meta) {
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
  await sopsOf(ctx).decryptToStdout(file);
}

/** `secrets edit FILE`: `sops edit` with its plaintext copy in a private temporary directory. */
export async function editFile(ctx: SecretsContext, file: string): Promise<void> {
  await requireKeyFor(ctx, file);
  const tmp = await privateTempDir("homelab-edit-");
  await sopsOf(ctx).edit(file, tmp);
}

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

async function componentDir(ctx: SecretsContext, component: string): Promise<string> {
  const candidates = component.includes("/")
    ? [component.replace(/\/$/, "")]
    : PATHS.stacks.map((s) => `${s}/${component}`);
  const found: string[] = [];
  for (const c of candidates) {
    try {
      await Deno.stat(join(ctx.root, c, "kustomization.yaml"));
      found.push(c);
    } catch {
      // not this one
    }
  }
  if (found.length === 1) return found[0];
  throw new InputError(
    found.length
      ? `component '${component}' is ambiguous: ${found.join(", ")}`
      : `no component '${component}' with a kustomization.yaml`,
    { hint: "name it as STACK/COMPONENT, e.g. system/cert-manager" },
  );
}

/** The KSOPS generator file a component lists its secret files in. */
export const GENERATOR = "secret-generator.yaml";

function generatorText(file: string): string {
  return `# KSOPS: kustomize (and Argo CD's repo-server) decrypts these SOPS files into Secrets.
apiVersion: viaduct.ai/v1
kind: ksops
metadata:
  name: secret-generator
  annotations:
    config.kubernetes.io/function: |
      exec:
        path: ksops
files:
  - ./${file}
`;
}

/**
 * `secrets new COMPONENT NAME`: an encrypted Secret skeleton `COMPONENT/NAME.sops.yaml` and the
 * KSOPS generator that feeds it to kustomize. The plaintext goes to sops through a pipe.
 */
export async function newSecret(
  ctx: SecretsContext,
  component: string,
  name: string,
  keys: readonly string[] = ["value"],
): Promise<string> {
  const badKey = keys.find((k) => !/^[-._a-zA-Z0-9]+$/.test(k));
  if (badKey !== undefined) {
    throw new InputError(`'${badKey}' is not a valid Secret key`, { hint: "use letters, digits, '-', '_' and '.'" });
  }
  if (!NAME.test(name) || name.length > 253) {
    throw new InputError(`'${name}' is not a valid Secret name`, {
      hint: "use lower-case letters, digits, '-' and '.'",
    });
  }
  const dir = await componentDir(ctx, component);
  const file = `${dir}/${name}.sops.yaml`;
  if (await Deno.stat(join(ctx.root, file)).then(() => true, () => false)) {
    throw new InputError("exists already", { file, hint: `change it with \`deno task secrets edit ${file}\`` });
  }
  const kustomizationPath = join(ctx.root, dir, "kustomization.yaml");
  const kustomization = parseDocument(await Deno.readTextFile(kustomizationPath));
  if (kustomization.errors.length) {
    throw new InputError(kustomization.errors[0].message.split("\n")[0], { file: `${dir}/kustomization.yaml` });
  }
  const namespace = String(kustomization.get("namespace") ?? basename(dir));

  const generatorPath = join(ctx.root, dir, GENERATOR);
  let generator: string;
  try {
    const doc = parseDocument(await Deno.readTextFile(generatorPath));
    const files = doc.get("files");
    if (!isSeq(files)) throw new InputError("has no files list", { file: `${dir}/${GENERATOR}` });
    files.add(doc.createNode(`./${name}.sops.yaml`));
    generator = doc.toString({ lineWidth: 0 });
  } catch (err) {
    if (err instanceof InputError) throw err;
    generator = generatorText(`${name}.sops.yaml`);
  }
  let generators = kustomization.get("generators");
  if (!isSeq(generators)) {
    kustomization.set("generators", kustomization.createNode([]));
    generators = kustomization.get("generators");
  }
  if (
    isSeq(generators) &&
    !generators.items.some((i) => String((i as { value?: unknown }).value).replace(/^\.\//, "") === GENERATOR)
  ) {
    generators.add(kustomization.createNode(`./${GENERATOR}`));
  }

  const plaintext = stringify({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace },
    type: "Opaque",
    stringData: Object.fromEntries(keys.map((k) => [k, "REPLACE-ME"])),
  });
  await sopsOf(ctx).encryptTo(file, secret(plaintext));
  await writeAtomic(generatorPath, generator);
  await writeAtomic(kustomizationPath, kustomization.toString({ lineWidth: 0 }));
  return file;
}

/** A new Talos secret bundle (`talhelper gensecret`), encrypted on its way into the repository. */
export async function writeTalosBundle(ctx: SecretsContext): Promise<void> {
  const bundle = await ctx.runner.run(cmd("talhelper", ["gensecret"], { secretOutput: true, readOnly: true }));
  await sopsOf(ctx).encryptTo(PATHS.talosBundle, secret(bundle.stdout));
}

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

/** Decrypts `file` with exactly one key: no key file, no default path, nothing else. */
async function opensWith(ctx: SecretsContext, file: string, key: Secret): Promise<boolean> {
  const empty = await privateTempDir("homelab-onekey-");
  try {
    await sopsOf(ctx).decrypt(file, { SOPS_AGE_KEY_FILE: "", SOPS_AGE_KEY: key, XDG_CONFIG_HOME: empty, HOME: empty });
    return true;
  } catch {
    return false;
  } finally {
    // One per file and recipient: do not let them pile up until the task ends.
    await Deno.remove(empty, { recursive: true }).catch(() => {});
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

/** The pre-commit hook `init` installs. */
export const HOOK_MARKER = "# homelab: secrets check (installed by `deno task secrets init`)";
const HOOK = `#!/bin/sh
${HOOK_MARKER}
# Refuses a commit that would add a plaintext secret or an unencrypted *.sops.yaml.
cd "$(git rev-parse --show-toplevel)" || exit 1
command -v deno >/dev/null 2>&1 || PATH="$(scripts/get-deno):$PATH"
exec deno run -A tasks/secrets.ts check --staged
`;

/** Installs the pre-commit hook; leaves a hook of someone else's alone. */
export async function installHook(ctx: SecretsContext): Promise<"installed" | "present" | "foreign" | "no-git"> {
  const r = await ctx.runner.run(cmd("git", ["rev-parse", "--git-path", "hooks"], { cwd: ctx.root, readOnly: true }), {
    check: false,
  });
  if (r.code !== 0) return "no-git";
  const path = join(ctx.root, r.stdout.trim(), "pre-commit");
  const existing = await Deno.readTextFile(path).catch(() => undefined);
  if (existing === HOOK) return "present";
  if (existing !== undefined && !existing.includes(HOOK_MARKER)) return "foreign";
  await Deno.mkdir(join(path, ".."), { recursive: true });
  await Deno.writeTextFile(path, HOOK, { mode: 0o755 });
  await Deno.chmod(path, 0o755);
  return "installed";
}

/** What `init` found and did. */
export interface InitReport {
  readonly personal: string;
  /** Set when init created the personal key file. */
  readonly createdKey?: string;
  readonly argocd?: string;
  readonly argocdCreated: boolean;
  readonly configChanged: boolean;
  readonly hook: Awaited<ReturnType<typeof installHook>>;
  /** Encrypted files no key of ours opens (before adoption). */
  readonly locked: readonly EncryptedFile[];
  /** What adoption re-created or replaced. */
  readonly adopted: readonly { file: string; how: "regenerated" | "skeleton" }[];
  /** Whether anything changed at all. */
  readonly changed: boolean;
}

function argocdKeyManifest(key: Secret, recipient: string): Secret {
  return secret(stringify({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "sops-age", namespace: "argocd" },
    type: "Opaque",
    stringData: { "keys.txt": `# Argo CD's age key; public key: ${recipient}\n${key.reveal()}\n` },
  }));
}

/**
 * `secrets init`: the personal key, Argo CD's key, both recipients in `.sops.yaml`, and the
 * pre-commit hook. Files encrypted for keys we do not hold are listed; with `adopt` they are
 * re-created (Talos bundle, Argo CD key) or replaced by encrypted skeletons for the new owner.
 */
export async function init(ctx: SecretsContext, options: { adopt?: boolean } = {}): Promise<InitReport> {
  let keys = await findKeys(ctx.config, ctx.runner, ctx.ageKey);
  let createdKey: string | undefined;
  if (keys.identities.length === 0) {
    createdKey = personalKeyFile(ctx.config);
    await createKeyFile(ctx.runner, createdKey);
    keys = await findKeys(ctx.config, ctx.runner, ctx.ageKey);
  }
  const mine = new Set(keys.identities.map((i) => i.recipient));
  const sopsConfig = await readSopsConfig(ctx.root);
  const personal = sopsConfig.personal && mine.has(sopsConfig.personal)
    ? sopsConfig.personal
    : keys.identities[0].recipient;

  const files = await encryptedFiles(ctx);
  const locked = files.filter((f) => !f.meta.recipients.some((r) => mine.has(r)));
  if (locked.length && !options.adopt) {
    return {
      personal,
      createdKey,
      argocd: sopsConfig.argocd,
      argocdCreated: false,
      configChanged: false,
      hook: await installHook(ctx),
      locked,
      adopted: [],
      changed: createdKey !== undefined,
    };
  }

  const sops = sopsOf(ctx);
  const argocdFile = files.find((f) => f.file === PATHS.argocdKey);
  let argocd: string | undefined;
  let newArgocdKey: Secret | undefined;
  if (argocdFile && !locked.includes(argocdFile)) {
    const [k] = parseKeys((await sops.decrypt(PATHS.argocdKey)).reveal());
    if (k) argocd = await recipientOf(ctx.runner, secret(k));
  }
  if (!argocd) {
    const generated = await generateKey(ctx.runner);
    argocd = generated.recipient;
    newArgocdKey = generated.key;
  }

  const text = setRecipients(sopsConfig.text, { personal, argocd });
  const configChanged = text !== sopsConfig.text;
  if (configChanged) await writeAtomic(join(ctx.root, PATHS.sopsConfig), text);
  if (newArgocdKey) await sops.encryptTo(PATHS.argocdKey, argocdKeyManifest(newArgocdKey, argocd));

  const adopted: { file: string; how: "regenerated" | "skeleton" }[] = [];
  for (const { file } of locked) {
    if (file === PATHS.argocdKey) {
      adopted.push({ file, how: "regenerated" });
    } else if (file === PATHS.talosBundle) {
      await writeTalosBundle(ctx);
      adopted.push({ file, how: "regenerated" });
    } else {
      const parsed = parseSopsFile(await Deno.readTextFile(join(ctx.root, file)));
      await sops.encryptTo(file, secret(stringify(skeleton(parsed))));
      adopted.push({ file, how: "skeleton" });
    }
  }
  const hook = await installHook(ctx);
  return {
    personal,
    createdKey,
    argocd,
    argocdCreated: newArgocdKey !== undefined,
    configChanged,
    hook,
    locked,
    adopted,
    changed: createdKey !== undefined || configChanged || newArgocdKey !== undefined || adopted.length > 0 ||
      hook === "installed",
  };
}

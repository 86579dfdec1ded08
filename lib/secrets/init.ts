/**
 * `secrets init`: the personal key, Argo CD's key, both recipients in `.sops.yaml`, the hook;
 * with `adopt`, a clone encrypted for someone else re-created for the new owner.
 *
 * @module
 */

import { join } from "node:path";
import { stringify } from "yaml";
import { type Secret, secret } from "../cmd.ts";
import { type SecretsContext, sopsOf } from "./context.ts";
import { createKeyFile, findKeys, generateKey, parseKeys, personalKeyFile, recipientOf } from "./keys.ts";
import { writeAtomic } from "./sops.ts";
import { parseSopsFile, skeleton } from "./sopsfile.ts";
import { PATHS, readSopsConfig, setRecipients } from "./sopsconfig.ts";
import { type EncryptedFile, encryptedFiles } from "./files.ts";
import { installHook } from "./hook.ts";
import { writeTalosBundle } from "../talos/bundle.ts";

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

/**
 * `secrets init`: the personal key, Argo CD's key, both recipients in `.sops.yaml`, the hook;
 * with `adopt`, a clone encrypted for someone else re-created for the new owner.
 *
 * @module
 */

import { join } from "node:path";
import { stringify } from "yaml";
import { onExit } from "../cleanup.ts";
import { cmd, type Secret, secret } from "../cmd.ts";
import { osErrorAt } from "../errors.ts";
import { type SecretsContext, sopsOf } from "./context.ts";
import {
  createKeyFile,
  findKeys,
  generateKey,
  keyWarningLines,
  parseKeys,
  personalKeyFile,
  recipientOf,
} from "./keys.ts";
import { writeAllOrNothing } from "../files.ts";
import { Sops } from "./sops.ts";
import { parseSopsFile, skeleton } from "./sopsfile.ts";
import { readSopsConfig, setRecipients } from "./sopsconfig.ts";
import { type EncryptedFile, encryptedFiles } from "./files.ts";
import { installHook } from "./hook.ts";
import { newTalosBundle } from "../talos/bundle.ts";
import { PATHS } from "../repo.ts";

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
  /**
   * After adoption, every file that adoption makes differ from git's HEAD: `.sops.yaml` and the
   * encrypted files, also those an earlier, interrupted run changed.
   */
  readonly toCommit: readonly string[];
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

/** Which of `files` differ from git's HEAD (or are not in it); `files` itself outside git. */
async function differingFromHead(ctx: SecretsContext, files: readonly string[]): Promise<string[]> {
  const r = await ctx.runner.run(
    cmd("git", ["status", "--porcelain", "-z", "--untracked-files=all", "--", ...files], {
      cwd: ctx.root,
      readOnly: true,
    }),
    { check: false },
  );
  if (r.code !== 0) return [...files];
  const listed = new Set(r.stdout.split("\0").filter((e) => e.length > 3).map((e) => e.slice(3)));
  return files.filter((f) => listed.has(f));
}

/**
 * `secrets init`: the personal key, Argo CD's key, both recipients in `.sops.yaml`, and the
 * pre-commit hook. Files encrypted for keys we do not hold are listed; with `adopt` they are
 * re-created (Talos bundle, Argo CD key) or replaced by encrypted skeletons for the new owner:
 * all of them and `.sops.yaml` together, or, when a tool fails or the task is interrupted, none.
 */
export async function init(ctx: SecretsContext, options: { adopt?: boolean } = {}): Promise<InitReport> {
  let keys = await findKeys(ctx.config, ctx.runner, ctx.ageKey);
  let createdKey: string | undefined;
  if (keys.identities.length === 0) {
    createdKey = personalKeyFile(ctx.config);
    await createKeyFile(ctx.runner, createdKey);
    keys = await findKeys(ctx.config, ctx.runner, ctx.ageKey);
  }
  for (const w of keyWarningLines(keys)) ctx.ui.warn(w);
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
      toCommit: [],
      changed: createdKey !== undefined,
    };
  }

  const adopting = options.adopt === true && locked.length > 0;
  // Everything adoption needs is checked before anything changes.
  if (adopting) {
    const tools = ["sops", "age-keygen", ...(locked.some((f) => f.file === PATHS.talosBundle) ? ["talhelper"] : [])];
    for (const tool of tools) await ctx.runner.resolve(tool);
  }

  const argocdFile = files.find((f) => f.file === PATHS.argocdKey);
  let argocd: string | undefined;
  let newArgocdKey: Secret | undefined;
  if (argocdFile && !locked.includes(argocdFile)) {
    const [k] = parseKeys((await sopsOf(ctx).decrypt(PATHS.argocdKey)).reveal());
    if (k) argocd = await recipientOf(ctx.runner, secret(k));
  }
  if (!argocd) {
    const generated = await generateKey(ctx.runner);
    argocd = generated.recipient;
    newArgocdKey = generated.key;
  }

  const text = setRecipients(sopsConfig.text, { personal, argocd });
  const configChanged = text !== sopsConfig.text;
  // Every new file is made first, in memory, encrypted by the rules of the new .sops.yaml (staged
  // beside the real one); then all of them replace the old ones together, or none does.
  const changes = new Map<string, string>();
  if (configChanged) changes.set(PATHS.sopsConfig, text);
  const adopted: { file: string; how: "regenerated" | "skeleton" }[] = [];
  const stagedConfig = `${PATHS.sopsConfig}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  const removeConfig = onExit(() => Deno.remove(join(ctx.root, stagedConfig)).catch(() => {}));
  try {
    let sops = sopsOf(ctx);
    if (configChanged && (newArgocdKey || adopting)) {
      await Deno.writeTextFile(join(ctx.root, stagedConfig), text).catch((err) => {
        throw osErrorAt(err, join(ctx.root, PATHS.sopsConfig), "writefile");
      });
      sops = new Sops(ctx.runner, ctx.root, stagedConfig);
    }
    if (newArgocdKey) {
      changes.set(PATHS.argocdKey, await sops.encrypt(PATHS.argocdKey, argocdKeyManifest(newArgocdKey, argocd)));
    }
    for (const { file } of adopting ? locked : []) {
      if (file === PATHS.argocdKey) {
        adopted.push({ file, how: "regenerated" });
      } else if (file === PATHS.talosBundle) {
        changes.set(file, await newTalosBundle(ctx, (f, plaintext) => sops.encrypt(f, plaintext)));
        adopted.push({ file, how: "regenerated" });
      } else {
        const parsed = parseSopsFile(await Deno.readTextFile(join(ctx.root, file)));
        changes.set(file, await sops.encrypt(file, secret(stringify(skeleton(parsed)))));
        adopted.push({ file, how: "skeleton" });
      }
    }
    await writeAllOrNothing(new Map([...changes].map(([file, content]) => [join(ctx.root, file), content])));
  } finally {
    await removeConfig();
  }
  const toCommit = adopted.length ? await differingFromHead(ctx, [PATHS.sopsConfig, ...files.map((f) => f.file)]) : [];
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
    toCommit,
    changed: createdKey !== undefined || configChanged || newArgocdKey !== undefined || adopted.length > 0 ||
      hook === "installed",
  };
}

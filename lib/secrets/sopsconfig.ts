/**
 * `.sops.yaml`: who can decrypt which files. The two recipients live under `keys:` as the
 * anchors `&personal` and `&argocd`; creation rules refer to them by alias, so replacing the two
 * anchor values re-targets every rule and keeps the file's comments.
 *
 * @module
 */

import { join } from "node:path";
import { isScalar, isSeq, parseDocument } from "yaml";
import { InputError } from "../errors.ts";
import { PATHS } from "../repo.ts";

/** Files that must be SOPS-encrypted: `NAME.sops.yaml`, `.sops.yml`, `.sops.json` (not `.sops.yaml` itself). */
export const ENCRYPTED_FILE = /(^|\/)[^/]+\.sops\.(ya?ml|json)$/;

/** One creation rule, aliases resolved. */
export interface CreationRule {
  readonly pathRegex: string;
  readonly recipients: readonly string[];
  readonly encryptedRegex?: string;
}

/** `.sops.yaml`, as far as the tooling needs it. */
export interface SopsConfig {
  readonly text: string;
  readonly personal?: string;
  readonly argocd?: string;
  readonly rules: readonly CreationRule[];
}

/** Parses `.sops.yaml`'s text; `file` names it in errors. */
export function parseSopsConfig(text: string, file = PATHS.sopsConfig): SopsConfig {
  const doc = parseDocument(text);
  if (doc.errors.length) {
    const e = doc.errors[0];
    throw new InputError(e.message.split("\n")[0], { file, line: e.linePos?.[0]?.line, hint: "fix the YAML syntax" });
  }
  let personal: string | undefined;
  let argocd: string | undefined;
  const keys = doc.get("keys");
  if (isSeq(keys)) {
    for (const item of keys.items) {
      if (!isScalar(item)) continue;
      if (item.anchor === "personal") personal = String(item.value);
      if (item.anchor === "argocd") argocd = String(item.value);
    }
  }
  const data = doc.toJS() as { creation_rules?: unknown } | null;
  const rawRules = data?.creation_rules;
  if (!Array.isArray(rawRules)) {
    throw new InputError("has no creation_rules list", {
      file,
      hint: "restore it from git: `git checkout .sops.yaml`",
    });
  }
  const rules = rawRules.map((r: Record<string, unknown>, i): CreationRule => {
    const age = Array.isArray(r.age)
      ? r.age.map(String)
      : typeof r.age === "string"
      ? r.age.split(",").map((s) => s.trim()).filter(Boolean)
      : [];
    if (typeof r.path_regex !== "string") {
      throw new InputError(`creation rule ${i + 1} has no path_regex`, {
        file,
        hint: "every rule selects files by path_regex",
      });
    }
    return {
      pathRegex: r.path_regex,
      recipients: age,
      encryptedRegex: typeof r.encrypted_regex === "string" ? r.encrypted_regex : undefined,
    };
  });
  return { text, personal, argocd, rules };
}

/** Reads `<root>/.sops.yaml`. */
export async function readSopsConfig(root: string): Promise<SopsConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(join(root, PATHS.sopsConfig));
  } catch {
    throw new InputError("is missing", {
      file: PATHS.sopsConfig,
      hint: "restore it from git (`git checkout .sops.yaml`); it holds the creation rules",
    });
  }
  return parseSopsConfig(text);
}

/** The first rule whose path_regex matches `relPath` (relative to the repository root). */
export function ruleFor(config: SopsConfig, relPath: string): CreationRule | undefined {
  return config.rules.find((r) => new RegExp(r.pathRegex).test(relPath));
}

/**
 * `.sops.yaml`'s text with the `&personal` and/or `&argocd` anchor values replaced; comments
 * and everything else kept.
 */
export function setRecipients(text: string, recipients: { personal?: string; argocd?: string }): string {
  const doc = parseDocument(text);
  const keys = doc.get("keys");
  if (!isSeq(keys)) throw new InputError("has no keys list", { file: PATHS.sopsConfig });
  for (const [anchor, value] of Object.entries(recipients)) {
    if (!value) continue;
    const item = keys.items.find((i) => isScalar(i) && i.anchor === anchor);
    if (!isScalar(item)) throw new InputError(`has no &${anchor} entry under keys`, { file: PATHS.sopsConfig });
    item.value = value;
  }
  return doc.toString({ lineWidth: 0 });
}

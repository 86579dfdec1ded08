/**
 * Reading SOPS-encrypted files without decrypting them: whether a file is encrypted, for whom,
 * which values are still plaintext, and the skeleton of its structure.
 *
 * @module
 */

import { isMap, isScalar, LineCounter, parseAllDocuments, parseDocument } from "yaml";
import { InputError } from "../errors.ts";

/** What a file's `sops:` metadata says. */
export interface SopsMeta {
  readonly recipients: readonly string[];
  readonly encryptedRegex?: string;
  readonly unencryptedSuffix?: string;
}

/** A parsed file that should be SOPS-encrypted. */
export interface SopsFile {
  /** The document without its `sops:` key. */
  readonly tree: unknown;
  /** Undefined when the file has no `sops:` metadata: it is plaintext. */
  readonly meta?: SopsMeta;
}

const ENC = /^ENC\[AES256_GCM,data:[^\]]*,type:[a-z]+\]$/;

/** Whether a value is SOPS ciphertext. */
function isCiphertext(value: unknown): boolean {
  return typeof value === "string" && ENC.test(value);
}

/** The fields sops writes into every file's metadata. */
const SOPS_FIELDS = ["lastmodified", "mac", "version"];
const AGE_END = "-----END AGE ENCRYPTED FILE-----";

/** An {@link InputError} for a file that {@link damageOf} found not whole. */
export function damagedError(file: string, reason: string): InputError {
  return new InputError(`is damaged, probably cut off (truncated): ${reason}`, {
    file,
    hint: `restore it from git (\`git checkout -- ${file}\`); if it was never committed, create it again ` +
      "with `deno task secrets new`",
  });
}

/** Why the YAML text of a file sops wrote cannot be whole; undefined when it looks whole or does not parse. */
export function damageOf(text: string): string | undefined {
  const doc = parseDocument(text, { uniqueKeys: false });
  if (doc.errors.length) return undefined;
  const data = doc.toJS() as Record<string, unknown> | null;
  if (!data || typeof data !== "object" || Array.isArray(data)) return undefined;
  const { sops, ...tree } = data;
  return damage(tree, sops);
}

/**
 * Why a file sops wrote cannot be whole (a value or the metadata cut off); undefined when it
 * looks whole, or was never encrypted (plaintext has neither ciphertext nor metadata).
 */
function damage(tree: unknown, sops: unknown): string | undefined {
  let cut = false;
  let ciphertext = false;
  const walk = (node: unknown) => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node && typeof node === "object") Object.values(node).forEach(walk);
    else if (typeof node === "string" && node.startsWith("ENC[")) {
      if (isCiphertext(node)) ciphertext = true;
      else cut = true;
    }
  };
  walk(tree);
  if (cut) return "an encrypted value ends early (ENC[… without its end)";
  if (sops === undefined) return ciphertext ? "its values are encrypted but its sops metadata is missing" : undefined;
  if (!sops || typeof sops !== "object") return "its sops metadata is empty";
  const s = sops as Record<string, unknown>;
  const missing = SOPS_FIELDS.filter((f) => s[f] === undefined || s[f] === null);
  if (missing.length) return `its sops metadata lacks ${missing.join(", ")}`;
  const age = Array.isArray(s.age) ? s.age as Record<string, unknown>[] : [];
  if (age.some((a) => typeof a?.recipient !== "string" || typeof a.enc !== "string" || !a.enc.includes(AGE_END))) {
    return "an age recipient's entry ends early";
  }
  return undefined;
}

/**
 * Parses a YAML (or JSON) file's text. Invalid YAML is an {@link InputError} naming `file` (when
 * given) and the line.
 */
export function parseSopsFile(text: string, file?: string): SopsFile {
  const doc = parseDocument(text, { uniqueKeys: false });
  if (doc.errors.length) {
    const e = doc.errors[0];
    throw new InputError(`is not valid YAML: ${e.message.split("\n")[0]}`, {
      file,
      line: e.linePos?.[0]?.line,
      hint: file ? `restore it from git (\`git checkout -- ${file}\`), or fix the syntax` : undefined,
    });
  }
  const data = doc.toJS() as Record<string, unknown> | null;
  if (!data || typeof data !== "object" || Array.isArray(data)) return { tree: data };
  const { sops, ...tree } = data;
  if (!sops || typeof sops !== "object") return { tree };
  const s = sops as Record<string, unknown>;
  const age = Array.isArray(s.age) ? s.age as { recipient?: string }[] : [];
  return {
    tree,
    meta: {
      recipients: age.map((a) => a.recipient).filter((r): r is string => typeof r === "string"),
      encryptedRegex: typeof s.encrypted_regex === "string" ? s.encrypted_regex : undefined,
      unencryptedSuffix: typeof s.unencrypted_suffix === "string" ? s.unencrypted_suffix : undefined,
    },
  };
}

/**
 * The dotted paths of leaf values that sops should have encrypted but that are plaintext.
 * With `encrypted_regex`, a leaf is covered when any key on its path matches; without it,
 * every leaf is (minus keys ending in `unencrypted_suffix`, default `_unencrypted`).
 */
export function plaintextValues(file: SopsFile): string[] {
  const meta = file.meta;
  if (!meta) return [];
  const regex = meta.encryptedRegex ? new RegExp(meta.encryptedRegex) : undefined;
  const suffix = meta.unencryptedSuffix ?? "_unencrypted";
  const found: string[] = [];
  const walk = (node: unknown, path: string[], covered: boolean) => {
    if (Array.isArray(node)) {
      node.forEach((v, i) => walk(v, [...path, String(i)], covered));
    } else if (node && typeof node === "object") {
      for (const [k, v] of Object.entries(node)) {
        if (!regex && k.endsWith(suffix)) continue;
        walk(v, [...path, k], covered || (regex?.test(k) ?? false));
      }
    } else if (node !== null && node !== undefined && node !== "" && (regex ? covered : true) && !isCiphertext(node)) {
      found.push(path.join("."));
    }
  };
  walk(file.tree, [], false);
  return found;
}

/**
 * The file's structure with every encrypted value replaced by a placeholder, ready to be
 * encrypted again for new recipients. `data` values get base64 placeholders, as Kubernetes
 * wants there.
 */
export function skeleton(file: SopsFile, placeholder = "REPLACE-ME"): unknown {
  const encoded = btoa(placeholder);
  const walk = (node: unknown, key: string | undefined, inData: boolean): unknown => {
    if (Array.isArray(node)) return node.map((v) => walk(v, key, inData));
    if (node && typeof node === "object") {
      return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, walk(v, k, inData || k === "data")]));
    }
    return isCiphertext(node) ? (inData ? encoded : placeholder) : node;
  };
  return walk(file.tree, undefined, false);
}

/** A plaintext Kubernetes Secret with values found in a YAML file. */
export interface PlainSecret {
  readonly name: string;
  readonly line: number;
}

/** The Secrets with `data` or `stringData` in a (multi-document) YAML text. */
export function plaintextSecrets(text: string): PlainSecret[] {
  // A cheap pre-filter; loose on purpose (flow style, JSON, a comment after the kind).
  if (!/\bSecret\b/.test(text)) return [];
  const lines = new LineCounter();
  const found: PlainSecret[] = [];
  for (const doc of parseAllDocuments(text, { lineCounter: lines })) {
    if (!("toJS" in doc)) continue;
    const value = doc.toJS() as Record<string, unknown> | null;
    if (!value || value.kind !== "Secret" || value.sops) continue;
    const filled = (v: unknown) => v && typeof v === "object" && Object.keys(v).length > 0;
    if (filled(value.data) || filled(value.stringData)) {
      const meta = value.metadata as { name?: string } | undefined;
      // Point at the data/stringData key itself, else at the document.
      const contents = doc.contents;
      const pair = isMap(contents)
        ? contents.items.find((p) => isScalar(p.key) && (p.key.value === "stringData" || p.key.value === "data"))
        : undefined;
      const start = (isScalar(pair?.key) ? pair.key.range?.[0] : undefined) ?? contents?.range?.[0] ?? 0;
      found.push({ name: meta?.name ?? "(unnamed)", line: lines.linePos(start).line });
    }
  }
  return found;
}

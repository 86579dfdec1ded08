/**
 * Reading SOPS-encrypted files without decrypting them: whether a file is encrypted, for whom,
 * which values are still plaintext, and the skeleton of its structure.
 *
 * @module
 */

import { isMap, isScalar, LineCounter, parseAllDocuments, parseDocument } from "yaml";

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
export function isCiphertext(value: unknown): boolean {
  return typeof value === "string" && ENC.test(value);
}

/** Parses a YAML (or JSON) file's text. Throws a SyntaxError-like error on invalid YAML. */
export function parseSopsFile(text: string): SopsFile {
  const doc = parseDocument(text, { uniqueKeys: false });
  if (doc.errors.length) throw new Error(doc.errors[0].message);
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

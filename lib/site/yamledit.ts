/**
 * Edits of a YAML file that keep everything else byte for byte: the `yaml` package's Document
 * API finds a value's node and its place in the text, and only that place is rewritten (a scalar
 * in its own quoting style; a collection whose shape changed is written anew at its indentation).
 *
 * @example
 * ```ts
 * const text = "# the zone\ndomain: lab.example.org # here\n";
 * const doc = parseAllDocuments(text)[0];
 * const edits: TextEdit[] = [];
 * setValue(text, doc, ["domain"], "home.example.net", edits);
 * applyEdits(text, edits); // "# the zone\ndomain: home.example.net # here\n"
 * ```
 *
 * @module
 */

import { type Document, isAlias, isMap, isScalar, isSeq, type Node, type Scalar, stringify } from "yaml";

/** One replacement of `[start, end)` of the text. */
export interface TextEdit {
  readonly start: number;
  readonly end: number;
  readonly text: string;
}

/** Whether two plain JSON-like values are equal. */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => deepEqual(x, bb[i]));
  }
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  return ka.length === kb.length &&
    ka.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

function scalarText(node: Scalar, value: unknown): string {
  if (typeof value !== "string") return String(value);
  if (node.type === "QUOTE_DOUBLE") return JSON.stringify(value);
  if (node.type === "QUOTE_SINGLE") return `'${value.replaceAll("'", "''")}'`;
  return stringify(value, { lineWidth: 0 }).trimEnd();
}

function columnOf(text: string, offset: number): number {
  return offset - (text.lastIndexOf("\n", offset - 1) + 1);
}

function collectionText(text: string, node: Node, value: unknown): string {
  if ((isSeq(node) || isMap(node)) && node.flow && Array.isArray(value) && value.every((v) => typeof v !== "object")) {
    return `[${value.map((v) => stringify(v, { lineWidth: 0 }).trimEnd()).join(", ")}]`;
  }
  const pad = " ".repeat(columnOf(text, node.range![0]));
  return stringify(value, { lineWidth: 0 }).trimEnd().split("\n").map((l, i) => (i === 0 ? l : pad + l)).join("\n");
}

/**
 * Makes `node` hold exactly `value`, adding the needed replacements to `edits`: nothing when it
 * already does; scalars keep their quoting; collections of the same shape are edited item by item.
 */
function setNode(text: string, node: Node, value: unknown, edits: TextEdit[]): void {
  if (isAlias(node)) throw new Error("an alias cannot be set");
  if (deepEqual(node.toJSON(), value)) return;
  const [start, valueEnd] = node.range!;
  if (isScalar(node) && (value === null || typeof value !== "object")) {
    edits.push({ start, end: valueEnd, text: scalarText(node, value) });
    return;
  }
  if (isSeq(node) && Array.isArray(value) && node.items.length === value.length) {
    node.items.forEach((item, i) => setNode(text, item as Node, value[i], edits));
    return;
  }
  if (isMap(node) && value && typeof value === "object" && !Array.isArray(value)) {
    const keys = node.items.map((p) => String((p.key as Scalar)?.value));
    const want = Object.keys(value);
    if (keys.length === want.length && want.every((k) => keys.includes(k)) && node.items.every((p) => p.value)) {
      for (const p of node.items) {
        setNode(text, p.value as Node, (value as Record<string, unknown>)[String((p.key as Scalar).value)], edits);
      }
      return;
    }
  }
  // A different shape: the whole collection (or a scalar turned collection) is written anew.
  const end = start + text.slice(start, valueEnd).trimEnd().length;
  edits.push({ start, end, text: collectionText(text, node, value) });
}

/** {@link setNode} on the node at `path` of `doc`; false when the document has no such node. */
export function setValue(
  text: string,
  doc: Document,
  path: readonly (string | number)[],
  value: unknown,
  edits: TextEdit[],
): boolean {
  const node = doc.getIn(path, true) as Node | undefined;
  if (!node || !node.range) return false;
  setNode(text, node, value, edits);
  return true;
}

/** The text with `edits` applied (they must not overlap). */
export function applyEdits(text: string, edits: readonly TextEdit[]): string {
  let out = text;
  for (const e of [...edits].sort((a, b) => b.start - a.start)) out = out.slice(0, e.start) + e.text + out.slice(e.end);
  return out;
}

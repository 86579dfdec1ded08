/**
 * Stability: an object that renders differently from identical inputs (a generated
 * certificate, a random password) is never in sync in Argo CD, unless the Application tells
 * Argo CD to ignore exactly those fields: `ignoreDifferences` covering every differing pointer,
 * with `RespectIgnoreDifferences=true` so a sync does not overwrite them either.
 *
 * @module
 */

import type { AppSpec, Finding, IgnoreDifference, ObjectRef, RenderedApp } from "../render/model.ts";
import { groupOf } from "./scope.ts";

/** A path pattern: field names, and `*` for every element of an array (or value of a map). */
type Pattern = readonly string[];

function unescapePointer(p: string): string[] {
  return p === "" ? [] : p.split("/").slice(1).map((s) => s.replaceAll("~1", "/").replaceAll("~0", "~"));
}

/**
 * The path a jq path expression of `ignoreDifferences` selects, in the forms Argo CD users
 * write: `.a.b`, `.a["b.c"]`, `.a[]`, `.a[]?`, `.a[0]`, `.a[] | select(…) | .b` (a select keeps
 * some elements: taken as all of them). Undefined for anything else.
 */
export function jqPattern(expr: string): Pattern | undefined {
  const out: string[] = [];
  const stages = expr.split("|").map((s) => s.trim()).filter(Boolean);
  for (const stage of stages) {
    if (/^select\(.*\)$/.test(stage)) continue;
    let rest = stage;
    if (!rest.startsWith(".")) return undefined;
    while (rest.length) {
      let m: RegExpExecArray | null;
      if ((m = /^\.([A-Za-z_][A-Za-z0-9_-]*)/.exec(rest))) out.push(m[1]);
      else if ((m = /^\.?\[\s*"((?:[^"\\]|\\.)*)"\s*\]\??/.exec(rest))) out.push(JSON.parse(`"${m[1]}"`));
      else if ((m = /^\.?\[\s*\]\??/.exec(rest))) out.push("*");
      else if ((m = /^\.?\[\s*(\d+)\s*\]\??/.exec(rest))) out.push(m[1]);
      else if ((m = /^\.$/.exec(rest))) {
        // `.` alone: the whole object
      } else return undefined;
      rest = rest.slice(m[0].length);
    }
  }
  return out;
}

/** Whether `pointer` lies in the subtree `pattern` selects. */
function covers(pattern: Pattern, pointer: string): boolean {
  const parts = unescapePointer(pointer);
  if (parts.length < pattern.length) return false;
  return pattern.every((p, i) => p === "*" || p === parts[i]);
}

/** Whether an ignoreDifferences entry applies to the object. */
function applies(entry: IgnoreDifference, ref: ObjectRef): boolean {
  if (entry.kind !== ref.kind) return false;
  if ((entry.group ?? "") !== groupOf(ref.apiVersion)) return false;
  if (entry.name && entry.name !== ref.name) return false;
  if (entry.namespace && entry.namespace !== ref.namespace) return false;
  return true;
}

/** The pointers of `pointers` that the app's ignoreDifferences do not cover. */
export function uncovered(app: AppSpec, ref: ObjectRef, pointers: readonly string[]): string[] {
  const patterns: Pattern[] = [];
  for (const entry of app.ignoreDifferences) {
    if (!applies(entry, ref)) continue;
    for (const p of entry.jsonPointers ?? []) patterns.push(unescapePointer(p));
    for (const e of entry.jqPathExpressions ?? []) {
      const p = jqPattern(e);
      if (p) patterns.push(p);
    }
  }
  // "" : the object itself differs (present in one build only): nothing can cover that.
  return pointers.filter((ptr) => ptr === "" || !patterns.some((p) => covers(p, ptr)));
}

function suggestion(ref: ObjectRef, pointers: readonly string[]): string {
  // The common parent of the differing leaves (e.g. /data for a Secret's certificates).
  const split = pointers.map(unescapePointer);
  const common: string[] = [];
  for (let i = 0; split.every((s) => i < s.length - 1 && s[i] === split[0][i]); i++) common.push(split[0][i]);
  const pointer = common.length
    ? "/" + common.map((c) => c.replaceAll("~", "~0").replaceAll("/", "~1")).join("/")
    : pointers[0];
  return `{group: "${groupOf(ref.apiVersion)}", kind: ${ref.kind}, name: ${ref.name}, jsonPointers: ["${pointer}"]}`;
}

/** The stability findings of one rendered app. */
export function checkStability(app: RenderedApp): Finding[] {
  const findings: Finding[] = [];
  const respects = app.app.syncOptions.includes("RespectIgnoreDifferences=true");
  for (const u of app.unstable ?? []) {
    const left = uncovered(app.app, u.ref, u.pointers);
    const shown = (list: readonly string[]) =>
      list.length > 4 ? `${list.slice(0, 4).join(", ")} and ${list.length - 4} more` : list.join(", ");
    if (u.pointers.includes("")) {
      findings.push({
        app: app.app.name,
        check: "stability",
        severity: "error",
        object: u.ref,
        message: "appears in only one of two builds from identical inputs (a generated name?): Argo CD would " +
          "prune and re-create it on every sync; make its name stable",
      });
    } else if (left.length) {
      findings.push({
        app: app.app.name,
        check: "stability",
        severity: "error",
        object: u.ref,
        message: `renders differently from identical inputs at ${shown(left)} (generated certificate or ` +
          "password?): Argo CD would never see it in sync. Make it stable (e.g. issue it with cert-manager, keep " +
          `the value in a SOPS secret), or ignore exactly that: add ${suggestion(u.ref, left)} to the ` +
          "Application's ignoreDifferences (root/components.json) with syncOptions RespectIgnoreDifferences=true",
      });
    } else if (!respects) {
      findings.push({
        app: app.app.name,
        check: "stability",
        severity: "error",
        object: u.ref,
        message: `renders differently at ${shown(u.pointers)}; ignoreDifferences covers it, but without ` +
          "RespectIgnoreDifferences=true in syncOptions every sync overwrites it again: add that sync option",
      });
    }
  }
  return findings;
}

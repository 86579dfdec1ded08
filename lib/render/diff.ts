/**
 * The difference between two renderings: per Application, the objects added, removed and
 * changed (grouped by kind, namespace and name, with a line diff of their YAML), a summary, and
 * a markdown form that fits a pull-request comment. Secret values appear as the digests render
 * put in their place.
 *
 * An app that failed to build on either side is not compared (its objects on the other side
 * would all read as added or removed, and a change to it would not show at all): it is listed as
 * `not compared` with the build errors, and the diff is {@link RenderDiff.complete incomplete}.
 *
 * @module
 */

import { createPatch } from "diff";
import { stringify } from "yaml";
import type { KubeObject, Rendering } from "./model.ts";

/** GitHub's limit for a comment body. */
const COMMENT_LIMIT = 65_536;

/** One object that differs. */
export interface ObjectChange {
  readonly change: "added" | "removed" | "changed";
  /** `Kind/namespace/name` or `Kind/name`. */
  readonly id: string;
  /** A unified diff of the object's YAML (without file headers). */
  readonly patch: string;
}

/** One Application that differs. */
export interface AppDiff {
  readonly app: string;
  readonly path: string;
  /**
   * The app exists only in the new rendering (`added`) or only in the old one (`removed`);
   * `not compared`: it failed to build on one side or both, so its objects are not compared.
   */
  readonly status: "added" | "removed" | "changed" | "not compared";
  readonly objects: readonly ObjectChange[];
  /** The build errors, `before: …` and `now: …` (`before and now: …` when the same). */
  readonly errors: readonly string[];
}

/** The whole difference. */
export interface RenderDiff {
  readonly env: string;
  readonly apps: readonly AppDiff[];
  readonly added: number;
  readonly removed: number;
  readonly changed: number;
  /** The apps that are not compared (they failed to build on a side). */
  readonly notCompared: readonly string[];
  /** Whether every app was compared. */
  readonly complete: boolean;
}

function idOf(o: KubeObject): string {
  const ns = o.metadata.namespace;
  return ns ? `${o.kind}/${ns}/${o.metadata.name}` : `${o.kind}/${o.metadata.name}`;
}

function yamlOf(o: KubeObject | undefined): string {
  return o ? stringify(o, { lineWidth: 0, aliasDuplicateObjects: false }) : "";
}

function patchOf(before: string, after: string): string {
  const lines = createPatch("object", before, after, "", "", { context: 3 }).split("\n");
  // Drop the "Index:", "===", "---" and "+++" header lines.
  return lines.slice(4).join("\n").trimEnd();
}

/** Compares `base` (old) with `head` (new). */
export function diffRenderings(base: Rendering, head: Rendering): RenderDiff {
  const baseApps = new Map(base.apps.map((a) => [a.app.name, a]));
  const headApps = new Map(head.apps.map((a) => [a.app.name, a]));
  const names = [...new Set([...headApps.keys(), ...baseApps.keys()])].sort();
  const apps: AppDiff[] = [];
  const notCompared: string[] = [];
  let added = 0, removed = 0, changed = 0;
  for (const name of names) {
    const b = baseApps.get(name);
    const h = headApps.get(name);
    if (b?.error || h?.error) {
      notCompared.push(name);
      apps.push({
        app: name,
        path: (h ?? b)!.app.path,
        status: "not compared",
        objects: [],
        errors: b?.error && b.error === h?.error
          ? [`before and now: ${b.error}`]
          : [...(b?.error ? [`before: ${b.error}`] : []), ...(h?.error ? [`now: ${h.error}`] : [])],
      });
      continue;
    }
    const before = new Map((b?.objects ?? []).map((o) => [idOf(o), o]));
    const after = new Map((h?.objects ?? []).map((o) => [idOf(o), o]));
    const objects: ObjectChange[] = [];
    for (const id of [...new Set([...after.keys(), ...before.keys()])].sort()) {
      const x = yamlOf(before.get(id));
      const y = yamlOf(after.get(id));
      if (x === y) continue;
      const change = !x ? "added" : !y ? "removed" : "changed";
      objects.push({ change, id, patch: patchOf(x, y) });
      if (change === "added") added++;
      else if (change === "removed") removed++;
      else changed++;
    }
    if (!objects.length && b && h) continue;
    apps.push({
      app: name,
      path: (h ?? b)!.app.path,
      status: !b ? "added" : !h ? "removed" : "changed",
      objects,
      errors: [],
    });
  }
  return { env: head.env, apps, added, removed, changed, notCompared, complete: !notCompared.length };
}

/** Why an app was not compared, in a few words. */
function whyNot(a: AppDiff): string {
  const sides = a.errors.map((e) => e.slice(0, e.indexOf(":")));
  return `it failed to build ${sides.length === 2 ? "before and now" : sides[0]}`;
}

function counts(a: AppDiff): string {
  const n = (c: ObjectChange["change"]) => a.objects.filter((o) => o.change === c).length;
  return `${n("added")} added, ${n("changed")} changed, ${n("removed")} removed`;
}

function summaryLine(d: RenderDiff): string {
  const differ = d.apps.length - d.notCompared.length;
  const incomplete = d.notCompared.length
    ? `; INCOMPLETE: ${d.notCompared.length} app${d.notCompared.length === 1 ? "" : "s"} not compared ` +
      `(failed to build): ${d.notCompared.join(", ")}`
    : "";
  if (!differ) {
    return `no changes in the ${d.env} rendering${d.notCompared.length ? " of the apps compared" : ""}${incomplete}`;
  }
  return `${differ} app${differ === 1 ? " differs" : "s differ"} (${d.env}): ${d.added} objects added, ` +
    `${d.changed} changed, ${d.removed} removed${incomplete}`;
}

const SIGN = { added: "+", removed: "-", changed: "~" } as const;

/** Cuts sections to fit `limit` characters; returns the kept text and what was left out. */
function fit(
  head: string,
  sections: { name: string; text: string }[],
  limit: number,
  tailOf: (cut: string[]) => string,
) {
  let out = head;
  const cut: string[] = [];
  for (const s of sections) {
    if (!cut.length && out.length + s.text.length + tailOf([s.name]).length <= limit) out += s.text;
    else cut.push(s.name);
  }
  return cut.length ? out + tailOf(cut) : out;
}

/** The diff as plain text; cut to `limitBytes` characters when given, saying what was cut. */
export function formatText(d: RenderDiff, limitBytes?: number): string {
  const sections = d.apps.map((a) => {
    const lines = [
      a.status === "not compared"
        ? `app ${a.app} (${a.path}): not compared: ${whyNot(a)}`
        : `app ${a.app} (${a.path})${a.status === "changed" ? "" : `, ${a.status}`}: ${counts(a)}`,
    ];
    for (const e of a.errors) lines.push(...e.split("\n").map((l) => `  ! ${l}`));
    for (const o of a.objects) {
      lines.push(`  ${SIGN[o.change]} ${o.id}`);
      lines.push(...o.patch.split("\n").map((l) => `    ${l}`));
    }
    return { name: a.app, text: lines.join("\n") + "\n\n" };
  });
  const head = "";
  const summary = summaryLine(d) + "\n";
  if (limitBytes === undefined) return head + sections.map((s) => s.text).join("") + summary;
  return fit(
    head,
    sections,
    limitBytes - summary.length,
    (cut) => `… cut to ${limitBytes} characters: left out ${cut.join(", ")}\n\n`,
  ) + summary;
}

/** The diff as a markdown pull-request comment of at most `limit` characters (65,536 by default). */
export function formatMarkdown(d: RenderDiff, limit = COMMENT_LIMIT, title = "Rendered manifests"): string {
  const head = [
    `### ${title}: ${summaryLine(d)}`,
    "",
    ...(d.apps.length
      ? [
        "| app | path | added | changed | removed | not compared because |",
        "| --- | --- | ---: | ---: | ---: | --- |",
        ...d.apps.map((a) => {
          const n = (c: ObjectChange["change"]) => a.objects.filter((o) => o.change === c).length;
          if (a.status === "not compared") {
            return `| ${a.app} (not compared) | \`${a.path}\` | – | – | – | ${whyNot(a)} (details below) |`;
          }
          return `| ${a.app}${a.status === "changed" ? "" : ` (${a.status})`} | \`${a.path}\` | ${n("added")} | ` +
            `${n("changed")} | ${n("removed")} |  |`;
        }),
        "",
      ]
      : []),
  ].join("\n") + "\n";
  const sections = d.apps.map((a) => {
    const body = [
      ...a.errors.map((e) => `! ${e.replaceAll("\n", "\n! ")}`),
      ...a.objects.flatMap((o) => [`${SIGN[o.change]} ${o.id}`, o.patch]),
    ].join("\n").replaceAll("```", "`\u200b``");
    return {
      name: a.app,
      text: `<details><summary>${a.app}: ${
        a.status === "not compared" ? "not compared" : counts(a)
      }</summary>\n\n\`\`\`diff\n${body}\n\`\`\`\n\n</details>\n\n`,
    };
  });
  return fit(
    head,
    sections,
    limit,
    (cut) =>
      `**Cut to fit ${limit} characters:** the diff of ${cut.join(", ")} is left out; run ` +
      "`deno task diff` locally for all of it.\n",
  );
}

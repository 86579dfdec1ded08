/**
 * A component's README and its `| Path | Purpose |` table, which names each file and folder of
 * the component. The scaffolding commands (`new app`, `secrets new`) keep the table complete, and
 * {@link unlistedInReadme} is the rule the tree's tests hold every component to.
 *
 * ```ts
 * addReadmeRows(text, [["`db.sops.yaml`", "the `db` Secret, encrypted"]]);
 * // the table with one more row, re-aligned as `deno fmt` aligns it
 * ```
 *
 * @module
 */

import { join } from "node:path";

/** A Markdown table, aligned as `deno fmt` aligns it; the first row is the header. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0].map((_, i) => Math.max(3, ...rows.map((r) => r[i].length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  return [line(rows[0]), line(widths.map((w) => "-".repeat(w))), ...rows.slice(1).map(line)].join("\n") + "\n";
}

const HEADER = /^\|\s*Path\s*\|\s*Purpose\s*\|\s*$/;

/** The cells of a table line (`| a | b |`), an escaped `\|` kept inside its cell. */
function cells(line: string): string[] {
  return line.trim().replace(/^\|/, "").replace(/\|$/, "").split(/(?<!\\)\|/).map((c) => c.trim());
}

/** The paths a README's Path | Purpose table names (the first code span of each row). */
function readmePaths(text: string): string[] {
  return [...text.matchAll(/^\|\s*`([^`]+)`/gm)].map((m) => m[1]);
}

/**
 * `text` with `rows` ([path cell, purpose]) appended to its Path | Purpose table, the table
 * re-aligned; rows whose path the table names already are skipped. Undefined when the README has
 * no such table.
 */
export function addReadmeRows(text: string, rows: readonly (readonly [string, string])[]): string | undefined {
  const lines = text.split("\n");
  const start = lines.findIndex((l) => HEADER.test(l));
  if (start === -1) return undefined;
  let end = start + 1;
  while (end < lines.length && lines[end].trim().startsWith("|")) end++;
  const body = lines.slice(start + 2, end).map(cells);
  const named = new Set(readmePaths(lines.slice(start, end).join("\n")));
  const added = rows.filter(([path]) => !named.has(path.replace(/^`|`$/g, "")));
  if (!added.length) return text;
  const rebuilt = table([cells(lines[start]), ...body, ...added]).trimEnd().split("\n");
  return [...lines.slice(0, start), ...rebuilt, ...lines.slice(end)].join("\n");
}

/** The files and folders of component `dir` (relative to `root`) that its README's table does not name. */
export async function unlistedInReadme(root: string, dir: string): Promise<string[]> {
  const readme = await Deno.readTextFile(join(root, dir, "README.md")).catch(() => "");
  if (!readme.split("\n").some((l) => HEADER.test(l))) return ["README.md (no Path | Purpose table)"];
  const paths = readmePaths(readme);
  const missing: string[] = [];
  for await (const e of Deno.readDir(join(root, dir))) {
    if (e.name === "README.md" || e.name === "charts" || e.name.startsWith(".")) continue;
    const name = e.isDirectory ? `${e.name}/` : e.name;
    if (!paths.some((p) => p === name || (e.isDirectory && p.startsWith(name)))) missing.push(name);
  }
  return missing.sort();
}

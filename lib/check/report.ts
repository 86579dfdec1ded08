/**
 * The check's report: per app ok / errors / warnings, one line per finding and object (text),
 * or the same as JSON for scripts.
 *
 * @module
 */

import { type Finding, showRef } from "../render/model.ts";
import type { CheckResult } from "./run.ts";

function count(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? "" : "s"}`;
}

/** The findings of one app, errors first. */
function ofApp(findings: readonly Finding[], app: string): Finding[] {
  return findings.filter((f) => f.app === app).sort((
    a,
    b,
  ) => (a.severity === b.severity ? 0 : a.severity === "error" ? -1 : 1));
}

/** One line per finding: `error  schema  Deployment/ns/name: message`. */
function findingLine(f: Finding): string {
  const what = f.object ? `${showRef(f.object)}: ` : "";
  return `${f.severity === "error" ? "error  " : "warning"} ${f.check.padEnd(12)} ${what}${f.message}`;
}

/** The text report. */
export function textReport(result: CheckResult): string {
  const lines: string[] = [];
  const width = Math.max(...result.apps.map((a) => a.length), 4);
  for (const app of result.apps) {
    const list = ofApp(result.findings, app);
    const errors = list.filter((f) => f.severity === "error").length;
    const warnings = list.length - errors;
    if ((app === "root" || app === "cluster") && !list.length) continue;
    const status = !list.length
      ? "ok"
      : [errors ? count(errors, "error") : "", warnings ? count(warnings, "warning") : ""].filter(Boolean).join(", ");
    lines.push(`${app.padEnd(width)}  ${status}`);
    for (const f of list) lines.push(`  ${findingLine(f).replaceAll("\n", "\n    ")}`);
  }
  const errors = result.findings.filter((f) => f.severity === "error").length;
  const warnings = result.findings.length - errors;
  const apps = result.apps.filter((a) => a !== "root" && a !== "cluster").length;
  lines.push(
    "",
    `check (${result.rendering.env}): ${count(apps, "app")}, ${count(errors, "error")}, ${count(warnings, "warning")}`,
  );
  return lines.join("\n");
}

/** The JSON report. */
export function jsonReport(result: CheckResult): string {
  return JSON.stringify(
    {
      env: result.rendering.env,
      ok: !result.findings.some((f) => f.severity === "error"),
      apps: result.apps.map((name) => {
        const list = ofApp(result.findings, name);
        return {
          name,
          errors: list.filter((f) => f.severity === "error").length,
          warnings: list.filter((f) => f.severity === "warning").length,
          findings: list,
        };
      }),
    },
    null,
    2,
  );
}

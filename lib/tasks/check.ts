/**
 * The `check` task on top of {@link runCheck}: the report on standard output (text or JSON),
 * progress on standard error, exit code 1 on any error.
 *
 * @module
 */

import type { Config } from "../config.ts";
import { print, type Ui } from "../ui.ts";
import { jsonReport, textReport } from "../check/report.ts";
import { type CheckOptions, runCheck } from "../check/run.ts";
import { ensureTools } from "./tools.ts";

/** Runs the check and prints the report; returns the exit code. */
export async function checkCommand(
  config: Config,
  options: CheckOptions & { format: "text" | "json" },
  ui: Ui,
): Promise<number> {
  // A machine with Go but without the tools gets them built first (once), as `test` and `dev` do.
  await ensureTools(config, "check", ui);
  const start = performance.now();
  // The files configure owns agree with site.yaml (`deno task configure --check`); an invalid site.yaml stops here.
  const drift = await (await import("./configure.ts")).siteDrift(config.repoRoot);
  const result = await runCheck(config, options, ui);
  print(options.format === "json" ? jsonReport(result) : textReport(result));
  for (const line of drift ?? []) ui.info(`error: ${line}; run \`deno task configure\``);
  if (options.format === "text") ui.info(`checked in ${((performance.now() - start) / 1000).toFixed(2)}s`);
  return drift?.length || result.findings.some((f) => f.severity === "error") ? 1 : 0;
}

/**
 * The `doctor` task: the report, as a table or JSON, and the exit code.
 * @module
 */

import type { Config } from "../config.ts";
import { diagnose, formatReport } from "../doctor.ts";
import type { Purpose } from "../tools.ts";
import { print } from "../ui.ts";

/** Runs the task; returns the exit code: 0 only when everything the purposes need is there. */
export async function doctorCommand(
  config: Config,
  options: { json?: boolean; for: readonly Purpose[] },
  denoVersion: string,
): Promise<number> {
  const report = await diagnose(config, options.for, denoVersion);
  print(options.json ? JSON.stringify(report, null, 2) : formatReport(report));
  return report.ok ? 0 : 1;
}

/**
 * The static checks of lib/stacks.ts (chart pins, values files, KSOPS generator files, Namespace
 * labels explained) as findings, each attributed to the Application whose folder holds the file.
 *
 * @module
 */

import type { AppSpec, Finding } from "../render/model.ts";
import { checkStacks } from "../stacks.ts";

/** The stack findings of the repository at `repoRoot`. */
export async function checkStackFiles(repoRoot: string, apps: readonly AppSpec[]): Promise<Finding[]> {
  const problems = await checkStacks(repoRoot);
  // The longest matching path wins (system/cilium/dev before system/cilium).
  const byPath = [...apps].sort((a, b) => b.path.length - a.path.length);
  return problems.map((p) => {
    const owner = byPath.find((a) => p.file === a.path || p.file.startsWith(`${a.path}/`)) ??
      byPath.find((a) => p.file.startsWith(`${a.path.split("/").slice(0, 2).join("/")}/`));
    return {
      app: owner?.name ?? "cluster",
      check: "stacks",
      severity: "error",
      message: `${p.file}${p.line ? `:${p.line}` : ""}: ${p.message}`,
    };
  });
}

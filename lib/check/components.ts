/**
 * Component folders ↔ Applications, both ways: every folder of a stack holding a
 * kustomization.yaml is the source of an Application (or its dev variant's parent), and every
 * Application's source is such a folder. In dev, a component `root/components.json` excludes
 * from dev (with a reason) has no Application, by design.
 *
 * @module
 */

import type { Finding, Rendering } from "../render/model.ts";
import { componentDirs, type ComponentList, readComponents, STACKS } from "../stacks.ts";

/** The component findings of a rendering of the repository at `repoRoot`. */
export async function checkComponents(repoRoot: string, rendering: Rendering): Promise<Finding[]> {
  const dirs = await componentDirs(repoRoot);
  let list: ComponentList | undefined;
  try {
    list = await readComponents(repoRoot);
  } catch {
    list = undefined;
  }
  const excluded = new Set(
    rendering.env === "dev" && list
      ? STACKS.flatMap((s) => (list![s] ?? []).filter((c) => c.dev?.exclude).map((c) => `${s}/${c.name}`))
      : [],
  );
  const findings: Finding[] = [];
  const paths = rendering.apps.map((a) => a.app);
  for (const dir of dirs) {
    if (excluded.has(dir)) continue;
    if (paths.some((p) => p.path === dir || p.path.startsWith(`${dir}/`))) continue;
    findings.push({
      app: "cluster",
      check: "component",
      severity: "error",
      message: `${dir} is a component folder but no Application of the ${rendering.env} root app builds it: Argo CD ` +
        "would never deploy it. Add it to root/components.json (`deno task new app NAME` does this for apps/), or " +
        "remove the folder",
    });
  }
  for (const app of paths) {
    if (dirs.some((d) => app.path === d || app.path.startsWith(`${d}/`))) continue;
    findings.push({
      app: app.name,
      check: "component",
      severity: "error",
      message: `its source path ${app.path} is not a component folder (STACK/NAME with a kustomization.yaml): ` +
        "fix the name or path in root/components.json",
    });
  }
  return findings;
}

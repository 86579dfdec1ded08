/**
 * The `new` task: what scaffolding wrote, and what to do next.
 * @module
 */

import type { Config } from "../config.ts";
import { newApp } from "../scaffold.ts";

/** `new app NAME`; returns the exit code. */
export async function newAppCommand(config: Config, name: string, purpose?: string): Promise<number> {
  for (const f of await newApp(config.repoRoot, name, purpose)) console.error(`wrote ${f}`);
  console.error(`next: add manifests or helmCharts to apps/${name}/kustomization.yaml; Argo CD syncs it once pushed`);
  return 0;
}

/**
 * The `new` task: what scaffolding wrote, and what to do next.
 * @module
 */

import type { Config } from "../config.ts";
import { newApp } from "../scaffold.ts";
import { consoleUi, type Ui } from "../ui.ts";

/** `new app NAME`; returns the exit code. */
export async function newAppCommand(
  config: Config,
  name: string,
  purpose?: string,
  ui: Ui = consoleUi(),
): Promise<number> {
  for (const f of await newApp(config.repoRoot, name, purpose)) ui.info(`wrote ${f}`);
  ui.info(`next: add manifests or helmCharts to apps/${name}/kustomization.yaml; Argo CD syncs it once pushed`);
  return 0;
}

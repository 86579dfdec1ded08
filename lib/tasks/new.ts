/**
 * The `new` task: what scaffolding wrote, and what to do next.
 * @module
 */

import type { Config } from "../config.ts";
import { newComponent } from "../scaffold.ts";
import type { Stack } from "../stacks.ts";
import { consoleUi, type Ui } from "../ui.ts";

/** `new system|platform|app NAME`; returns the exit code. */
export async function newComponentCommand(
  config: Config,
  stack: Stack,
  name: string,
  purpose?: string,
  ui: Ui = consoleUi(),
): Promise<number> {
  for (const f of await newComponent(config.repoRoot, stack, name, purpose)) ui.info(`wrote ${f}`);
  ui.info(`next: add manifests or helmCharts to ${stack}/${name}/kustomization.yaml; Argo CD syncs it once pushed`);
  if (stack !== "apps") ui.info(`then name ${name} in the README's Stacks line, where every ${stack} component is`);
  return 0;
}

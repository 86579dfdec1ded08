/**
 * The `tools` task: plan, then build what is missing.
 * @module
 */

import { join } from "node:path";
import { render, Runner } from "../cmd.ts";
import type { Config } from "../config.ts";
import { UsageError } from "../errors.ts";
import { buildCommands, installTools, type Plan, planTools } from "../install.ts";
import { Toolbox } from "../toolbox.ts";
import { TOOLS, type ToolSpec } from "../tools.ts";
import { consoleUi, duration, type Ui } from "../ui.ts";

export interface ToolsOptions {
  names?: string[];
  force?: boolean;
  dryRun?: boolean;
  list?: boolean;
}

/** Picks manifest entries by name; unknown names are a usage error listing the valid ones. */
export function selectTools(names: readonly string[] = []): ToolSpec[] {
  if (names.length === 0) return [...TOOLS];
  const unknown = names.filter((n) => !TOOLS.some((t) => t.name === n));
  if (unknown.length) {
    throw new UsageError(
      `unknown tool ${unknown.map((n) => `'${n}'`).join(", ")}`,
      `choose from: ${TOOLS.map((t) => t.name).join(", ")}`,
    );
  }
  return TOOLS.filter((t) => names.includes(t.name));
}

function describe(plan: Plan): string {
  switch (plan.action) {
    case "present":
      return `ok (${plan.probes.map((p) => p.chosen?.path).join(", ")})`;
    case "unavailable":
      return `cannot be built here: ${plan.spec.build.kind === "unavailable" ? plan.spec.build.why : ""}`;
    case "build": {
      const seen = plan.probes.flatMap((p) => p.candidates).map((c) => `${c.version ?? "?"} at ${c.path}`);
      return seen.length ? `to build (found ${seen.join(", ")})` : "to build";
    }
  }
}

/** Runs the task; returns the exit code. */
export async function toolsCommand(
  config: Config,
  options: ToolsOptions,
  ui: Ui = consoleUi({
    live: !config.ci && Deno.stderr.isTerminal(),
  }),
): Promise<number> {
  const specs = selectTools(options.names);
  if (options.list) {
    for (const s of specs) {
      const how = s.build.kind === "module"
        ? `go: ${s.build.module}`
        : s.build.kind === "repo-module"
        ? `go: module ${s.build.dir}`
        : "not buildable here";
      console.log(`${s.name.padEnd(14)} ${s.version.padEnd(8)} ${how}`);
    }
    return 0;
  }
  const toolbox = new Toolbox(config);
  const plans = await planTools(toolbox, specs, options.force);
  const width = Math.max(...specs.map((s) => s.name.length));
  ui.info(`tools: pinned versions, built into ${config.toolsDir}`);
  for (const plan of plans) {
    ui.info(`  ${plan.spec.name.padEnd(width)}  ${plan.spec.version.padEnd(7)}  ${describe(plan)}`);
  }

  const runner = new Runner({
    env: config.env,
    resolve: toolbox.resolve,
    dryRun: options.dryRun,
    log: config.verbose || options.dryRun ? (line) => ui.info(line) : undefined,
  });
  if (options.dryRun) {
    for (const plan of plans.filter((p) => p.action === "build")) {
      const work = join(config.toolsDir, plan.spec.name, `.build-${plan.spec.version}-XXXX`);
      for (const c of buildCommands(plan.spec, work, join(work, "out"), { ...config.env })) {
        ui.info(render(c));
      }
    }
    return 0;
  }

  const start = Date.now();
  const outcomes = await installTools(config, runner, toolbox, plans, ui);
  const built = outcomes.filter((o) => o.action === "build");
  const missing = plans.filter((p) => p.action === "unavailable");
  ui.info(
    built.length
      ? `tools: built ${built.map((o) => o.name).join(", ")} in ${duration(Date.now() - start)}`
      : "tools: nothing to build",
  );
  for (const plan of missing) {
    ui.warn(`${plan.spec.name} ${plan.spec.version} is not installed and ${describe(plan)}`);
  }
  return 0;
}

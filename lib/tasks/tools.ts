/**
 * The `tools` task: plan, then build what is missing.
 * @module
 */

import { join } from "node:path";
import { render, Runner } from "../cmd.ts";
import type { Config } from "../config.ts";
import { HomelabError, UsageError } from "../errors.ts";
import { buildCommands, installTools, type Plan, planTools } from "../install.ts";
import { Toolbox } from "../toolbox.ts";
import { type Purpose, TOOLS, type ToolSpec } from "../tools.ts";
import { consoleUi, duration, print, type Ui } from "../ui.ts";

export interface ToolsOptions {
  names?: string[];
  force?: boolean;
  dryRun?: boolean;
  list?: boolean;
}

/** Picks manifest entries by name; unknown names are a usage error listing the valid ones. */
function selectTools(names: readonly string[] = []): ToolSpec[] {
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
      print(`${s.name.padEnd(14)} ${s.version.padEnd(8)} ${how}`);
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
      : missing.length
      ? "tools: nothing that can be built here is missing"
      : "tools: nothing to build",
  );
  for (const plan of missing) {
    ui.warn(`${plan.spec.name} ${plan.spec.version} is not installed and ${describe(plan)}`);
  }
  // A tool asked for by name that cannot be built is a failure; in the default run it is a warning.
  const asked = missing.filter((p) => options.names?.includes(p.spec.name));
  if (asked.length) {
    throw new HomelabError(
      `${asked.map((p) => p.spec.name).join(", ")} cannot be built by \`deno task tools\`, and is not installed`,
      { hint: asked.map((p) => p.spec.build.kind === "unavailable" ? p.spec.build.why : "").join("; ") },
    );
  }
  return 0;
}

/**
 * Builds the pinned tools a task needs (those whose `neededFor` names `purpose`) that are
 * missing, so the task works on a machine that has only Go; says nothing when all are there.
 * Tools that cannot be built here are left to the task's own preflight, which names them.
 */
export async function ensureTools(config: Config, purpose: Purpose, ui: Ui): Promise<void> {
  const toolbox = new Toolbox(config);
  const specs = TOOLS.filter((t) => t.neededFor.includes(purpose));
  const plans = await planTools(toolbox, specs);
  if (!plans.some((p) => p.action === "build")) return;
  ui.info(`tools: building the pinned tools ${purpose} needs first, into ${config.toolsDir} (once)`);
  const runner = new Runner({
    env: config.env,
    resolve: toolbox.resolve,
    log: config.verbose ? (line) => ui.info(line) : undefined,
  });
  await installTools(config, runner, toolbox, plans, ui);
}

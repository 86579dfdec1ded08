/**
 * The context repository tasks (secrets, talos) work in: this checkout, the machine's
 * configuration, a runner that resolves the pinned tools, and the terminal.
 *
 * @module
 */

import { Runner, type Secret, secret } from "./cmd.ts";
import type { Config } from "./config.ts";
import { Toolbox } from "./toolbox.ts";
import { consoleUi, type Ui } from "./ui.ts";

/**
 * What the repository tasks work with: the checkout, the machine, how to run tools, the terminal.
 * The secrets and talos code both take this (as `SecretsContext` and `TalosContext`).
 */
export interface RepoContext {
  /** The repository root the paths are relative to. */
  readonly root: string;
  readonly config: Config;
  readonly runner: Runner;
  /** The value of `SOPS_AGE_KEY`, when set (read by the task, kept secret). */
  readonly ageKey?: Secret;
  readonly ui: Ui;
}

/**
 * Builds the context for a task. `ageKey` is the value of `SOPS_AGE_KEY` (the task reads it);
 * in a dry run, commands that change things are printed on standard output instead of run.
 */
export function repoContext(config: Config, options: { ageKey?: string; dryRun?: boolean } = {}): RepoContext {
  const toolbox = new Toolbox(config);
  const ui = consoleUi({ live: !config.ci && Deno.stderr.isTerminal() });
  const runner = new Runner({
    env: config.env,
    resolve: toolbox.resolve,
    dryRun: options.dryRun,
    print: (line) => console.log(line),
    log: config.verbose ? (line) => ui.info(line) : undefined,
    defaultTimeout: 120_000,
  });
  return { root: config.repoRoot, config, runner, ageKey: options.ageKey ? secret(options.ageKey) : undefined, ui };
}

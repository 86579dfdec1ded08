/**
 * The context repository tasks (secrets, talos) work in: this checkout, the machine's
 * configuration, a runner that resolves the pinned tools, and the terminal.
 *
 * @module
 */

import { Runner, type Secret, secret } from "./cmd.ts";
import type { Config } from "./config.ts";
import { Toolbox } from "./toolbox.ts";
import { consoleUi, print, type Ui } from "./ui.ts";

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
 * The runner tasks run the pinned tools with: tools resolved as the toolbox does (PATH at the
 * pinned version, then the user cache), every command logged with `DEBUG=1`.
 */
export function toolRunner(
  config: Config,
  ui: Pick<Ui, "info">,
  options: { dryRun?: boolean; print?: (line: string) => void; defaultTimeout?: number } = {},
): Runner {
  return new Runner({
    env: config.env,
    resolve: new Toolbox(config).resolve,
    dryRun: options.dryRun,
    print: options.print,
    log: config.verbose ? (line) => ui.info(line) : undefined,
    defaultTimeout: options.defaultTimeout ?? 120_000,
  });
}

/**
 * Builds the context for a task. `ageKey` is the value of `SOPS_AGE_KEY` (the task reads it);
 * in a dry run, commands that change things are printed on standard output instead of run.
 */
export function repoContext(config: Config, options: { ageKey?: string; dryRun?: boolean } = {}): RepoContext {
  const ui = consoleUi({ live: !config.ci && Deno.stderr.isTerminal() });
  const runner = toolRunner(config, ui, { dryRun: options.dryRun, print: (line) => print(line) });
  return { root: config.repoRoot, config, runner, ageKey: options.ageKey ? secret(options.ageKey) : undefined, ui };
}

/**
 * A small runner for long procedures (bootstrap, dev): a list of named steps, each of which
 * knows from the real state whether it is already done and how to do it.
 *
 * The runner prints the plan, skips what is done, runs the rest in order, and checks after each
 * step that its own check now says done (so a step that did not reach its goal stops the run).
 * Killing the process at any point and running again therefore finishes the job and repeats
 * nothing: every step looks at the nodes and the cluster, not at a record of its own.
 *
 * ```ts
 * await runSteps("bootstrap", steps, { ui, from: "cilium" });
 * // bootstrap: 12 steps
 * //    1. preflight    tools, keys, talconfig, nodes reachable
 * //   …
 * // [1/12] preflight: done (3 nodes reachable)
 * ```
 *
 * @module
 */

import { HomelabError, UsageError } from "./errors.ts";
import { duration, type Ui } from "./ui.ts";
import { poll as pollUntil } from "./poll.ts";

/** One step of a procedure. */
export interface Step {
  /** A short name for `--from` and `--only` (`cilium`). */
  readonly name: string;
  /** One line: what the step brings about. */
  readonly title: string;
  /** What `--dry-run` prints: the exact commands (and API requests) the step would run. */
  plan(): string[];
  /** Why the step is already done (from the real state), or undefined when it is not. */
  done(): Promise<string | undefined>;
  /** Does the step; absent for a step that only checks (its {@link done} throws when the check fails). */
  run?(): Promise<void>;
  /** Changes the cluster: the context guard runs before {@link done} and {@link run}. */
  readonly guarded?: boolean;
  /** A destructive step: the question asked before it runs (unless `yes`). */
  readonly confirm?: string;
}

/** How to run a procedure. */
export interface StepOptions {
  readonly ui: Ui;
  /** Start at this step (the earlier ones are neither checked nor run). */
  readonly from?: string;
  /** Run only this step. */
  readonly only?: string;
  /** Print the plan with its commands; change nothing. */
  readonly dryRun?: boolean;
  /** Answer yes to every confirmation. */
  readonly yes?: boolean;
  /** Asks a yes/no question (none: a destructive step without `yes` is refused). */
  readonly ask?: (question: string) => Promise<boolean>;
  /** Throws when the cluster the kubeconfig points at is not the one this procedure is for. */
  readonly guard?: () => Promise<void>;
  /** Lines printed under the plan (what is left out, and why). */
  readonly notes?: readonly string[];
}

/** What a run did with each step. */
export interface StepReport {
  readonly name: string;
  readonly outcome: "done already" | "ran" | "planned" | "not selected";
  readonly detail?: string;
}

function select(steps: readonly Step[], options: StepOptions): Set<string> {
  const names = steps.map((s) => s.name);
  for (const [flag, value] of [["--from", options.from], ["--only", options.only]] as const) {
    if (value !== undefined && !names.includes(value)) {
      throw new UsageError(`${flag} ${value}: there is no such step`, `choose from: ${names.join(", ")}`);
    }
  }
  if (options.from && options.only) throw new UsageError("--from and --only cannot be combined");
  if (options.only) return new Set([options.only]);
  const start = options.from ? names.indexOf(options.from) : 0;
  return new Set(names.slice(start));
}

/** The plan as printed: one line per step, and in a dry run the commands under each. */
function formatPlan(
  title: string,
  steps: readonly Step[],
  chosen: ReadonlySet<string>,
  withCommands: boolean,
): string[] {
  const width = Math.max(...steps.map((s) => s.name.length));
  const lines = [`${title}: ${steps.length} steps${chosen.size < steps.length ? ` (${chosen.size} selected)` : ""}`];
  steps.forEach((s, i) => {
    const mark = chosen.has(s.name) ? " " : "-";
    lines.push(`${mark}${String(i + 1).padStart(3)}. ${s.name.padEnd(width)}  ${s.title}`);
    if (withCommands && chosen.has(s.name)) { for (const c of s.plan()) lines.push(`        ${c}`); }
  });
  return lines;
}

/**
 * Runs `steps` in order as `title`: prints the plan, then for each selected step checks whether
 * it is done and runs it when not. Returns what happened to each step.
 */
export async function runSteps(title: string, steps: readonly Step[], options: StepOptions): Promise<StepReport[]> {
  const { ui } = options;
  const chosen = select(steps, options);
  for (const line of formatPlan(title, steps, chosen, options.dryRun ?? false)) ui.info(line);
  for (const note of options.notes ?? []) ui.info(`note: ${note}`);
  if (options.dryRun) {
    return steps.map((s) => ({ name: s.name, outcome: chosen.has(s.name) ? "planned" : "not selected" }));
  }
  // Refuse before anything changes, not only when the first cluster step comes.
  if (steps.some((s) => s.guarded && chosen.has(s.name))) await options.guard?.();
  const reports: StepReport[] = [];
  const start = Date.now();
  for (const [i, step] of steps.entries()) {
    if (!chosen.has(step.name)) {
      reports.push({ name: step.name, outcome: "not selected" });
      continue;
    }
    const tag = `[${i + 1}/${steps.length}] ${step.name}`;
    if (step.guarded) await options.guard?.();
    const already = await step.done();
    if (!step.run) {
      if (already === undefined) throw new HomelabError(`${tag}: the check failed`);
      ui.info(`${tag}: ok (${already})`);
      reports.push({ name: step.name, outcome: "ran", detail: already });
      continue;
    }
    if (already !== undefined) {
      ui.info(`${tag}: done already (${already})`);
      reports.push({ name: step.name, outcome: "done already", detail: already });
      continue;
    }
    if (step.confirm && !options.yes) {
      const ok = options.ask ? await options.ask(step.confirm) : false;
      if (!ok) {
        throw new HomelabError(`${tag}: not confirmed: ${step.confirm}`, {
          hint: "answer yes, or pass --yes to confirm every destructive step",
        });
      }
    }
    ui.info(`${tag}: ${step.title}`);
    const began = Date.now();
    await step.run();
    const after = await step.done();
    if (after === undefined) {
      throw new HomelabError(`${tag}: the step ran but its check still finds it not done`, {
        hint: `look at the state it describes (${step.title}); re-running continues from here`,
      });
    }
    ui.info(`${tag}: done in ${duration(Date.now() - began)} (${after})`);
    reports.push({ name: step.name, outcome: "ran", detail: after });
  }
  ui.info(`${title}: finished in ${duration(Date.now() - start)}`);
  return reports;
}

/**
 * Polls `poll` until it reports done, showing progress: what is awaited, the elapsed time, the
 * deadline and the last state seen; each change of state is printed as a line. On timeout,
 * `diagnose` supplies lines that say why (pods not ready, warning events).
 */
export async function waitUntil(
  ui: Ui,
  what: string,
  poll: () => Promise<{ done: boolean; state: string }>,
  options: { timeoutMs: number; intervalMs?: number; diagnose?: () => Promise<string[]> },
): Promise<string> {
  let last = "not looked yet";
  const label = `waiting for ${what} (deadline ${duration(options.timeoutMs)})`;
  return await ui.progress(
    label,
    async () => {
      const done = await pollUntil(async () => {
        const { done, state } = await poll();
        if (state !== last) ui.info(`  ${what}: ${state}`);
        last = state;
        return done ? state : undefined;
      }, { timeoutMs: options.timeoutMs, delayMs: 100, factor: 2, maxDelayMs: options.intervalMs ?? 2000 });
      if (done !== undefined) return done;
      const why = options.diagnose ? await options.diagnose().catch((e) => [`(no diagnostics: ${e.message})`]) : [];
      throw new HomelabError(
        [`timed out after ${duration(options.timeoutMs)} waiting for ${what}; last seen: ${last}`, ...why].join(
          "\n",
        ),
        { hint: "re-running continues from this step; the diagnostics above say what is holding it up" },
      );
    },
    15,
    () => `last seen: ${last}`,
  );
}

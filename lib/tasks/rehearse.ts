/**
 * The `rehearse` task on top of {@link rehearse}: the report on standard output (text or JSON),
 * the timeline and progress on standard error, exit code 1 unless every Application converged and
 * stayed Synced and Healthy.
 *
 * @module
 */

import type { Config } from "../config.ts";
import type { Env } from "../render/model.ts";
import { jsonReport, type Rehearsal, rehearse, textReport } from "../rehearse/run.ts";
import { print, type Ui } from "../ui.ts";
import { ensureTools } from "./tools.ts";

/** Options of the `rehearse` task. */
export interface RehearseCommandOptions {
  readonly env: Env;
  readonly apps?: readonly string[];
  readonly timeoutMs: number;
  readonly format: "text" | "json";
  readonly keep?: boolean;
  /** Let Argo CD create the tree's CRDs (slower; see {@link rehearse}). */
  readonly crdsByArgoCD?: boolean;
  /** Seconds between Argo CD's comparisons (tests shorten it). */
  readonly reconciliation?: number;
}

/** Runs the rehearsal and prints the report; returns the exit code. */
export async function rehearseCommand(config: Config, options: RehearseCommandOptions, ui: Ui): Promise<number> {
  await ensureTools(config, "rehearse", ui);
  const report = (r: Rehearsal) => print(options.format === "json" ? jsonReport(r) : textReport(r));
  const result = await rehearse(config, {
    env: options.env,
    apps: options.apps,
    timeoutMs: options.timeoutMs,
    reconciliation: options.reconciliation,
    crdsByArgoCD: options.crdsByArgoCD,
    beforeStop: options.keep
      ? async (result, kubeconfig) => {
        report(result);
        ui.info(`kept running: KUBECONFIG=${kubeconfig} kubectl get applications -n argocd; Ctrl-C stops everything`);
        await new Promise(() => {});
      }
      : undefined,
  }, ui);
  report(result);
  return result.ok ? 0 : 1;
}

/**
 * Which kustomize and Helm the cluster's Argo CD builds with. The argo-cd chart pinned in
 * `system/argocd/kustomization.yaml` names an Argo CD release (its `appVersion`); that release's
 * image bundles the kustomize and Helm listed in its `hack/tool-versions.sh`. Render must use
 * exactly those, so `lib/tools.ts` pins them, and a test fails when the chart moves without
 * them: add the new chart's row here (from the two files named below) and update the pins.
 *
 * @module
 */

import { join } from "node:path";
import { parse as parseYaml } from "yaml";

/** One argo-cd chart version and what its Argo CD release bundles. */
export interface ArgoCdRelease {
  /** The argo-cd chart version (argoproj/argo-helm, `charts/argo-cd/Chart.yaml` `version`). */
  readonly chart: string;
  /** Its `appVersion`: the Argo CD release. */
  readonly argocd: string;
  /** `hack/tool-versions.sh` at that Argo CD tag (`helm3_version`/`helm4_version`). */
  readonly helm: string;
  /** `kustomize5_version` there. */
  readonly kustomize: string;
}

/**
 * The table. Sources: argoproj/argo-helm tag `argo-cd-<chart>` → `charts/argo-cd/Chart.yaml`;
 * argoproj/argo-cd tag `v<argocd>` → `hack/tool-versions.sh`.
 *
 * The rows are facts about published releases, not pins, so they carry no Renovate annotation:
 * a row says "chart X ships Argo CD Y, which bundles helm H and kustomize K", and moving any of
 * its versions to the newest release would make it false. The one pin is the chart version in
 * `system/argocd/kustomization.yaml` (Renovate's kustomize manager reads it; the group "argo-cd
 * and its render tools" of renovate.json brings helm and kustomize of lib/tools.ts in the same
 * pull request). When it moves to a chart without a row, `lib/render/argocd_test.ts` fails and
 * says what to add here.
 */
export const ARGOCD_RELEASES: readonly ArgoCdRelease[] = [
  { chart: "10.0.0", argocd: "3.4.4", helm: "3.19.4", kustomize: "5.8.1" },
  { chart: "10.0.1", argocd: "3.4.4", helm: "3.19.4", kustomize: "5.8.1" },
  { chart: "10.1.0", argocd: "3.4.4", helm: "3.19.4", kustomize: "5.8.1" },
  { chart: "10.1.1", argocd: "3.4.4", helm: "3.19.4", kustomize: "5.8.1" },
];

/** The argo-cd chart version pinned in `system/argocd/kustomization.yaml`. */
export async function pinnedArgoCdChart(repoRoot: string): Promise<string | undefined> {
  const k = parseYaml(await Deno.readTextFile(join(repoRoot, "system", "argocd", "kustomization.yaml"))) as {
    helmCharts?: { name?: string; version?: string }[];
  };
  const v = k?.helmCharts?.find((c) => c.name === "argo-cd")?.version;
  return v === undefined ? undefined : String(v);
}

/** The row of a chart version. */
export function releaseOf(chart: string): ArgoCdRelease | undefined {
  return ARGOCD_RELEASES.find((r) => r.chart === chart);
}

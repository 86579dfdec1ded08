import assert from "node:assert/strict";
import { toolSpec } from "../tools.ts";
import { ARGOCD_RELEASES, pinnedArgoCdChart, releaseOf } from "./argocd.ts";

const REPO = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");

Deno.test("render tools are the ones the pinned Argo CD release bundles", async () => {
  const chart = await pinnedArgoCdChart(REPO);
  assert.ok(chart, "system/argocd/kustomization.yaml pins no argo-cd chart");
  const release = releaseOf(chart);
  assert.ok(
    release,
    `argo-cd chart ${chart} is not in lib/render/argocd.ts: add its row (its appVersion, and that Argo CD ` +
      `release's hack/tool-versions.sh) and set the helm and kustomize pins in lib/tools.ts to match`,
  );
  assert.equal(toolSpec("helm")?.version, release.helm, `Argo CD ${release.argocd} bundles helm ${release.helm}`);
  assert.equal(
    toolSpec("kustomize")?.version,
    release.kustomize,
    `Argo CD ${release.argocd} bundles kustomize ${release.kustomize}`,
  );
});

Deno.test("the Argo CD table has one row per chart version", () => {
  const charts = ARGOCD_RELEASES.map((r) => r.chart);
  assert.equal(new Set(charts).size, charts.length);
  for (const r of ARGOCD_RELEASES) {
    assert.match(`${r.chart} ${r.argocd} ${r.helm} ${r.kustomize}`, /^(\d+\.\d+\.\d+ ?){4}$/);
  }
});

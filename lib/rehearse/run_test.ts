import assert from "node:assert/strict";
import type { AppSpec, KubeObject } from "../render/model.ts";
import { crdPlan, type Rehearsal, textReport } from "./run.ts";

function crd(group: string, kind: string, extra: { annotations?: Record<string, string>; webhook?: boolean } = {}) {
  const plural = `${kind.toLowerCase()}s`;
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${plural}.${group}`, ...(extra.annotations ? { annotations: extra.annotations } : {}) },
    spec: {
      group,
      names: { kind, plural },
      scope: "Namespaced",
      versions: [{ name: "v1", served: true, storage: true }],
      ...(extra.webhook ? { conversion: { strategy: "Webhook", webhook: { conversionReviewVersions: ["v1"] } } } : {}),
    },
  } as KubeObject;
}

function app(name: string, syncOptions: string[], objects: KubeObject[], error?: string) {
  const spec = {
    name,
    path: `system/${name}`,
    namespace: name,
    syncOptions,
    ignoreDifferences: [],
  } as unknown as AppSpec;
  return { app: spec, objects, ...(error ? { error } : {}) };
}

const names = (list: { crd: KubeObject; fieldManager?: string }[]) =>
  list.map((c) => `${c.crd.metadata.name} ${c.fieldManager ?? "(own)"}`).sort();

Deno.test("crdPlan: the CRDs Argo CD applies server-side are created ahead under its field manager; the others are left to it", () => {
  const ssa = ["CreateNamespace=false", "ServerSideApply=true"];
  const apps = [
    app("ops", ssa, [
      crd("ops.example", "Job"),
      crd("ops.example", "Replaced", { annotations: { "argocd.argoproj.io/sync-options": "Replace=true" } }),
      crd("ops.example", "Client", { annotations: { "argocd.argoproj.io/sync-options": "ServerSideApply=false" } }),
    ]),
    app("plain", ["CreateNamespace=false"], [
      crd("plain.example", "Thing"),
      crd("plain.example", "Own", { annotations: { "argocd.argoproj.io/sync-options": "ServerSideApply=true" } }),
    ]),
    app("other", ssa, [crd("other.example", "Skipped")]),
    app("broken", ssa, [crd("broken.example", "Half")], "kustomize build failed"),
  ];
  const rehearsed = new Set(["ops", "plain", "broken"]);
  const plan = crdPlan(apps, rehearsed, []);
  assert.deepEqual(plan.precreated, []);
  assert.deepEqual(names(plan.ahead), ["jobs.ops.example argocd-controller", "owns.plain.example argocd-controller"]);
  // --crds-by-argocd: Argo CD creates them all.
  assert.deepEqual(crdPlan(apps, rehearsed, [], { crdsByArgoCD: true }).ahead, []);
});

Deno.test("crdPlan: the CRDs of the kinds kwok simulates are created first, under Argo CD's field manager only when unchanged", () => {
  const ssa = ["ServerSideApply=true"];
  const apps = [
    app("gw", ssa, [crd("gw.example", "Gateway"), crd("gw.example", "Route", { webhook: true })]),
    app("certs", [], [crd("certs.example", "Issuer")]),
  ];
  const staged = [
    { group: "gw.example", kind: "Gateway" },
    { group: "gw.example", kind: "Route" },
    { group: "certs.example", kind: "Issuer" },
  ];
  for (const crdsByArgoCD of [false, true]) {
    const plan = crdPlan(apps, new Set(["gw", "certs"]), staged, { crdsByArgoCD });
    // The route's conversion webhook is stripped: Argo CD's apply will change it, so it is not written as Argo CD's.
    assert.deepEqual(names(plan.precreated), [
      "gateways.gw.example argocd-controller",
      "issuers.certs.example (own)",
      "routes.gw.example (own)",
    ]);
    const route = plan.precreated.find((c) => c.crd.metadata.name === "routes.gw.example")!.crd as unknown as {
      spec: { conversion: unknown };
    };
    assert.deepEqual(route.spec.conversion, { strategy: "None" });
    assert.deepEqual(plan.ahead, []);
  }
});

Deno.test("textReport: a wait that ended at the deadline and one that ended when the states asked for were seen say which", () => {
  const outcome: Rehearsal = {
    env: "dev",
    argocd: { rehearsal: "3.6.1", cluster: "3.4.4" },
    ok: false,
    converged: false,
    apps: [{ name: "web", wave: 0, sync: "OutOfSync", health: "Missing", messages: [], blockers: [] }],
    waves: [{ wave: 0, apps: ["web"] }],
    changes: [],
    unsimulated: [],
    locked: [],
    missing: [],
    renderErrors: [],
    waveOrder: [],
    crdsChanged: [],
    phases: { render: 0, controlPlane: 0, snapshot: 0, argocd: 0 },
  };
  const last = (r: Rehearsal) => textReport(r).trimEnd().split("\n").at(-1);
  assert.equal(last(outcome), "error: not every Application became Synced and Healthy before the deadline; see above");
  assert.equal(
    last({ ...outcome, settled: true }),
    "error: not every Application became Synced and Healthy; the wait ended once the states asked for were seen; see above",
  );
  assert.match(textReport(outcome), /^ {2}web +OutOfSync\/Missing +did not converge$/m);
});

import assert from "node:assert/strict";
import { Digester, PLACEHOLDER } from "../render/ksops.ts";
import type { KubeObject } from "../render/model.ts";
import { type Application, Follower } from "../kube/applications.ts";
import type { KubeClient } from "../kube/client.ts";
import { changeLine, heldUp, renderedSecret } from "./cluster_steps.ts";

const secret = (fields: Record<string, unknown>): KubeObject => ({
  apiVersion: "v1",
  kind: "Secret",
  metadata: { name: "s", namespace: "x" },
  ...fields,
});

Deno.test("a Secret the render made from a SOPS file is recognised, so bootstrap leaves it to Argo CD", async () => {
  const d = new Digester(crypto.getRandomValues(new Uint8Array(32)));
  const digest = await d.digest("hunter2");
  assert.equal(renderedSecret(secret({ stringData: { token: digest } })), true);
  assert.equal(renderedSecret(secret({ data: { token: btoa(digest), other: btoa(PLACEHOLDER) } })), true);
  assert.equal(renderedSecret(secret({ stringData: { token: PLACEHOLDER } })), true);
  // A Secret with a real value (a chart's own, a plain manifest) is applied as rendered.
  assert.equal(renderedSecret(secret({ stringData: { token: digest, url: "https://example.org" } })), false);
  assert.equal(renderedSecret(secret({ data: { "ca.crt": btoa("-----BEGIN CERTIFICATE-----") } })), false);
  assert.equal(renderedSecret(secret({})), false);
  assert.equal(renderedSecret({ ...secret({ stringData: { token: digest } }), kind: "ConfigMap" }), false);
});

Deno.test("the apps step's lines: each change as `Application NAME: BEFORE → STATE`, and on timeout what Argo CD says holds each one up", async () => {
  let items: Application[] = [];
  const client = {
    request: () => Promise.resolve({ status: 200, body: { items } }),
  } as unknown as KubeClient;
  const app = (name: string, status: Application["status"]): Application => ({
    metadata: { name, annotations: { "argocd.argoproj.io/sync-wave": "1" } },
    status,
  });
  const f = new Follower(client, "argocd", new Map([["root", -Infinity], ["cilium", 1], ["late", 2]]));
  items = [app("root", { sync: { status: "OutOfSync" }, health: { status: "Missing" } })];
  assert.deepEqual((await f.observe()).events.map(changeLine), ["  Application root: OutOfSync/Missing"]);
  items = [
    app("root", {
      sync: { status: "Synced" },
      health: { status: "Healthy" },
      // An app of apps still syncing its waves is not done, Synced and Healthy as it looks.
      operationState: { phase: "Running", message: "waiting for healthy state of argoproj.io/Application/cilium" },
    }),
    app("cilium", {
      sync: { status: "OutOfSync" },
      health: { status: "Progressing", message: "Caused by apps/Deployment:kube-system/cilium-operator" },
      conditions: [{ type: "SyncError", message: "one or more objects failed to apply" }],
      resources: [
        { kind: "ConfigMap", namespace: "kube-system", name: "cilium-config", status: "Synced" },
        {
          group: "apps",
          kind: "Deployment",
          namespace: "kube-system",
          name: "cilium-operator",
          status: "OutOfSync",
          health: { status: "Progressing", message: "Waiting for rollout to finish" },
          syncWave: 0,
        },
      ],
    }),
  ];
  const s = await f.observe();
  assert.equal(s.done, false);
  assert.deepEqual(s.events.map(changeLine), [
    "  Application root: OutOfSync/Missing → Synced/Healthy",
    "  Application cilium: OutOfSync/Progressing",
  ]);
  assert.deepEqual(heldUp(f), [
    "what Argo CD shows of the Applications not Synced and Healthy:",
    "  Application root: Synced/Healthy",
    "      sync running: waiting for healthy state of argoproj.io/Application/cilium",
    "  Application cilium: OutOfSync/Progressing",
    "      SyncError: one or more objects failed to apply",
    "      health Progressing: Caused by apps/Deployment:kube-system/cilium-operator",
    "      wave 0: Deployment kube-system/cilium-operator: OutOfSync/Progressing: Waiting for rollout to finish",
    "  Application late: Missing/Missing",
    "      Argo CD never created it (the root app did not reach its wave)",
  ]);
  items = [
    app("root", { sync: { status: "Synced" }, health: { status: "Healthy" }, operationState: { phase: "Succeeded" } }),
    app("cilium", { sync: { status: "Synced" }, health: { status: "Healthy" } }),
    { ...app("late", { sync: { status: "Synced" }, health: { status: "Healthy" } }) },
  ];
  const end = await f.observe();
  assert.equal(end.done, true);
  assert.equal(end.summary, "3/3 Synced and Healthy");
  assert.ok(end.events.map(changeLine).includes("  wave 1 done: cilium, late"), end.events.map(changeLine).join("\n"));
  assert.deepEqual(heldUp(f), []);
});

Deno.test("on timeout, an Application Argo CD never reported on says so (is its application-controller running?)", async () => {
  const client = {
    request: () => Promise.resolve({ status: 200, body: { items: [{ metadata: { name: "root" } }] } }),
  } as unknown as KubeClient;
  const f = new Follower(client, "argocd", new Map([["root", -Infinity]]));
  assert.equal((await f.observe()).summary, "0/1 Synced and Healthy; waiting for root Unknown/Unknown");
  assert.deepEqual(heldUp(f), [
    "what Argo CD shows of the Applications not Synced and Healthy:",
    "  Application root: Unknown/Unknown",
    "      Argo CD has not reported on it (no status): is its application-controller running?",
  ]);
});

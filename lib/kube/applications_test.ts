import assert from "node:assert/strict";
import type { KubeClient } from "./client.ts";
import { type Application, failureOf, Follower, messagesOf } from "./applications.ts";

/** The hook Application of tests/rehearse_test.ts as Argo CD v3.6.1 left it between two attempts. */
function hookApp(phase: string, message: string, failedJob = true): Application {
  return {
    metadata: { name: "hook", annotations: { "argocd.argoproj.io/sync-wave": "0" } },
    status: {
      sync: { status: "OutOfSync" },
      health: { status: "Healthy" },
      operationState: {
        phase,
        message,
        syncResult: {
          resources: [
            { kind: "Namespace", name: "hook", namespace: "hook", status: "Synced", hookPhase: "Succeeded" },
            ...failedJob
              ? [{
                kind: "Job",
                name: "migrate",
                namespace: "hook",
                status: "Synced",
                hookPhase: "Failed",
                message: "Job has reached the specified backoff limit",
              }]
              : [],
          ],
        },
      },
    },
  };
}

const RETRYING =
  "one or more synchronization tasks completed unsuccessfully. Retrying attempt #3 at 2026-12-02T19:16:07Z.";

Deno.test("a failed sync is named while Argo CD waits to retry it, with the resources that failed it", () => {
  assert.equal(
    failureOf(hookApp("Running", RETRYING)),
    `last sync Failed: ${RETRYING} (Job hook/migrate: Job has reached the specified backoff limit)`,
  );
  assert.equal(
    failureOf(hookApp("Failed", "one or more synchronization tasks completed unsuccessfully (retried 10 times).")),
    "last sync Failed: one or more synchronization tasks completed unsuccessfully (retried 10 times). " +
      "(Job hook/migrate: Job has reached the specified backoff limit)",
  );
  assert.equal(failureOf(hookApp("Error", "ComparisonError", false)), "last sync Error: ComparisonError");
  // A sync under way, or one that succeeded, is no failure.
  assert.equal(failureOf(hookApp("Running", "waiting for completion of hook batch/Job/migrate", false)), undefined);
  assert.equal(failureOf(hookApp("Succeeded", "successfully synced (all tasks run)", false)), undefined);
  // What a sync under way waits for is said as such, not as a failure.
  assert.deepEqual(messagesOf(hookApp("Running", "waiting for completion of hook batch/Job/migrate", false)), [
    "sync running: waiting for completion of hook batch/Job/migrate",
  ]);
});

Deno.test("the follower keeps an Application's last failed sync while a retry runs, until a sync succeeds", async () => {
  let items: Application[] = [];
  const client = {
    request: () => Promise.resolve({ status: 200, body: { items } }),
  } as unknown as KubeClient;
  const follower = new Follower(client, "argocd", new Map([["hook", 0]]));
  const messages = () => follower.outcomes().find((o) => o.name === "hook")!.messages;

  items = [hookApp("Running", RETRYING)];
  await follower.observe();
  const failed = `last sync Failed: ${RETRYING} (Job hook/migrate: Job has reached the specified backoff limit)`;
  assert.deepEqual(messages(), [failed]);

  // The retry runs: Argo CD's message is only that it waits for the hook.
  items = [hookApp("Running", "waiting for completion of hook batch/Job/migrate", false)];
  await follower.observe();
  assert.deepEqual(messages(), [
    "sync running: waiting for completion of hook batch/Job/migrate",
    `${failed} (a retry is under way)`,
  ]);

  items = [hookApp("Succeeded", "successfully synced (all tasks run)", false)];
  await follower.observe();
  assert.deepEqual(messages(), []);
});

Deno.test("a hard refresh is asked of every Application, and taken once Argo CD removed each one's annotation", async () => {
  const apps = new Map<string, Application>([
    ["root", { metadata: { name: "root" } }],
    ["web", { metadata: { name: "web", annotations: { "argocd.argoproj.io/sync-wave": "0" } } }],
  ]);
  const patches: { path: string; body: unknown; contentType?: string }[] = [];
  const client = {
    request: (method: string, path: string, options: { body?: unknown; contentType?: string } = {}) => {
      if (method === "PATCH") {
        patches.push({ path, body: options.body, contentType: options.contentType });
        const a = apps.get(path.split("/").pop()!)!;
        a.metadata.annotations = { ...a.metadata.annotations, "argocd.argoproj.io/refresh": "hard" };
      }
      return Promise.resolve({ status: 200, body: { items: [...apps.values()] } });
    },
  } as unknown as KubeClient;
  const follower = new Follower(client, "argocd", new Map([["root", -Infinity], ["web", 0]]));
  await follower.observe();
  await follower.hardRefresh();
  assert.deepEqual(
    patches,
    ["root", "web"].map((name) => ({
      path: `/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/${name}`,
      body: { metadata: { annotations: { "argocd.argoproj.io/refresh": "hard" } } },
      contentType: "application/merge-patch+json",
    })),
  );
  assert.equal(await follower.refreshed(), false);
  // Argo CD took web's refresh, not yet root's.
  delete apps.get("web")!.metadata.annotations!["argocd.argoproj.io/refresh"];
  assert.equal(await follower.refreshed(), false);
  delete apps.get("root")!.metadata.annotations!["argocd.argoproj.io/refresh"];
  assert.equal(await follower.refreshed(), true);
});

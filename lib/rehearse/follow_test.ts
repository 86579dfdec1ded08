import assert from "node:assert/strict";
import type { KubeClient } from "../kube/client.ts";
import { type Application, failureOf, Follower, messagesOf } from "./follow.ts";

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
  assert.deepEqual(messagesOf(hookApp("Running", "waiting for completion of hook batch/Job/migrate", false)), []);
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
  assert.deepEqual(messages(), [`${failed} (a retry is under way)`]);

  items = [hookApp("Succeeded", "successfully synced (all tasks run)", false)];
  await follower.observe();
  assert.deepEqual(messages(), []);
});

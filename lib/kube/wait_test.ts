import assert from "node:assert/strict";
import { ApiError, type KubeClient } from "./client.ts";
import { judge, type Target, waitFor } from "./wait.ts";

/** A client whose get() answers the given states in turn (the last one from then on). */
function answering(states: (unknown | Error)[]): KubeClient & { calls: number } {
  const fake = {
    calls: 0,
    get() {
      const s = states[Math.min(fake.calls++, states.length - 1)];
      return s instanceof Error ? Promise.reject(s) : Promise.resolve(s);
    },
  };
  return fake as unknown as KubeClient & { calls: number };
}

const deployment: Target = { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "web", namespace: "web" } };
const job: Target = { apiVersion: "batch/v1", kind: "Job", metadata: { name: "once", namespace: "web" } };

function rollout(status: Record<string, unknown>, generation = 2) {
  return {
    metadata: { generation },
    spec: { replicas: 2 },
    status: { observedGeneration: 2, conditions: [{ type: "Available", status: "True" }], ...status },
  };
}

Deno.test("judge: a Deployment is rolled out when all its replicas are updated and available, for its generation", () => {
  assert.equal(judge("Deployment", rollout({ updatedReplicas: 2, availableReplicas: 2 })).done, true);
  // The old ReplicaSet's pods are still the available ones.
  assert.equal(judge("Deployment", rollout({ updatedReplicas: 1, availableReplicas: 2 })).done, false);
  assert.equal(judge("Deployment", rollout({ availableReplicas: 2 })).done, false);
  assert.equal(judge("Deployment", rollout({ updatedReplicas: 2, availableReplicas: 1 })).done, false);
  // The controller has not seen the new spec yet.
  assert.equal(judge("Deployment", rollout({ updatedReplicas: 2, availableReplicas: 2 }, 3)).done, false);
  assert.equal(
    judge("Deployment", rollout({ updatedReplicas: 2, availableReplicas: 2, conditions: [] })).done,
    false,
  );
  // One replica when spec.replicas is absent.
  assert.equal(
    judge("Deployment", {
      status: { conditions: [{ type: "Available", status: "True" }], updatedReplicas: 1, availableReplicas: 1 },
    }).done,
    true,
  );
  assert.deepEqual(judge("Deployment", undefined), { done: false, state: "not found" });
});

Deno.test("waitFor: a Deployment waits until its updated replicas are available", async () => {
  const client = answering([
    undefined,
    rollout({ updatedReplicas: 1, availableReplicas: 2 }),
    rollout({ updatedReplicas: 2, availableReplicas: 2 }),
  ]);
  const seen: string[] = [];
  await waitFor(client, deployment, { timeout: 60_000, interval: 1, onState: (s) => seen.push(s) });
  assert.equal(client.calls, 3);
  assert.deepEqual(seen, ["not found", "2/2 available; Available=True"]);
});

Deno.test("waitFor: a failed Job fails the wait at once, with its message", async () => {
  const failed = {
    status: {
      conditions: [
        { type: "FailureTarget", status: "True" },
        { type: "Failed", status: "True", message: "Job has reached the specified backoff limit" },
      ],
    },
  };
  const client = answering([{ status: {} }, failed]);
  await assert.rejects(
    // (Were the failure missed, the wait would end only at this deadline, saying it timed out.)
    waitFor(client, job, { timeout: 2_000, interval: 1 }),
    (e: unknown) => (e as Error).message === "Job web/once failed: Job has reached the specified backoff limit",
  );
  assert.equal(client.calls, 2, "no poll after the Job failed");
  assert.equal(judge("Job", { status: { conditions: [{ type: "Complete", status: "True" }] } }).done, true);
  assert.equal(judge("Job", { status: { conditions: [{ type: "Failed", status: "False" }] } }).done, false);
});

Deno.test("waitFor: an error from the API server ends the wait; it is never 'not found'", async () => {
  const denied = new ApiError("GET", "/apis/apps/v1/namespaces/web/deployments/web", 403, { message: "forbidden" });
  const client = answering([denied]);
  await assert.rejects(waitFor(client, deployment, { timeout: 2_000, interval: 1 }), (e: unknown) => e === denied);
  assert.equal(client.calls, 1);
});

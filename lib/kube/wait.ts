/**
 * Waiting for the states bootstrap and tests rely on: a CRD Established, a Deployment
 * Available, a Job Complete, a Node Ready. Each wait polls the object, reports the last state
 * it saw through `onState` (for progress lines), and on timeout says what it saw last.
 *
 * @module
 */

import { HomelabError } from "../errors.ts";
import type { KubeClient } from "./client.ts";
import { poll } from "../poll.ts";

/** An object to wait for. */
export interface Target {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string };
}

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

interface WithStatus {
  metadata?: { generation?: number };
  spec?: { replicas?: number };
  status?: {
    conditions?: Condition[];
    observedGeneration?: number;
    availableReplicas?: number;
    updatedReplicas?: number;
    [key: string]: unknown;
  };
}

/** Whether an object is in the state its kind's wait means, and a short word for its state. */
export function judge(kind: string, o: WithStatus | undefined): { done: boolean; state: string } {
  if (!o) return { done: false, state: "not found" };
  const cond = (type: string) => o.status?.conditions?.find((c) => c.type === type);
  const is = (type: string) => cond(type)?.status === "True";
  const conditions = (o.status?.conditions ?? []).map((c) => `${c.type}=${c.status}`).join(", ") || "no conditions";
  switch (kind) {
    case "CustomResourceDefinition":
      return { done: is("Established"), state: conditions };
    case "Deployment": {
      const want = o.spec?.replicas ?? 1;
      const fresh = (o.status?.observedGeneration ?? 0) >= (o.metadata?.generation ?? 0);
      const done = fresh && is("Available") && (o.status?.updatedReplicas ?? 0) >= want &&
        (o.status?.availableReplicas ?? 0) >= want;
      return { done, state: `${o.status?.availableReplicas ?? 0}/${want} available; ${conditions}` };
    }
    case "Job": {
      if (is("Failed")) return { done: false, state: `failed: ${cond("Failed")?.message ?? ""}` };
      return { done: is("Complete"), state: conditions };
    }
    case "Node":
      return { done: is("Ready"), state: conditions };
    default:
      return { done: is("Ready"), state: conditions };
  }
}

/**
 * Polls `target` until {@link judge} says done. Throws after `timeout` ms with the last state
 * seen; a failed Job throws at once.
 */
export async function waitFor(
  client: KubeClient,
  target: Target,
  options: { timeout?: number; onState?: (state: string) => void; interval?: number } = {},
): Promise<void> {
  const timeout = options.timeout ?? 120_000;
  const what = `${target.kind} ${
    target.metadata.namespace ? `${target.metadata.namespace}/` : ""
  }${target.metadata.name}`;
  let last = "";
  const done = await poll(async () => {
    const o = await client.get<WithStatus>(target);
    const { done, state } = judge(target.kind, o);
    if (state !== last) options.onState?.(state);
    last = state;
    if (done) return true;
    if (state.startsWith("failed:")) throw new HomelabError(`${what} ${state}`);
  }, { timeoutMs: timeout, delayMs: 50, factor: 1.5, maxDelayMs: options.interval ?? 1000 });
  if (!done) {
    throw new HomelabError(`timed out after ${Math.round(timeout / 1000)}s waiting for ${what}; last seen: ${last}`);
  }
}

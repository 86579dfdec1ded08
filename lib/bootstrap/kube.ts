/**
 * The cluster side of bootstrap and dev: applying rendered objects server-side with kubectl
 * (objects go in on standard input, never in argv or a file), asking the API what exists and
 * what is ready, the context guard, and the diagnostics printed when a wait times out.
 *
 * @module
 */

import { stringify } from "yaml";
import { cmd, type Command, CommandError, render, type Runner, type Secret } from "../cmd.ts";
import { HomelabError } from "../errors.ts";
import type { KubeClient } from "../kube/client.ts";
import { clientOf, type Kubeconfig, readKubeconfig } from "../kube/kubeconfig.ts";
import { judge } from "../kube/wait.ts";
import type { KubeObject } from "../render/model.ts";

/** The field manager bootstrap applies with (Argo CD takes the objects over afterwards). */
export const FIELD_MANAGER = "homelab-bootstrap";

/** Which cluster a kubeconfig must point at. */
export interface Expected {
  /** The API server URL (bootstrap: talconfig's endpoint). */
  readonly server?: string;
  /** The context name (dev: `kind-<name>`). */
  readonly context?: string;
  /** How to name the cluster in messages (`the cluster in talos/talconfig.yaml`). */
  readonly label: string;
}

/** The cluster a procedure works on, through one kubeconfig. */
export class Kube {
  #client?: Promise<KubeClient>;

  constructor(readonly runner: Runner, readonly kubeconfig: string, readonly expected: Expected) {}

  /** The kubeconfig's current context, or undefined while it does not exist. */
  read(): Promise<Kubeconfig | undefined> {
    return readKubeconfig(this.kubeconfig);
  }

  /**
   * The context guard: throws when the kubeconfig points at another cluster than the expected
   * one, naming both. A kubeconfig that does not exist yet passes (nothing can be changed
   * through it); `required` makes that an error too.
   */
  async guard(required = false): Promise<void> {
    const kc = await this.read();
    if (!kc) {
      if (!required) return;
      throw new HomelabError(`${this.kubeconfig} does not exist yet`, {
        hint: "run the procedure from its kubeconfig step (`--from kubeconfig`)",
      });
    }
    const wrongServer = this.expected.server !== undefined &&
      kc.server.replace(/\/$/, "") !== this.expected.server.replace(/\/$/, "");
    const wrongContext = this.expected.context !== undefined && kc.context !== this.expected.context;
    if (wrongServer || wrongContext) {
      const want = [this.expected.context, this.expected.server].filter(Boolean).join(" at ");
      throw new HomelabError(
        `refusing to change anything: ${this.kubeconfig} points at context '${kc.context}' (API server ${kc.server}), ` +
          `not ${this.expected.label} (${want})`,
        {
          hint: "fetch this cluster's kubeconfig again (delete the file and re-run), or point KUBECONFIG at the " +
            "right cluster; nothing was changed",
        },
      );
    }
  }

  /** A client for the kubeconfig (made once, after the guard passed). */
  async client(): Promise<KubeClient> {
    this.#client ??= (async () => {
      await this.guard(true);
      return await clientOf((await this.read())!);
    })();
    try {
      return await this.#client;
    } catch (err) {
      this.#client = undefined;
      throw err;
    }
  }

  /** Closes the client's connections. */
  async close(): Promise<void> {
    const c = this.#client;
    this.#client = undefined;
    if (c) (await c.catch(() => undefined))?.close();
  }

  /** `kubectl --kubeconfig … apply --server-side` reading the objects from standard input. */
  applyCommand(stdin: string | Secret): Command {
    return cmd("kubectl", [
      "--kubeconfig",
      this.kubeconfig,
      "apply",
      "--server-side",
      "--force-conflicts",
      "--field-manager",
      FIELD_MANAGER,
      "-f",
      "-",
    ], { stdin, timeout: 300_000 });
  }

  /** Applies `objects` server-side; a {@link Secret} manifest stays secret all the way. */
  async apply(objects: readonly KubeObject[] | Secret): Promise<void> {
    await this.guard(true);
    if (Array.isArray(objects) && objects.length === 0) return;
    const list = Array.isArray(objects) ? objects as KubeObject[] : undefined;
    const c = this.applyCommand(list ? toYaml(list) : objects as Secret);
    try {
      await this.runner.run(c);
    } catch (err) {
      if (!(err instanceof CommandError)) throw err;
      // The objects themselves (or the key) stay out of the message: the command and kubectl's words.
      const what = list ? kinds(list) : "a secret manifest";
      throw new HomelabError(
        `kubectl could not apply ${what} (exit code ${err.code}): ${render({ ...c, stdin: undefined })} < (${what})\n${
          err.stderrTail.split("\n").map((l) => `  | ${l}`).join("\n")
        }`,
        { hint: "re-running continues from this step once the cause is fixed" },
      );
    }
  }

  /** Whether the API server serves the object's kind now. */
  async serves(o: KubeObject): Promise<boolean> {
    const client = await this.client();
    return (await client.resourceOf(o.apiVersion, o.kind)) !== undefined;
  }

  /** The object as the server has it, or undefined. */
  async get<T = KubeObject>(o: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } }) {
    const client = await this.client();
    if (!(await client.resourceOf(o.apiVersion, o.kind))) return undefined;
    return await client.get<T>(o);
  }

  /** The objects of `objects` the server does not have (of kinds it serves). */
  async missing(objects: readonly KubeObject[]): Promise<KubeObject[]> {
    const out: KubeObject[] = [];
    for (const o of objects) if (!(await this.get(o))) out.push(o);
    return out;
  }

  /** Whether an object is in its kind's ready state (CRD Established, Deployment Available, Node Ready). */
  async ready(o: KubeObject): Promise<{ done: boolean; state: string }> {
    // deno-lint-ignore no-explicit-any
    return judge(o.kind, await this.get<any>(o));
  }

  /** Every object of a list path (`/api/v1/nodes`). */
  async list<T = KubeObject>(path: string): Promise<T[]> {
    const client = await this.client();
    const r = await client.request<{ items?: T[] }>("GET", path);
    if (r.status === 404) return [];
    if (r.status >= 300) throw new HomelabError(`GET ${path}: ${r.status}`);
    return r.body.items ?? [];
  }

  /** Pods not ready (and why), and the latest Warning events: what to print when a wait times out. */
  async diagnose(namespaces?: readonly string[]): Promise<string[]> {
    const lines: string[] = [];
    const scopes = namespaces?.length ? namespaces.map((n) => `/api/v1/namespaces/${n}`) : ["/api/v1"];
    for (const scope of scopes) {
      for (const pod of await this.list<Pod>(`${scope}/pods`)) {
        const why = podProblem(pod);
        if (why) lines.push(`  pod ${pod.metadata.namespace}/${pod.metadata.name}: ${why}`);
      }
    }
    const events: Event[] = [];
    for (const scope of scopes) events.push(...await this.list<Event>(`${scope}/events?fieldSelector=type%3DWarning`));
    events.sort((a, b) => stamp(a).localeCompare(stamp(b)));
    for (const e of events.slice(-10)) {
      lines.push(
        `  warning ${e.involvedObject?.kind ?? ""} ${e.metadata.namespace ?? ""}/${e.involvedObject?.name ?? ""}: ${
          e.reason ?? ""
        }: ${e.message ?? ""}`,
      );
    }
    if (!lines.length) lines.push("  (no pod is failing and there are no warning events)");
    return ["what the cluster shows:", ...lines];
  }
}

interface Pod {
  metadata: { name: string; namespace: string };
  status?: {
    phase?: string;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
    containerStatuses?: {
      name: string;
      ready: boolean;
      state?: { waiting?: { reason?: string; message?: string }; terminated?: { reason?: string } };
    }[];
  };
}

interface Event {
  metadata: { namespace?: string };
  involvedObject?: { kind?: string; name?: string };
  reason?: string;
  message?: string;
  lastTimestamp?: string;
  eventTime?: string;
}

function stamp(e: Event): string {
  return e.lastTimestamp ?? e.eventTime ?? "";
}

/** Why a pod is not ready, or undefined when it is (or has completed). */
function podProblem(pod: Pod): string | undefined {
  const s = pod.status ?? {};
  if (s.phase === "Succeeded") return undefined;
  const ready = s.conditions?.find((c) => c.type === "Ready");
  if (ready?.status === "True") return undefined;
  for (const c of s.containerStatuses ?? []) {
    const w = c.state?.waiting ?? c.state?.terminated;
    if (!c.ready && w?.reason) return `${c.name}: ${w.reason}${"message" in w && w.message ? `: ${w.message}` : ""}`;
  }
  const scheduled = s.conditions?.find((c) => c.type === "PodScheduled");
  if (scheduled?.status === "False") return `not scheduled: ${scheduled.message ?? scheduled.reason ?? ""}`;
  return `${s.phase ?? "Pending"}${ready?.reason ? ` (${ready.reason})` : ""}`;
}

/** Objects as one multi-document YAML stream. */
export function toYaml(objects: readonly KubeObject[]): string {
  return objects.map((o) => `---\n${stringify(o)}`).join("");
}

/** `2 Deployment, 1 Namespace`: what a list of objects holds. */
export function kinds(objects: readonly KubeObject[]): string {
  const counts = new Map<string, number>();
  for (const o of objects) counts.set(o.kind, (counts.get(o.kind) ?? 0) + 1);
  return [...counts].map(([k, n]) => `${n} ${k}`).join(", ");
}

/** Applying order: Namespaces, then CRDs, then everything else. */
export function applyOrder(objects: readonly KubeObject[]): { first: KubeObject[]; rest: KubeObject[] } {
  const first = objects.filter((o) => o.kind === "Namespace" || o.kind === "CustomResourceDefinition");
  const rest = objects.filter((o) => o.kind !== "Namespace" && o.kind !== "CustomResourceDefinition");
  return { first, rest };
}

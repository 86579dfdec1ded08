/**
 * Following Argo CD's Applications until every one is Synced and Healthy: their states as they
 * change, the sync waves as they complete, the time each Application took, and — for what did not
 * converge — every resource Argo CD does not call Synced and Healthy, with its wave and Argo CD's
 * message. The one loop of bootstrap's and dev's last step and of `deno task rehearse`.
 *
 * ```ts
 * const follower = new Follower(client, "argocd", new Map([["root", -Infinity], ["cilium", 0]]));
 * const s = await follower.observe(); // one look: states, changes, waves completed
 * // s.changes: ["+4s cilium: OutOfSync/Missing → Synced/Healthy", "+4s wave 0 done: cilium"]
 * // s.summary: "1/2 Synced and Healthy; waiting for root Synced/Progressing"
 * ```
 *
 * @module
 */

import type { KubeClient } from "./client.ts";

/** An Application as far as following it goes. */
export interface Application {
  metadata: { name: string; annotations?: Record<string, string> };
  status?: {
    sync?: { status?: string; revision?: string };
    health?: { status?: string; message?: string };
    conditions?: { type?: string; message?: string }[];
    operationState?: {
      phase?: string;
      message?: string;
      syncResult?: {
        resources?: {
          kind: string;
          namespace?: string;
          name: string;
          status?: string;
          hookPhase?: string;
          message?: string;
        }[];
      };
    };
    resources?: ResourceStatus[];
    reconciledAt?: string;
  };
}

/** One resource of an Application's `status.resources`. */
export interface ResourceStatus {
  group?: string;
  kind: string;
  namespace?: string;
  name: string;
  status?: string;
  health?: { status?: string; message?: string };
  syncWave?: number;
  hook?: boolean;
}

/** A resource that is not Synced and Healthy, for the report. */
export interface Blocker {
  readonly kind: string;
  readonly group?: string;
  readonly namespace?: string;
  readonly name: string;
  readonly wave: number;
  readonly sync: string;
  readonly health: string;
  readonly message?: string;
}

/** One Application's outcome. */
export interface AppOutcome {
  readonly name: string;
  readonly wave: number;
  readonly sync: string;
  readonly health: string;
  /** Milliseconds from the start until it was first Synced and Healthy. */
  readonly convergedMs?: number;
  /** Argo CD's conditions (ComparisonError, SyncError, …) and the last operation's message when it failed. */
  readonly messages: readonly string[];
  readonly blockers: readonly Blocker[];
}

/** One sync wave's outcome: the Applications of the root app's wave. */
export interface WaveOutcome {
  readonly wave: number;
  readonly apps: readonly string[];
  /** Milliseconds from the start until every Application of the wave was Synced and Healthy. */
  readonly doneMs?: number;
}

/** The root app's annotation giving an Application's wave. */
const WAVE = "argocd.argoproj.io/sync-wave";

function waveOf(a: Application | undefined, fallback = 0): number {
  const w = Number(a?.metadata.annotations?.[WAVE] ?? fallback);
  return Number.isFinite(w) ? w : fallback;
}

/** `Synced/Healthy`, `OutOfSync/Progressing`, … */
export function stateOf(a: Application | undefined): string {
  if (!a) return "not created yet";
  return `${a.status?.sync?.status ?? "Unknown"}/${a.status?.health?.status ?? "Unknown"}`;
}

/** Converged: Synced and Healthy, and no sync under way. */
export function converged(a: Application | undefined): boolean {
  return a?.status?.sync?.status === "Synced" && a.status?.health?.status === "Healthy" &&
    a.status?.operationState?.phase !== "Running";
}

/** The resources of an Application that are not Synced and Healthy. */
export function blockersOf(a: Application): Blocker[] {
  const out: Blocker[] = [];
  for (const r of a.status?.resources ?? []) {
    // A hook is judged by the sync operation (its failure is among the messages), not as a resource.
    if (r.hook) continue;
    const sync = r.status ?? "Unknown";
    // Resources without health (ConfigMaps, RBAC, …) count as healthy.
    const health = r.health?.status ?? "Healthy";
    if (sync === "Synced" && health === "Healthy") continue;
    out.push({
      kind: r.kind,
      group: r.group || undefined,
      namespace: r.namespace || undefined,
      name: r.name,
      wave: r.syncWave ?? 0,
      sync,
      health,
      message: r.health?.message === undefined ? undefined : condense(r.health.message),
    });
  }
  return out.sort((x, y) => x.wave - y.wave || x.kind.localeCompare(y.kind) || x.name.localeCompare(y.name));
}

/**
 * A message of Argo CD's, shortened where it repeats itself: the `--helm-api-versions` flags of a
 * failed `kustomize build` (one per API the cluster serves) become their count.
 */
export function condense(message: string): string {
  return message.replace(
    /(?: --helm-api-versions \S+)+/g,
    (m) => ` --helm-api-versions … (${m.split(" --").length - 1})`,
  );
}

/**
 * The line for a failed sync, with the resources that failed it (a hook whose Job failed, an
 * object the API server refused): the operation Failed or Error, or Running while Argo CD waits to
 * retry it (the Applications of the root app retry: `Retrying attempt #N at …`).
 */
export function failureOf(a: Application): string | undefined {
  const op = a.status?.operationState;
  if (!op?.message || !op.phase) return undefined;
  const retrying = op.phase === "Running" && /Retrying attempt #\d+/.test(op.message);
  if (op.phase === "Succeeded" || (op.phase === "Running" && !retrying)) return undefined;
  const failed = (op.syncResult?.resources ?? [])
    .filter((r) => r.hookPhase === "Failed" || r.hookPhase === "Error" || r.status === "SyncFailed")
    .map((r) => `${r.kind} ${r.namespace ? `${r.namespace}/` : ""}${r.name}${r.message ? `: ${r.message}` : ""}`);
  return condense(
    `last sync ${retrying ? "Failed" : op.phase}: ${op.message}${failed.length ? ` (${failed.join("; ")})` : ""}`,
  );
}

/**
 * Argo CD's own words on an Application: its conditions, why it is not Healthy, a failed sync
 * (also while Argo CD waits to retry it), and what a sync still running waits for (an app of apps:
 * the wave it is at). The Application's health message names the resources that hold it up
 * (`Caused by apps/Deployment:ns/name`).
 */
export function messagesOf(a: Application): string[] {
  const out = (a.status?.conditions ?? []).map((c) => condense(`${c.type ?? "Condition"}: ${c.message ?? ""}`.trim()));
  const health = a.status?.health;
  if (health?.message && health.status !== "Healthy") out.push(condense(`health ${health.status}: ${health.message}`));
  const failure = failureOf(a);
  const op = a.status?.operationState;
  if (failure) out.push(failure);
  else if (op?.message && op.phase === "Running") out.push(condense(`sync running: ${op.message}`));
  return out;
}

/**
 * What an Application that did not converge is held up by, one line each: Argo CD's messages, then
 * each resource not Synced and Healthy (`wave 0: Deployment ns/name: Synced/Progressing: …`).
 */
export function holdUps(a: AppOutcome): string[] {
  return [
    ...a.messages,
    ...a.blockers.map((b) =>
      `wave ${b.wave}: ${b.kind} ${b.namespace ? `${b.namespace}/${b.name}` : b.name}: ${b.sync}/${b.health}${
        b.message ? `: ${b.message}` : ""
      }`
    ),
  ];
}

/** Something that changed between two looks. */
export type FollowEvent =
  /** An Application's state changed (`before` absent: first seen). */
  | { readonly at: number; readonly app: string; readonly before?: string; readonly state: string }
  /** Every Application of a wave converged. */
  | { readonly at: number; readonly wave: number; readonly apps: readonly string[] };

/** A change as a timeline line: `+12s cilium: OutOfSync/Missing → Synced/Healthy`, `+15s wave 0 done: cilium`. */
export function timelineLine(e: FollowEvent): string {
  return "app" in e
    ? `${clock(e.at)} ${e.app}: ${e.before ? `${e.before} → ` : ""}${e.state}`
    : `${clock(e.at)} wave ${e.wave} done: ${e.apps.join(", ")}`;
}

/** What one look at the Applications found. */
export interface Observation {
  readonly done: boolean;
  /** `3/11 Synced and Healthy; waiting for …` */
  readonly summary: string;
  /** Lines for what changed since the last look (Application states, waves completed). */
  readonly changes: readonly string[];
  /** The same changes as data, for another way of printing them. */
  readonly events: readonly FollowEvent[];
}

/** Follows the Applications of a namespace; see the module documentation. */
export class Follower {
  readonly #start: number;
  readonly #states = new Map<string, string>();
  readonly #converged = new Map<string, number>();
  readonly #wavesDone = new Map<number, number>();
  /** Each Application's last failed sync, kept while a retry runs (until a sync succeeds). */
  readonly #failures = new Map<string, string>();
  #apps = new Map<string, Application>();

  /**
   * `expected`: the Applications that must exist (the root app and those it renders), with the
   * wave each has in the root app; others Argo CD makes are followed too.
   */
  constructor(
    readonly client: KubeClient,
    readonly namespace: string,
    readonly expected: ReadonlyMap<string, number>,
    readonly now: () => number = () => performance.now(),
  ) {
    this.#start = now();
  }

  get #path(): string {
    return `/apis/argoproj.io/v1alpha1/namespaces/${this.namespace}/applications`;
  }

  /** The Applications as last seen. */
  get apps(): ReadonlyMap<string, Application> {
    return this.#apps;
  }

  #names(): string[] {
    return [...new Set([...this.expected.keys(), ...this.#apps.keys()])];
  }

  #wave(name: string): number {
    return this.#apps.has(name)
      ? waveOf(this.#apps.get(name), this.expected.get(name) ?? 0)
      : this.expected.get(name) ?? 0;
  }

  /** Reads every Application once and tells what changed. */
  async observe(): Promise<Observation> {
    const r = await this.client.request<{ items?: Application[] }>("GET", this.#path);
    const items = r.status < 300 ? r.body.items ?? [] : [];
    this.#apps = new Map(items.map((a) => [a.metadata.name, a]));
    const t = this.now() - this.#start;
    const events: FollowEvent[] = [];
    const waiting: string[] = [];
    for (const name of this.#names()) {
      const a = this.#apps.get(name);
      const state = stateOf(a);
      const before = this.#states.get(name);
      // An Application Argo CD has not created yet is in the summary, not a change of its own.
      if (a && before !== state) {
        events.push({ at: t, app: name, before: before === "not created yet" ? undefined : before, state });
      }
      this.#states.set(name, state);
      const failure = a && failureOf(a);
      if (failure) this.#failures.set(name, failure);
      else if (a?.status?.operationState?.phase === "Succeeded") this.#failures.delete(name);
      if (converged(a)) {
        if (!this.#converged.has(name)) this.#converged.set(name, t);
      } else {
        waiting.push(`${name} ${state}`);
      }
    }
    for (const w of this.waves()) {
      if (this.#wavesDone.has(w.wave)) continue;
      if (w.apps.every((n) => this.#converged.has(n))) {
        this.#wavesDone.set(w.wave, t);
        events.push({ at: t, wave: w.wave, apps: w.apps });
      }
    }
    const all = this.#names().length;
    return {
      done: waiting.length === 0,
      summary: waiting.length
        ? `${all - waiting.length}/${all} Synced and Healthy; waiting for ${waiting.slice(0, 3).join(", ")}${
          waiting.length > 3 ? ", …" : ""
        }`
        : `${all}/${all} Synced and Healthy`,
      changes: events.map(timelineLine),
      events,
    };
  }

  /** The waves of the followed Applications (the root app's own is left out), in order. */
  waves(): WaveOutcome[] {
    const byWave = new Map<number, string[]>();
    for (const name of this.#names()) {
      if (name === "root") continue;
      const w = this.#wave(name);
      byWave.set(w, [...byWave.get(w) ?? [], name]);
    }
    return [...byWave].sort(([a], [b]) => a - b).map(([wave, apps]) => ({
      wave,
      apps: apps.sort(),
      doneMs: this.#wavesDone.get(wave),
    }));
  }

  /** Each Application's outcome, by wave then name. */
  outcomes(): AppOutcome[] {
    return this.#names().map((name) => {
      const a = this.#apps.get(name);
      return {
        name,
        wave: name === "root" ? -Infinity : this.#wave(name),
        sync: a?.status?.sync?.status ?? (a ? "Unknown" : "Missing"),
        health: a?.status?.health?.status ?? (a ? "Unknown" : "Missing"),
        convergedMs: this.#converged.get(name),
        messages: a ? this.#messages(name, a) : ["Argo CD never created it (the root app did not reach its wave)"],
        blockers: a ? blockersOf(a) : [],
      };
    }).sort((x, y) => x.wave - y.wave || x.name.localeCompare(y.name));
  }

  /** Argo CD's words on `a`, and its last failed sync when a retry of it is under way. */
  #messages(name: string, a: Application): string[] {
    const out = messagesOf(a);
    const failure = this.#failures.get(name);
    if (failure && !failureOf(a)) out.push(`${failure} (a retry is under way)`);
    return out;
  }

  /**
   * Asks Argo CD for a hard refresh of every Application (manifests built again, compared again)
   * and resolves once each one's refresh was taken (the annotation is gone again).
   */
  async hardRefresh(): Promise<void> {
    for (const name of this.#apps.keys()) {
      await this.client.request("PATCH", `${this.#path}/${name}`, {
        body: { metadata: { annotations: { "argocd.argoproj.io/refresh": "hard" } } },
        contentType: "application/merge-patch+json",
      });
    }
  }

  /** Whether every hard refresh asked for has been taken. */
  async refreshed(): Promise<boolean> {
    await this.observe();
    return [...this.#apps.values()].every((a) => !a.metadata.annotations?.["argocd.argoproj.io/refresh"]);
  }
}

/** `+12s` style offset from the start. */
export function clock(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 60 ? `+${s}s` : `+${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
}

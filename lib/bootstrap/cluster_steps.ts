/**
 * The steps bootstrap and dev share once a cluster answers: Gateway API CRDs, Cilium, nodes
 * Ready, the `argocd` namespace with Argo CD's age key, Argo CD, the root Application, and the
 * wait until every Application is Synced and Healthy (followed as `deno task rehearse` follows
 * them: lib/kube/applications.ts; on timeout, what Argo CD says holds each one up).
 *
 * The objects applied are exactly those `render` produced for the Application of the same name
 * (`gateway-api`, `cilium`, `argocd`): Namespaces and CRDs first (waited for until
 * Established), then every object of a kind the API serves. Objects of kinds the cluster does
 * not serve yet (Cilium's own resources, which its operator registers) are left to Argo CD,
 * which applies them once the kinds exist.
 *
 * @module
 */

import { PLACEHOLDER } from "../render/ksops.ts";
import { render as showCommand, type Secret, secret } from "../cmd.ts";
import { HomelabError } from "../errors.ts";
import { converged, Follower, type FollowEvent, holdUps } from "../kube/applications.ts";
import { judge } from "../kube/wait.ts";
import type { KubeObject, Rendering } from "../render/model.ts";
import { type Step, waitUntil } from "../steps.ts";
import type { Ui } from "../ui.ts";
import { applyOrder, kinds, type Kube } from "./kube.ts";

/** How long each kind of wait may take. */
export interface Timeouts {
  readonly crdMs: number;
  readonly rolloutMs: number;
  readonly nodesMs: number;
  readonly appsMs: number;
}

/** Waits as on a real cluster. */
export const DEFAULT_TIMEOUTS: Timeouts = {
  crdMs: 2 * 60_000,
  rolloutMs: 10 * 60_000,
  nodesMs: 10 * 60_000,
  appsMs: 30 * 60_000,
};

/** Everything the shared steps need. */
export interface ClusterSide {
  readonly kube: Kube;
  readonly ui: Ui;
  /** `dev` or `prod`: which rendering is applied. */
  readonly env: string;
  /** The rendering of the bootstrap Applications (made once, on first use). */
  readonly rendering: () => Promise<Rendering>;
  /** How the rendering is made, for the plan. */
  readonly renderPlan: (app: string) => string;
  /** The `sops-age` Secret manifest (decrypted in memory). */
  readonly argocdKey: () => Promise<Secret>;
  /** Where the key comes from, for the plan. */
  readonly argocdKeyPlan: string;
  /** The root Application. */
  readonly rootApp: () => Promise<KubeObject>;
  readonly rootPlan: string;
  /** How many nodes must be Ready (at least one when absent). */
  readonly nodes?: number;
  readonly timeouts: Timeouts;
}

/**
 * Whether `o` is a Secret the render made from a SOPS file (KSOPS): its values are digests or
 * placeholders, never the real ones, so bootstrap must not apply it; Argo CD does, decrypted.
 */
export function renderedSecret(o: KubeObject): boolean {
  if (o.kind !== "Secret" || o.apiVersion !== "v1") return false;
  const values = [
    ...Object.values((o.stringData ?? {}) as Record<string, unknown>),
    ...Object.values((o.data ?? {}) as Record<string, unknown>).map((v) => {
      try {
        return atob(String(v));
      } catch {
        return String(v);
      }
    }),
  ];
  return values.length > 0 && values.every((v) => DIGEST.test(String(v)) || v === PLACEHOLDER);
}

const DIGEST = /^sha256:[0-9a-f]{16}$/;

/** The rendered objects of one Application; a failed build stops the procedure with its message. */
export function appObjects(rendering: Rendering, name: string): readonly KubeObject[] {
  const app = rendering.apps.find((a) => a.app.name === name);
  if (!app) {
    throw new HomelabError(`the ${rendering.env} root app has no Application '${name}'`, {
      hint: "bootstrap applies gateway-api, cilium and argocd from root/components.json; restore them",
    });
  }
  if (app.error) throw new HomelabError(`app ${name} did not render:\n${app.error}`);
  return app.objects;
}

const CRD = "apiextensions.k8s.io/v1";
const ARGO_APPLICATIONS = {
  apiVersion: CRD,
  kind: "CustomResourceDefinition",
  metadata: { name: "applications.argoproj.io" },
};

/** The apply command as the plan shows it, with what goes to its standard input. */
function applyLine(side: ClusterSide, input: string): string {
  const c = side.kube.applyCommand("");
  return `${showCommand({ ...c, stdin: undefined })} < (${input})`;
}

async function waitReady(side: ClusterSide, what: string, objects: readonly KubeObject[], timeoutMs: number) {
  if (!objects.length) return;
  const namespaces = [...new Set(objects.map((o) => o.metadata.namespace).filter((n): n is string => !!n))];
  await waitUntil(side.ui, what, async () => {
    const states = await Promise.all(objects.map(async (o) => ({ o, ...(await side.kube.ready(o)) })));
    const waiting = states.filter((s) => !s.done);
    const state = waiting.length
      ? `${states.length - waiting.length}/${states.length} ready; ${
        waiting.slice(0, 3).map((s) => `${s.o.kind} ${s.o.metadata.name}: ${s.state}`).join("; ")
      }`
      : `${states.length}/${states.length} ready`;
    return { done: waiting.length === 0, state };
  }, { timeoutMs, diagnose: () => side.kube.diagnose(namespaces) });
}

/** A step applying the rendered objects of Application `name`; `rollout` also waits for its Deployments. */
function appStep(side: ClusterSide, name: string, title: string, rollout: boolean): Step {
  const split = async () => {
    const { first, rest } = applyOrder(appObjects(await side.rendering(), name));
    const served: KubeObject[] = [];
    const later: KubeObject[] = [];
    const sealed: KubeObject[] = [];
    for (const o of rest) {
      if (renderedSecret(o)) sealed.push(o);
      else ((await side.kube.serves(o)) ? served : later).push(o);
    }
    return { first, served, later, sealed };
  };
  const crds = (objects: readonly KubeObject[]) => objects.filter((o) => o.kind === "CustomResourceDefinition");
  const deployments = (objects: readonly KubeObject[]) => objects.filter((o) => o.kind === "Deployment");
  return {
    name,
    title,
    guarded: true,
    plan: () => [
      side.renderPlan(name),
      applyLine(side, "its Namespaces and CRDs"),
      `wait until its CRDs are Established`,
      applyLine(side, "the rest, of kinds the API serves"),
      ...(rollout ? ["wait until its Deployments are Available"] : []),
    ],
    async done() {
      const { first } = applyOrder(appObjects(await side.rendering(), name));
      if ((await side.kube.missing(first)).length) return undefined;
      for (const crd of crds(first)) if (!(await side.kube.ready(crd)).done) return undefined;
      const { served, later } = await split();
      if ((await side.kube.missing(served)).length) return undefined;
      if (rollout) { for (const d of deployments(served)) if (!(await side.kube.ready(d)).done) return undefined; }
      return `${first.length + served.length} objects in place${
        later.length ? `; ${later.length} of kinds not served yet left to Argo CD` : ""
      }`;
    },
    async run() {
      const { first } = applyOrder(appObjects(await side.rendering(), name));
      if (first.length) {
        side.ui.info(`  applying ${kinds(first)} of ${name}`);
        await side.kube.apply(first);
        await waitReady(side, `the CRDs of ${name} to be Established`, crds(first), side.timeouts.crdMs);
        (await side.kube.client()).forgetDiscovery();
      }
      const { served, later, sealed } = await split();
      if (served.length) {
        side.ui.info(`  applying ${kinds(served)} of ${name}`);
        await side.kube.apply(served);
      }
      if (later.length) {
        side.ui.info(`  left to Argo CD (the cluster does not serve these kinds yet): ${kinds(later)}`);
      }
      if (sealed.length) {
        side.ui.info(
          `  left to Argo CD (SOPS Secrets: its KSOPS decrypts them when it syncs ${name}): ${
            sealed.map((o) => o.metadata.name).join(", ")
          }`,
        );
      }
      if (rollout) {
        await waitReady(
          side,
          `the Deployments of ${name} to be Available`,
          deployments(served),
          side.timeouts.rolloutMs,
        );
      }
    },
  };
}

/** A change of the Applications as bootstrap prints it: `  Application cilium: OutOfSync/Missing → Synced/Healthy`. */
export function changeLine(e: FollowEvent): string {
  return "app" in e
    ? `  Application ${e.app}: ${e.before ? `${e.before} → ` : ""}${e.state}`
    : `  wave ${e.wave} done: ${e.apps.join(", ")}`;
}

/** Lines of a held-up Application shown at most (its messages, then its resources). */
const HOLD_UP_LINES = 12;

/**
 * What Argo CD says of each Application not Synced and Healthy at the last look: its messages and
 * the resources it does not call Synced and Healthy (what a timed-out wait prints first).
 */
export function heldUp(f: Follower): string[] {
  const held = f.outcomes().filter((o) => !converged(f.apps.get(o.name)));
  if (!held.length) return [];
  const lines = ["what Argo CD shows of the Applications not Synced and Healthy:"];
  for (const o of held) {
    lines.push(`  Application ${o.name}: ${o.sync}/${o.health}`);
    const why = holdUps(o);
    for (const l of why.slice(0, HOLD_UP_LINES)) lines.push(`      ${l}`);
    if (why.length > HOLD_UP_LINES) lines.push(`      … and ${why.length - HOLD_UP_LINES} more`);
    if (why.length) continue;
    lines.push(
      f.apps.get(o.name)?.status
        ? "      (Argo CD gives no message)"
        : "      Argo CD has not reported on it (no status): is its application-controller running?",
    );
  }
  return lines;
}

/** An Application's wave in the root app. */
function waveOf(o: KubeObject): number {
  const w = Number(o.metadata.annotations?.["argocd.argoproj.io/sync-wave"] ?? 0);
  return Number.isFinite(w) ? w : 0;
}

/** The steps from the Gateway API CRDs to every Application Synced and Healthy. */
export function clusterSteps(side: ClusterSide): Step[] {
  const nodesReady = async () => {
    const nodes = await side.kube.list<KubeObject>("/api/v1/nodes");
    const states = nodes.map((n) => ({ name: n.metadata.name, ...judgeNode(n) }));
    const ready = states.filter((s) => s.done).length;
    const want = side.nodes ?? 1;
    const notReady = states.filter((s) => !s.done).map((s) => s.name);
    return {
      done: nodes.length >= want && ready === nodes.length,
      state: `${ready}/${Math.max(want, nodes.length)} nodes Ready${
        notReady.length ? ` (not: ${notReady.join(", ")})` : ""
      }`,
    };
  };

  // The Applications the root app renders, with their waves; Argo CD's others are followed too.
  const expectedApps = async () =>
    new Map<string, number>([
      ["root", -Infinity],
      ...(await side.rendering()).root.filter((o) => o.kind === "Application").map((o) =>
        [o.metadata.name!, waveOf(o)] as const
      ),
    ]);
  const follower = async () => new Follower(await side.kube.client(), "argocd", await expectedApps());

  return [
    appStep(side, "gateway-api", "Gateway API CRDs (Cilium's Gateway controller needs them before it starts)", false),
    appStep(side, "cilium", `Cilium rendered from the cilium Application (${side.env}), applied server-side`, true),
    {
      name: "nodes",
      title: `every node Ready (the CNI is up)`,
      guarded: true,
      plan: () => [side.nodes ? `wait until ${side.nodes} nodes are Ready` : "wait until every node is Ready"],
      async done() {
        const r = await nodesReady();
        return r.done ? r.state : undefined;
      },
      async run() {
        await waitUntil(side.ui, "the nodes to be Ready", nodesReady, {
          timeoutMs: side.timeouts.nodesMs,
          diagnose: () => side.kube.diagnose(["kube-system"]),
        });
      },
    },
    {
      name: "argocd-key",
      title: "the argocd namespace and the sops-age Secret (Argo CD's age key, through kubectl's standard input)",
      guarded: true,
      plan: () => [
        side.argocdKeyPlan,
        applyLine(side, "Namespace argocd and Secret argocd/sops-age, in memory"),
      ],
      async done() {
        const s = await side.kube.get<{ data?: Record<string, string> }>({
          apiVersion: "v1",
          kind: "Secret",
          metadata: { name: "sops-age", namespace: "argocd" },
        });
        return s?.data?.["keys.txt"] ? "Secret argocd/sops-age holds keys.txt" : undefined;
      },
      async run() {
        const key = await side.argocdKey();
        await side.kube.apply(
          secret(`---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: argocd\n---\n${key.reveal()}`),
        );
      },
    },
    appStep(
      side,
      "argocd",
      `Argo CD rendered from the argocd Application (${side.env}); CRDs Established, Deployments Available`,
      true,
    ),
    {
      name: "root",
      title: "the root Application, once Argo CD's Application CRD is Established",
      guarded: true,
      plan: () => [
        side.rootPlan,
        "wait until CustomResourceDefinition applications.argoproj.io is Established",
        applyLine(side, "the root Application"),
      ],
      async done() {
        const app = await side.rootApp();
        type Source = { spec?: { source?: { repoURL?: string; targetRevision?: string } } };
        const have = await side.kube.get<Source>(app);
        const want = (app as Source).spec?.source;
        if (!have) return undefined;
        // Following another repository or branch (dev on a new branch, --local) applies it again.
        if (
          have.spec?.source?.repoURL !== want?.repoURL || have.spec?.source?.targetRevision !== want?.targetRevision
        ) {
          return undefined;
        }
        return `Application argocd/${app.metadata.name} follows ${want?.repoURL} ${want?.targetRevision}`;
      },
      async run() {
        const app = await side.rootApp();
        await waitUntil(side.ui, "CustomResourceDefinition applications.argoproj.io to be Established", async () => {
          // deno-lint-ignore no-explicit-any
          return judge("CustomResourceDefinition", await side.kube.get<any>(ARGO_APPLICATIONS));
        }, { timeoutMs: side.timeouts.crdMs });
        (await side.kube.client()).forgetDiscovery();
        await side.kube.apply([app]);
      },
    },
    {
      name: "apps",
      title: "every Application Synced and Healthy (their states printed as they change)",
      guarded: true,
      plan: () => ["wait until every Application in argocd is Synced and Healthy, printing each change"],
      async done() {
        const s = await (await follower()).observe();
        return s.done ? s.summary : undefined;
      },
      async run() {
        const f = await follower();
        await waitUntil(side.ui, "every Application to be Synced and Healthy", async () => {
          const s = await f.observe();
          for (const e of s.events) side.ui.info(changeLine(e));
          return { done: s.done, state: s.summary };
        }, {
          timeoutMs: side.timeouts.appsMs,
          intervalMs: 5000,
          diagnose: async () => [...heldUp(f), ...await side.kube.diagnose()],
        });
      },
    },
  ];
}

function judgeNode(n: KubeObject): { done: boolean } {
  const conditions = ((n as { status?: { conditions?: { type: string; status: string }[] } }).status?.conditions) ??
    [];
  return { done: conditions.some((c) => c.type === "Ready" && c.status === "True") };
}

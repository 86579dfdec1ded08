/**
 * `check --server`: the real API server judges the rendering. A local control plane (etcd and
 * kube-apiserver of the cluster's Kubernetes version, Pod Security admission configured as
 * Talos configures it) gets the rendered Namespaces and CRDs for real, then a server-side
 * dry-run of every other object with strict field validation. So unknown fields, CRD schemas
 * and their CEL rules, defaults and Pod Security are decided by the server's own code. Each
 * object is judged in the namespace it lands in, by the rule the offline checks use
 * ({@link namespaceOf}: without `metadata.namespace`, its Application's destination namespace).
 *
 * Every request is answered on its own, with its own `Warning` headers, so each warning is
 * reported against the object it belongs to. A Pod Security warning on a workload is an error
 * (the server only warns for Deployments and friends; it would refuse their Pods); other
 * warnings (deprecations) are warnings.
 *
 * @module
 */

import type { Runner } from "../cmd.ts";
import type { ApiStatus, KubeClient } from "../kube/client.ts";
import { startControlPlane } from "../kube/controlplane.ts";
import { type AppSpec, type Finding, type KubeObject, refOf, type Rendering } from "../render/model.ts";
import { namespaceOf } from "./scope.ts";
import { Pool } from "../pool.ts";
import { poll } from "../poll.ts";

/** Options of {@link serverFindings}. */
export interface ServerCheckOptions {
  /** The AdmissionConfiguration YAML of the real cluster (`clusterAdmission(...).admissionConfigYaml`). */
  readonly admission: string;
  /** Progress lines. */
  readonly log?: (line: string) => void;
  /** Requests in flight at once. */
  readonly concurrency?: number;
  /** CRDs no render holds that the cluster has at run time (an operator installs them). */
  readonly runtimeCrds?: readonly KubeObject[];
}

interface Owned {
  readonly app: string;
  readonly object: KubeObject;
  /** The Application that applies it (none for the cluster's run-time CRDs). */
  readonly spec?: AppSpec;
}

const CRD = "CustomResourceDefinition";
const POD_SECURITY = /would violate PodSecurity|violates PodSecurity/;

/** The API group of an apiVersion (`apps/v1` → `apps`, `v1` → ``). */
function groupOf(apiVersion: string): string {
  return apiVersion.includes("/") ? apiVersion.slice(0, apiVersion.lastIndexOf("/")) : "";
}

/**
 * The message of a refusal, with the fields the server named. Server-side apply words an
 * unknown field as `failed to create typed patch object (…): .spec.replica: field not declared
 * in schema`; that becomes `unknown field "spec.replica"`.
 */
export function refusal(body: unknown): string {
  const s = (body ?? {}) as ApiStatus;
  const causes = s.details?.causes?.map((c) => c.message ?? c.field ?? "").filter(Boolean) ?? [];
  const message = (s.message ?? s.reason ?? "refused")
    .replace(/^failed to create typed patch object \([^)]*\): /, "")
    .replace(/(?:^|(?<=, ))\.([^\s:]+): field not declared in schema/g, 'unknown field "$1"');
  // The message usually repeats the causes; add them only when it does not.
  const extra = causes.filter((c) => !message.includes(c));
  return [message, ...extra].join("; ");
}

/** The findings of one answer: its refusal, and each of its warnings. */
function judgeAnswer(
  owned: Owned,
  answer: { status: number; body: unknown; warnings: readonly string[] },
): Finding[] {
  const object = refOf(owned.object);
  const out: Finding[] = [];
  if (answer.status >= 300) {
    const message = refusal(answer.body);
    out.push({
      app: owned.app,
      check: POD_SECURITY.test(message) ? "pod-security" : "server",
      severity: "error",
      object,
      message: `the API server refuses it: ${message}`,
    });
  }
  for (const w of answer.warnings) {
    const podSecurity = POD_SECURITY.test(w);
    out.push({
      app: owned.app,
      check: podSecurity ? "pod-security" : "server",
      severity: podSecurity ? "error" : "warning",
      object,
      message: podSecurity ? `its pods would be refused: ${w}` : w,
    });
  }
  return out;
}

async function waitEstablished(client: KubeClient, names: readonly string[], timeout = 60_000): Promise<string[]> {
  let pending = [...names];
  if (!pending.length) return pending;
  await poll(async () => {
    const r = await client.must<
      { items: { metadata: { name: string }; status?: { conditions?: { type: string; status: string }[] } }[] }
    >(
      "GET",
      "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
    );
    const ready = new Set(
      r.body.items.filter((c) => c.status?.conditions?.some((x) => x.type === "Established" && x.status === "True"))
        .map((c) => c.metadata.name),
    );
    pending = pending.filter((n) => !ready.has(n));
    return pending.length ? undefined : true;
  }, { timeoutMs: timeout, delayMs: 20, factor: 1.5, maxDelayMs: 250 });
  return pending;
}

/**
 * Starts a local control plane, puts the rendering's Namespaces and CRDs in for real, dry-runs
 * every other object, and returns what the server said, per app and object.
 */
export async function serverFindings(
  runner: Runner,
  rendering: Rendering,
  options: ServerCheckOptions,
): Promise<Finding[]> {
  const start = performance.now();
  const say = options.log ?? (() => {});
  const log = (line: string) => say(`${((performance.now() - start) / 1000).toFixed(1)}s ${line}`);
  const all: Owned[] = [
    ...(options.runtimeCrds ?? []).map((object) => ({ app: "cluster", object })),
    ...rendering.apps.flatMap((a) => a.objects.map((object) => ({ app: a.app.name, object, spec: a.app }))),
  ];
  const findings: Finding[] = [];
  const cp = await startControlPlane(runner, {
    admission: options.admission,
    // Pods need their ServiceAccount, which the controller-manager makes.
    controllers: all.some((o) => o.object.kind === "Pod"),
    log,
  });
  try {
    const client = cp.client;
    const pool = new Pool(options.concurrency ?? 16);
    const real = (kind: string) => all.filter((o) => o.object.kind === kind);

    // Namespaces first, then CRDs: the objects in them and of them need both to exist. Only the
    // CRDs whose kinds some object uses are created for real (each one makes the server rebuild
    // its OpenAPI, which is most of the wait); the others are judged by a dry-run.
    const used = new Set(
      all.filter((o) => o.object.kind !== CRD).map((o) => `${groupOf(o.object.apiVersion)}|${o.object.kind}`),
    );
    const needed = (o: Owned) => {
      const spec = o.object.spec as { group?: string; names?: { kind?: string } } | undefined;
      return used.has(`${spec?.group ?? ""}|${spec?.names?.kind ?? ""}`);
    };
    const applied: Owned[] = [];
    const crdsToApply = real(CRD).filter(needed);
    for (const batch of [real("Namespace"), crdsToApply]) {
      await pool.each(batch, async (o) => {
        const r = await client.apply(o.object);
        findings.push(...judgeAnswer(o, r));
        if (r.status < 300) applied.push(o);
      });
    }
    const unused = real(CRD).filter((o) => !needed(o) && o.app !== "cluster");
    await pool.each(unused, async (o) => {
      findings.push(...judgeAnswer(o, await client.apply(o.object, { dryRun: true })));
    });
    const crds = applied.filter((o) => o.object.kind === CRD).map((o) => o.object.metadata.name);
    log(
      `applied ${applied.length - crds.length} namespaces and the ${crds.length} CRDs objects use ` +
        `(${unused.length} others dry-run); waiting for the CRDs`,
    );
    const late = await waitEstablished(client, crds);
    for (const name of late) {
      const o = applied.find((x) => x.object.kind === CRD && x.object.metadata.name === name)!;
      findings.push({
        app: o.app,
        check: "server",
        severity: "error",
        object: refOf(o.object),
        message: "the CRD did not become Established within 60s",
      });
    }
    client.forgetDiscovery();

    // Each object in the namespace it lands in, as Argo CD applies it (the scope from the server).
    const scope = new Map((await client.resources()).map((r) => [`${r.groupVersion}|${r.kind}`, r.namespaced]));
    const scopeOf = (apiVersion: string, kind: string) => scope.get(`${apiVersion}|${kind}`);
    const rest = all.filter((o) => o.object.kind !== "Namespace" && o.object.kind !== CRD).map((o) => {
      const namespace = namespaceOf(o.object, o.spec, scopeOf);
      return namespace && namespace !== o.object.metadata.namespace
        ? { ...o, object: { ...o.object, metadata: { ...o.object.metadata, namespace } } }
        : o;
    });
    log(`dry-running ${rest.length} objects`);
    await pool.each(rest, async (o) => {
      const { apiVersion, kind } = o.object;
      if (!await client.resourceOf(apiVersion, kind)) {
        findings.push({
          app: o.app,
          check: "server",
          severity: "error",
          object: refOf(o.object),
          message: `the API server has no resource for ${apiVersion} ${kind}: no CRD in the rendering defines it`,
        });
        return;
      }
      findings.push(...judgeAnswer(o, await client.apply(o.object, { dryRun: true })));
    });
    log("done; stopping the control plane");
  } finally {
    await cp.stop();
  }
  return findings;
}

/** The kind of problem a finding is about, to tell when the server found what the offline checks found. */
function topic(f: Finding): string {
  if (f.check === "pod-security") return "pod-security";
  if (f.check === "namespace" || /namespaces "[^"]+" not found/.test(f.message)) return "namespace";
  return "schema";
}

/**
 * The offline findings, then the server's for objects where the offline checks did not already
 * report an error on the same topic (schema, Pod Security, namespace): one line per finding and
 * object, not the same problem twice.
 */
export function mergeFindings(offline: readonly Finding[], server: readonly Finding[]): Finding[] {
  const key = (f: Finding) => `${f.app}|${f.object?.kind}|${f.object?.namespace ?? ""}|${f.object?.name}|${topic(f)}`;
  const known = new Set(
    offline.filter((f) => f.severity === "error" && f.object && f.check !== "build").map(key),
  );
  return [...offline, ...server.filter((f) => !(f.object && known.has(key(f))))];
}

/**
 * The Stages of `rehearse/stages/` on the real local control plane: each object of a kind whose
 * controller does not run here gets the status Argo CD's health check of that kind reads.
 */
import assert from "node:assert/strict";
import { HomelabError } from "../lib/errors.ts";
import type { KubeObject } from "../lib/render/model.ts";
import { type GroupKind, groupKindKey, loadStages } from "../lib/rehearse/stages.ts";
import { eventually } from "./helpers.ts";
import { REPO_PATH, withControlPlane } from "./kube_helpers.ts";

const stages = await loadStages(`${REPO_PATH}/rehearse/stages`);

type Obj = Record<string, unknown> & { metadata: { name: string; generation?: number } };
type Condition = { type: string; status: string; observedGeneration?: number };

const hasCondition = (conditions: unknown, type: string) =>
  Array.isArray(conditions) && conditions.some((c: Condition) => c.type === type && c.status === "True");

/** `o` with its keys in order, to compare objects as JSON. */
const sorted = (o: Record<string, string | undefined>) => Object.fromEntries(Object.entries(o).sort());

/** A CRD of `group/kind` (version v1) that keeps every field and has a status subresource. */
function crd(group: string, kind: string, scope: "Namespaced" | "Cluster"): KubeObject {
  const plural = kind.toLowerCase() + (kind.endsWith("s") ? "es" : "s");
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: {
      name: `${plural}.${group}`,
      // Groups under k8s.io need it, as the real Gateway API CRDs have it.
      annotations: group.endsWith(".k8s.io")
        ? { "api-approved.kubernetes.io": "https://github.com/kubernetes-sigs/gateway-api/pull/3328" }
        : {},
    },
    spec: {
      group,
      scope,
      names: { kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List` },
      versions: [{
        name: "v1",
        served: true,
        storage: true,
        subresources: { status: {} },
        schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } },
      }],
    },
  };
}

interface Case {
  readonly kind: GroupKind;
  /** The CRD to create; none for Kubernetes' own kinds. */
  readonly crd?: KubeObject;
  readonly objects: readonly KubeObject[];
  /** Whether the object as read back carries the status the Stage gives it. */
  readonly done: (o: Obj, index: number) => boolean;
}

const ns = "default";
const CASES: Case[] = [
  {
    kind: { group: "", kind: "Service" },
    objects: [
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "asks", namespace: ns, annotations: { "lbipam.cilium.io/ips": "10.40.0.80" } },
        spec: { type: "LoadBalancer", ports: [{ port: 443 }] },
      },
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "any", namespace: ns },
        spec: { type: "LoadBalancer", ports: [{ port: 53, protocol: "UDP" }] },
      },
    ],
    done: (o, i) => {
      const ingress = (o.status as { loadBalancer?: { ingress?: { ip: string }[] } })?.loadBalancer?.ingress;
      return ingress?.[0]?.ip === ["10.40.0.80", "192.0.2.1"][i];
    },
  },
  {
    kind: { group: "", kind: "PersistentVolumeClaim" },
    objects: [{
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: { name: "data", namespace: ns },
      spec: {
        accessModes: ["ReadWriteOnce"],
        storageClassName: "linstor",
        resources: { requests: { storage: "1Gi" } },
      },
    }],
    done: (o) => {
      const s = o.status as { phase?: string; capacity?: { storage?: string } } | undefined;
      return s?.phase === "Bound" && s.capacity?.storage === "1Gi" &&
        typeof (o.spec as { volumeName?: string }).volumeName === "string";
    },
  },
  {
    kind: { group: "cert-manager.io", kind: "Certificate" },
    crd: crd("cert-manager.io", "Certificate", "Namespaced"),
    objects: [{
      apiVersion: "cert-manager.io/v1",
      kind: "Certificate",
      metadata: { name: "wildcard", namespace: ns },
      spec: {
        secretName: "wildcard-tls",
        dnsNames: ["*.example.org"],
        issuerRef: { name: "le", kind: "ClusterIssuer" },
      },
    }],
    done: (o) => hasCondition((o.status as { conditions?: unknown })?.conditions, "Ready"),
  },
  {
    kind: { group: "cert-manager.io", kind: "ClusterIssuer" },
    crd: crd("cert-manager.io", "ClusterIssuer", "Cluster"),
    objects: [{
      apiVersion: "cert-manager.io/v1",
      kind: "ClusterIssuer",
      metadata: { name: "le" },
      spec: { selfSigned: {} },
    }],
    done: (o) => hasCondition((o.status as { conditions?: unknown })?.conditions, "Ready"),
  },
  {
    kind: { group: "external-secrets.io", kind: "ClusterSecretStore" },
    crd: crd("external-secrets.io", "ClusterSecretStore", "Cluster"),
    objects: [{
      apiVersion: "external-secrets.io/v1",
      kind: "ClusterSecretStore",
      metadata: { name: "store" },
      spec: { provider: { fake: { data: [] } } },
    }],
    done: (o) => hasCondition((o.status as { conditions?: unknown })?.conditions, "Ready"),
  },
  {
    kind: { group: "gateway.networking.k8s.io", kind: "GatewayClass" },
    crd: crd("gateway.networking.k8s.io", "GatewayClass", "Cluster"),
    objects: [{
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "GatewayClass",
      metadata: { name: "cilium" },
      spec: { controllerName: "io.cilium/gateway-controller" },
    }],
    // Argo CD's check skips an Accepted condition of another generation.
    done: (o) =>
      ((o.status as { conditions?: Condition[] })?.conditions ?? []).some((c) =>
        c.type === "Accepted" && c.status === "True" && c.observedGeneration === o.metadata.generation
      ),
  },
  {
    kind: { group: "gateway.networking.k8s.io", kind: "Gateway" },
    crd: crd("gateway.networking.k8s.io", "Gateway", "Namespaced"),
    objects: [{
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "Gateway",
      metadata: { name: "shared", namespace: ns },
      spec: {
        gatewayClassName: "cilium",
        listeners: [
          { name: "http", protocol: "HTTP", port: 80 },
          { name: "https", protocol: "HTTPS", port: 443 },
        ],
      },
    }],
    done: (o) => {
      const s = o.status as { conditions?: unknown; listeners?: { name: string; conditions?: unknown }[] } | undefined;
      return hasCondition(s?.conditions, "Accepted") && hasCondition(s?.conditions, "Programmed") &&
        s?.listeners?.map((l) => l.name).join(",") === "http,https" &&
        s.listeners.every((l) => hasCondition(l.conditions, "Programmed") && hasCondition(l.conditions, "Accepted"));
    },
  },
  {
    kind: { group: "gateway.networking.k8s.io", kind: "HTTPRoute" },
    crd: crd("gateway.networking.k8s.io", "HTTPRoute", "Namespaced"),
    objects: [{
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      metadata: { name: "app", namespace: ns },
      spec: {
        parentRefs: [{ name: "shared", namespace: "gateway", sectionName: "https" }, { name: "internal" }],
        rules: [{ backendRefs: [{ name: "app", port: 80 }] }],
      },
    }],
    done: (o) => {
      const parents = (o.status as { parents?: { parentRef: Record<string, string>; conditions?: unknown }[] })
        ?.parents;
      return !!parents && parents.length === 2 &&
        parents.every((p) => hasCondition(p.conditions, "Accepted") && hasCondition(p.conditions, "ResolvedRefs")) &&
        JSON.stringify(parents.map((p) => sorted(p.parentRef))) === JSON.stringify([
            {
              group: "gateway.networking.k8s.io",
              kind: "Gateway",
              namespace: "gateway",
              name: "shared",
              sectionName: "https",
            },
            { group: "gateway.networking.k8s.io", kind: "Gateway", namespace: ns, name: "internal" },
          ].map(sorted));
    },
  },
  {
    kind: { group: "postgresql.cnpg.io", kind: "Cluster" },
    crd: crd("postgresql.cnpg.io", "Cluster", "Namespaced"),
    objects: [{
      apiVersion: "postgresql.cnpg.io/v1",
      kind: "Cluster",
      metadata: { name: "db", namespace: ns },
      spec: { instances: 3, storage: { size: "1Gi" } },
    }],
    // What Argo CD's health.lua reads: conditions present, no hibernation, the phase.
    done: (o) => {
      const s = o.status as { phase?: string; conditions?: Condition[]; readyInstances?: number } | undefined;
      return s?.phase === "Cluster in healthy state" && Array.isArray(s.conditions) &&
        !s.conditions.some((c) => c.type === "cnpg.io/hibernation") && s.readyInstances === 3;
    },
  },
  ...["Prometheus", "Alertmanager"].map((kind): Case => ({
    kind: { group: "monitoring.coreos.com", kind },
    crd: crd("monitoring.coreos.com", kind, "Namespaced"),
    objects: [{
      apiVersion: "monitoring.coreos.com/v1",
      kind,
      metadata: { name: "main", namespace: ns },
      spec: { replicas: 2 },
    }],
    done: (o) => {
      const s = o.status as { conditions?: unknown; availableReplicas?: number } | undefined;
      return hasCondition(s?.conditions, "Available") && hasCondition(s?.conditions, "Reconciled") &&
        s?.availableReplicas === 2;
    },
  })),
];

Deno.test("every Stage of rehearse/stages has a case here", () => {
  assert.deepEqual(
    stages.kinds.map(groupKindKey).sort(),
    CASES.map((c) => groupKindKey(c.kind)).sort(),
  );
});

Deno.test("on the local control plane, each Stage gives its kind the status Argo CD's health check reads", async (t) => {
  await withControlPlane({
    controllers: true,
    nodes: ["node-1"],
    stages: stages.files,
    crds: CASES.flatMap((c) => c.crd ? [c.crd] : []),
  }, async (cp) => {
    for (const c of CASES) {
      for (const o of c.objects) {
        const r = await cp.client.apply(o);
        assert.ok(r.status < 300, `${o.kind} ${o.metadata.name}: ${JSON.stringify(r.body)}`);
      }
    }
    for (const c of CASES) {
      await t.step(groupKindKey(c.kind), async () => {
        for (const [i, o] of c.objects.entries()) {
          let last: Obj | undefined;
          await eventually(
            async () => {
              last = await cp.client.get<Obj>(o);
              return !!last && c.done(last, i);
            },
            `${o.kind} ${o.metadata.name} gets its status`,
            60_000,
          ).catch((e) => {
            throw new Error(`${e.message}; last seen status: ${JSON.stringify(last?.status)}`);
          });
        }
      });
    }
  });
});

Deno.test("a CRD the control plane refuses stops its start with a message naming the CRD", async () => {
  // Groups under k8s.io need an approval annotation, which this one lacks.
  const bad = crd("example.k8s.io", "Widget", "Namespaced");
  const unapproved = { ...bad, metadata: { name: bad.metadata.name } };
  await assert.rejects(
    () => withControlPlane({ crds: [unapproved] }, () => Promise.resolve()),
    (e: Error) =>
      e instanceof HomelabError &&
      /refused CustomResourceDefinition widgets\.example\.k8s\.io: .*api-approved/.test(e.message),
  );
});

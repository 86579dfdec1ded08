/**
 * Wave order: the root app creates its Applications wave by wave and waits for each wave to be
 * healthy before the next. An object whose health (or whose very kind) depends on something an
 * Application of a *later* wave creates can never become healthy in time, and the root app stalls
 * for good — a wave inversion. What is checked:
 * - an object of a kind whose CustomResourceDefinition a later wave installs;
 * - a route (HTTPRoute, GRPCRoute, …) whose parent Gateway a later wave creates (Argo CD judges a
 *   route Progressing until its Gateway reports it);
 * - a Gateway whose GatewayClass a later wave creates;
 * - a cert-manager Certificate whose Issuer or ClusterIssuer a later wave creates;
 * - a PersistentVolumeClaim (or StatefulSet claim template) whose StorageClass a later wave creates.
 *
 * ```ts
 * checkWaveOrder(rendering, scopeOf); // → findings, check "wave-order"
 * ```
 *
 * @module
 */

import { type Finding, type KubeObject, refOf, type Rendering } from "../render/model.ts";
import { groupOf, namespaceOf, type ScopeOf } from "./scope.ts";

const GATEWAY_GROUP = "gateway.networking.k8s.io";
const ROUTES = new Set(["HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "UDPRoute"]);
const WAVE = "argocd.argoproj.io/sync-wave";

function record(v: unknown): Record<string, unknown> {
  return v && typeof v === "object" && !Array.isArray(v) ? v as Record<string, unknown> : {};
}

function list(v: unknown): Record<string, unknown>[] {
  return Array.isArray(v) ? v.map(record) : [];
}

/** The wave of each Application of the root app (0 when it names none). */
export function appWaves(root: readonly KubeObject[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const o of root) {
    if (o.kind !== "Application" || !o.metadata.name) continue;
    const w = Number(o.metadata.annotations?.[WAVE] ?? 0);
    out.set(o.metadata.name, Number.isFinite(w) ? w : 0);
  }
  return out;
}

/** Every wave inversion of `rendering`; see the module documentation. */
export function checkWaveOrder(rendering: Rendering, scopeOf: ScopeOf): Finding[] {
  const waves = appWaves(rendering.root);
  const wave = (app: string) => waves.get(app) ?? 0;
  // Who creates what: `group|kind|namespace|name` → the earliest Application rendering it.
  const creator = new Map<string, string>();
  const crdOf = new Map<string, string>(); // group|kind → app installing its CRD
  const key = (group: string, kind: string, ns: string | undefined, name: string) =>
    `${group}|${kind}|${ns ?? ""}|${name}`;
  const remember = (map: Map<string, string>, k: string, app: string) => {
    const had = map.get(k);
    if (had === undefined || wave(app) < wave(had)) map.set(k, app);
  };
  const entries = rendering.apps.flatMap((a) =>
    a.objects.map((o) => ({ app: a.app.name, object: o, namespace: namespaceOf(o, a.app, scopeOf) }))
  );
  for (const { app, object: o, namespace } of entries) {
    remember(creator, key(groupOf(o.apiVersion), o.kind, namespace, o.metadata.name ?? ""), app);
    if (o.kind === "CustomResourceDefinition") {
      const spec = record(o.spec);
      const kind = record(spec.names).kind;
      if (typeof spec.group === "string" && typeof kind === "string") remember(crdOf, `${spec.group}|${kind}`, app);
    }
  }

  const findings: Finding[] = [];
  const inverted = (app: string, o: KubeObject, what: string, by: string | undefined, why: string) => {
    if (by === undefined || wave(by) <= wave(app)) return;
    findings.push({
      app,
      check: "wave-order",
      severity: "error",
      object: refOf(o),
      message: `needs ${what}, which the Application ${by} creates in sync wave ${wave(by)}, after this ` +
        `Application's wave ${wave(app)}: ${why}, and the root app waits for wave ${wave(app)} to be healthy ` +
        `before it creates wave ${wave(by)} — it never gets there. Move this object to an Application of wave ` +
        `${wave(by)} or later, or ${by} to an earlier wave`,
    });
  };

  for (const { app, object: o, namespace } of entries) {
    const group = groupOf(o.apiVersion);
    const spec = record(o.spec);
    inverted(
      app,
      o,
      `the CustomResourceDefinition of ${o.kind}`,
      crdOf.get(`${group}|${o.kind}`),
      `without it the kind does not exist, so the sync fails`,
    );
    if (group === GATEWAY_GROUP && ROUTES.has(o.kind)) {
      for (const p of list(spec.parentRefs)) {
        if ((p.group ?? GATEWAY_GROUP) !== GATEWAY_GROUP || (p.kind ?? "Gateway") !== "Gateway") continue;
        const ns = typeof p.namespace === "string" ? p.namespace : namespace;
        const name = String(p.name ?? "");
        inverted(
          app,
          o,
          `Gateway ${ns}/${name}`,
          creator.get(key(GATEWAY_GROUP, "Gateway", ns, name)),
          `Argo CD judges the ${o.kind} Progressing until its Gateway reports it`,
        );
      }
    }
    if (group === GATEWAY_GROUP && o.kind === "Gateway" && typeof spec.gatewayClassName === "string") {
      inverted(
        app,
        o,
        `GatewayClass ${spec.gatewayClassName}`,
        creator.get(key(GATEWAY_GROUP, "GatewayClass", undefined, spec.gatewayClassName)),
        "the Gateway is not programmed before its class exists",
      );
    }
    if (group === "cert-manager.io" && o.kind === "Certificate") {
      const issuer = record(spec.issuerRef);
      const kind = typeof issuer.kind === "string" ? issuer.kind : "Issuer";
      const name = String(issuer.name ?? "");
      inverted(
        app,
        o,
        `${kind} ${name}`,
        creator.get(key("cert-manager.io", kind, kind === "ClusterIssuer" ? undefined : namespace, name)),
        "the Certificate is not Ready before its issuer exists",
      );
    }
    const classes: string[] = [];
    if (group === "" && o.kind === "PersistentVolumeClaim" && typeof spec.storageClassName === "string") {
      classes.push(spec.storageClassName);
    }
    if (group === "apps" && o.kind === "StatefulSet") {
      for (const t of list(spec.volumeClaimTemplates)) {
        const name = record(t.spec).storageClassName;
        if (typeof name === "string") classes.push(name);
      }
    }
    for (const name of classes) {
      inverted(
        app,
        o,
        `StorageClass ${name}`,
        creator.get(key("storage.k8s.io", "StorageClass", undefined, name)),
        "the claim stays Pending until its class exists",
      );
    }
  }
  return findings;
}

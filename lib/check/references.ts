/**
 * References that must resolve inside the tree: a Gateway's GatewayClass; a route's parent
 * Gateway (and listener) and backend Service and port (across namespaces only with a
 * ReferenceGrant); a PersistentVolumeClaim's (and a StatefulSet's claim templates')
 * StorageClass.
 *
 * @module
 */

import { BUILTIN_STORAGE_CLASSES } from "./stacks.ts";
import { type Finding, type KubeObject, refOf, type Rendering } from "../render/model.ts";
import { groupOf, namespaceOf, type ScopeOf } from "./scope.ts";

const GATEWAY_GROUP = "gateway.networking.k8s.io";
const ROUTES = new Set(["HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "UDPRoute"]);

/** Every object of the rendering by `group|kind|namespace|name`, with the app it comes from. */
class ObjectIndex {
  readonly #objects = new Map<string, KubeObject>();
  readonly all: { app: string; appPath: string; object: KubeObject; namespace?: string }[] = [];

  constructor(rendering: Rendering, readonly scopeOf: ScopeOf) {
    for (const app of rendering.apps) {
      for (const o of app.objects) {
        const ns = namespaceOf(o, app.app, scopeOf);
        this.all.push({ app: app.app.name, appPath: app.app.path, object: o, namespace: ns });
        const key = `${groupOf(o.apiVersion)}|${o.kind}|${ns ?? ""}|${o.metadata.name}`;
        if (!this.#objects.has(key)) this.#objects.set(key, o);
      }
    }
  }

  get(group: string, kind: string, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.#objects.get(`${group}|${kind}|${namespace ?? ""}|${name}`);
  }

  ofKind(group: string, kind: string): KubeObject[] {
    return this.all.filter((e) => e.object.kind === kind && groupOf(e.object.apiVersion) === group).map((e) =>
      e.object
    );
  }
}

type Ref = { group?: string; kind?: string; namespace?: string; name?: string; sectionName?: string; port?: number };

function record(v: unknown): Record<string, unknown> {
  return v && typeof v === "object" && !Array.isArray(v) ? v as Record<string, unknown> : {};
}

function list(v: unknown): Record<string, unknown>[] {
  return Array.isArray(v) ? v.map(record) : [];
}

function granted(index: ObjectIndex, from: { kind: string; namespace: string }, to: Ref & { namespace: string }) {
  return index.all.some(({ object, namespace }) => {
    if (object.kind !== "ReferenceGrant" || namespace !== to.namespace) return false;
    const spec = record(object.spec);
    return list(spec.from).some((f) =>
      f.group === GATEWAY_GROUP && f.kind === from.kind && f.namespace === from.namespace
    ) &&
      list(spec.to).some((t) =>
        (t.group ?? "") === (to.group ?? "") && t.kind === (to.kind ?? "Service") &&
        (!t.name || t.name === to.name)
      );
  });
}

/** The reference findings of a rendering. */
export function checkReferences(rendering: Rendering, scopeOf: ScopeOf): Finding[] {
  const index = new ObjectIndex(rendering, scopeOf);
  const findings: Finding[] = [];
  const add = (app: string, o: KubeObject, message: string) =>
    findings.push({ app, check: "reference", severity: "error", object: refOf(o), message });

  const classes = new Set(index.ofKind(GATEWAY_GROUP, "GatewayClass").map((c) => c.metadata.name));
  // The environment's own classes (kind's default `standard` in dev) count as created.
  const builtin = BUILTIN_STORAGE_CLASSES[rendering.env].map((name) => ({
    metadata: { name, annotations: { "storageclass.kubernetes.io/is-default-class": "true" } },
  }));
  const storageClasses = [...index.ofKind("storage.k8s.io", "StorageClass"), ...builtin];
  const defaultClass = storageClasses.find((c) =>
    c.metadata.annotations?.["storageclass.kubernetes.io/is-default-class"] === "true"
  );

  for (const { app, object: o, namespace } of index.all) {
    const group = groupOf(o.apiVersion);
    const spec = record(o.spec);
    if (group === GATEWAY_GROUP && o.kind === "Gateway") {
      const name = spec.gatewayClassName;
      if (typeof name === "string" && !classes.has(name)) {
        add(
          app,
          o,
          `gatewayClassName '${name}' names a GatewayClass nothing in this render creates` +
            (classes.size ? ` (there are: ${[...classes].join(", ")})` : " (there is none)") +
            ": the Gateway would never be programmed. Create the GatewayClass (for Cilium: " +
            'gatewayAPI.gatewayClass.create: "true" in its values) or use an existing one',
        );
      }
    }
    if (group === GATEWAY_GROUP && ROUTES.has(o.kind)) {
      for (const p of list(spec.parentRefs) as Ref[]) {
        const kind = p.kind ?? "Gateway";
        if ((p.group ?? GATEWAY_GROUP) !== GATEWAY_GROUP || kind !== "Gateway" || !p.name) continue;
        const ns = p.namespace ?? namespace;
        const gw = index.get(GATEWAY_GROUP, "Gateway", ns, p.name);
        if (!gw) {
          add(app, o, `parentRefs: Gateway ${ns}/${p.name} is not in this render: the route would attach to nothing`);
        } else if (p.sectionName && !list(record(gw.spec).listeners).some((l) => l.name === p.sectionName)) {
          add(app, o, `parentRefs: Gateway ${ns}/${p.name} has no listener named '${p.sectionName}'`);
        }
      }
      for (const [i, rule] of list(spec.rules).entries()) {
        for (const b of list(rule.backendRefs) as Ref[]) {
          if ((b.group ?? "") !== "" || (b.kind ?? "Service") !== "Service" || !b.name) continue;
          const ns = b.namespace ?? namespace ?? "default";
          const svc = index.get("", "Service", ns, b.name);
          const where = `rules[${i}].backendRefs`;
          if (!svc) {
            add(app, o, `${where}: Service ${ns}/${b.name} is not in this render: requests would fail with 500`);
            continue;
          }
          if (b.port === undefined) {
            add(app, o, `${where}: Service ${ns}/${b.name} needs a port`);
          } else if (!list(record(svc.spec).ports).some((sp) => sp.port === b.port)) {
            const ports = list(record(svc.spec).ports).map((sp) => sp.port).join(", ");
            add(app, o, `${where}: Service ${ns}/${b.name} has no port ${b.port} (it has: ${ports || "none"})`);
          }
          if (
            ns !== namespace && !granted(index, { kind: o.kind, namespace: namespace ?? "" }, { ...b, namespace: ns })
          ) {
            add(
              app,
              o,
              `${where}: Service ${ns}/${b.name} is in another namespace and no ReferenceGrant in ${ns} allows ` +
                `${o.kind}s from ${namespace}: add one`,
            );
          }
        }
      }
    }
    const claims: { where: string; spec: Record<string, unknown> }[] = [];
    if (group === "" && o.kind === "PersistentVolumeClaim") claims.push({ where: "spec", spec });
    if (group === "apps" && o.kind === "StatefulSet") {
      for (const [i, t] of list(spec.volumeClaimTemplates).entries()) {
        claims.push({ where: `spec.volumeClaimTemplates[${i}]`, spec: record(t.spec) });
      }
    }
    for (const c of claims) {
      const name = c.spec.storageClassName;
      if (name === "") continue; // bound to a PersistentVolume, no class
      if (typeof name === "string") {
        if (!storageClasses.some((s) => s.metadata.name === name)) {
          add(
            app,
            o,
            `${c.where}.storageClassName '${name}' names a StorageClass nothing in this render creates` +
              (storageClasses.length ? ` (there are: ${storageClasses.map((s) => s.metadata.name).join(", ")})` : "") +
              ": the claim would stay Pending",
          );
        }
      } else if (!defaultClass) {
        findings.push({
          app,
          check: "reference",
          severity: "warning",
          object: refOf(o),
          message: `${c.where} names no storageClassName and no StorageClass in this render is the default ` +
            '(storageclass.kubernetes.io/is-default-class: "true"): the claim would stay Pending',
        });
      }
    }
  }
  return findings;
}

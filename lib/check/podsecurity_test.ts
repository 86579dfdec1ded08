import assert from "node:assert/strict";
import type { KubeObject, Rendering } from "../render/model.ts";
import { checkPodSecurity, type PsaRequest } from "./podsecurity.ts";
import { renderedApp, renderingOf, RESTRICTED } from "../../tests/apps.ts";

const config = RESTRICTED;

const scopeOf = (_: string, kind: string) => kind !== "Namespace";

function namespace(name: string, labels: Record<string, string> = {}): KubeObject {
  return { apiVersion: "v1", kind: "Namespace", metadata: { name, labels } };
}

function daemonSet(name: string, ns?: string): KubeObject {
  return {
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: { name, ...(ns ? { namespace: ns } : {}) },
    spec: { template: { metadata: {}, spec: { containers: [{ name, image: `${name}:1.0.0` }] } } },
  };
}

function rendering(apps: { name: string; namespace: string; objects: KubeObject[] }[]): Rendering {
  return renderingOf(apps.map(({ name, namespace, objects }) => renderedApp(name, objects, { namespace })));
}

/** Runs the check with a stand-in for `psa` that refuses every pod, and returns what it was asked. */
async function evaluated(r: Rendering) {
  const asked: PsaRequest[] = [];
  const findings = await checkPodSecurity(r, config, scopeOf, (requests) => {
    asked.push(...requests);
    return Promise.resolve(requests.map((q) => ({ id: q.id, allowed: false, forbidden: [], message: "refused" })));
  });
  return { asked: asked.map((q) => `${q.level}:${q.version}`), findings };
}

Deno.test("pod security: a workload without a namespace is judged at its Application's namespace's level", async () => {
  // The namespace (labelled baseline) comes from another app; the workload names no namespace.
  const r = rendering([
    {
      name: "namespaces",
      namespace: "",
      objects: [
        namespace("agent", {
          "pod-security.kubernetes.io/enforce": "baseline",
          "pod-security.kubernetes.io/enforce-version": "v1.33",
        }),
      ],
    },
    { name: "agent", namespace: "agent", objects: [daemonSet("agent")] },
  ]);
  const { asked, findings } = await evaluated(r);
  assert.deepEqual(asked, ["baseline:v1.33"]);
  assert.equal(findings.length, 1);
  assert.equal(findings[0].app, "agent");
  assert.match(findings[0].message, /^spec\.template: refused \(namespace agent enforces 'baseline'/);

  // Privileged by its namespace's label, inherited: nothing to evaluate.
  const privileged = rendering([
    {
      name: "agent",
      namespace: "agent",
      objects: [namespace("agent", { "pod-security.kubernetes.io/enforce": "privileged" }), daemonSet("agent")],
    },
  ]);
  assert.deepEqual(await evaluated(privileged), { asked: [], findings: [] });

  // Exempt by the cluster's configuration, inherited too.
  assert.deepEqual(
    await evaluated(rendering([{ name: "cni", namespace: "kube-system", objects: [daemonSet("cni")] }])),
    {
      asked: [],
      findings: [],
    },
  );

  // A namespace written on the object wins over the Application's.
  const written = rendering([
    {
      name: "agent",
      namespace: "agent",
      objects: [namespace("agent", { "pod-security.kubernetes.io/enforce": "privileged" }), daemonSet("agent", "web")],
    },
  ]);
  assert.deepEqual((await evaluated(written)).asked, ["restricted:latest"]);

  // An Application without a destination namespace: the pod goes to `default`, at its level.
  const none = rendering([
    {
      name: "loose",
      namespace: "",
      objects: [namespace("default", { "pod-security.kubernetes.io/enforce": "privileged" }), daemonSet("loose")],
    },
  ]);
  assert.deepEqual((await evaluated(none)).asked, []);
});

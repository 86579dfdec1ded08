/**
 * No packet leaves the machine: webhooks, CRD conversion webhooks and aggregated APIs that point
 * at a Service (or a URL) make the local kube-apiserver ask its egress guard, which refuses.
 * @module
 */

import assert from "node:assert/strict";
import type { KubeObject } from "../lib/render/model.ts";
import { REFUSAL } from "../lib/kube/egress.ts";
import type { KubeClient } from "../lib/kube/client.ts";
import { waitFor } from "../lib/kube/wait.ts";
import { onThisMachine, processTree, socketsOf, withControlPlane } from "./kube_helpers.ts";
import { patience } from "./helpers.ts";

interface Status {
  message?: string;
}

/** Creates a Service with a ClusterIP (nothing behind it) and returns that address. */
async function service(client: KubeClient, name: string): Promise<string> {
  const r = await client.must<{ spec: { clusterIP: string } }>("POST", "/api/v1/namespaces/default/services", {
    body: {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name, namespace: "default" },
      spec: { type: "ClusterIP", ports: [{ name: "https", port: 443, targetPort: 8443 }] },
    },
  });
  assert.match(r.body.spec.clusterIP, /^10\./);
  return r.body.spec.clusterIP;
}

/**
 * Creates ConfigMaps labelled `target` until the API server refuses one (a new webhook
 * configuration takes effect once the server's informer has seen it); returns the refusal.
 */
async function refusedConfigMap(client: KubeClient, target: string): Promise<string> {
  const deadline = Date.now() + patience(30_000);
  for (;;) {
    const r = await client.request<Status>("POST", "/api/v1/namespaces/default/configmaps", {
      body: {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { generateName: "probe-", namespace: "default", labels: { "egress-test": target } },
      },
    });
    if (r.status !== 201) return `${r.status} ${r.body?.message ?? ""}`;
    assert.ok(Date.now() < deadline, "the webhook configuration never took effect");
    await new Promise((res) => setTimeout(res, 100));
  }
}

function validatingWebhook(target: string, clientConfig: unknown): KubeObject {
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "ValidatingWebhookConfiguration",
    metadata: { name: `egress-test-${target}` },
    webhooks: [{
      name: `${target}.egress-test.example.org`,
      clientConfig,
      rules: [{ apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["configmaps"] }],
      objectSelector: { matchLabels: { "egress-test": target } },
      failurePolicy: "Fail",
      sideEffects: "None",
      admissionReviewVersions: ["v1"],
      timeoutSeconds: 5,
    }],
  };
}

Deno.test("webhooks, conversion webhooks and APIServices are refused by the egress guard; nothing is dialled off 127.0.0.1", async (t) => {
  let socket = "";
  await withControlPlane({}, async (cp) => {
    socket = cp.egress.socket;
    const client = cp.client;
    const apiserver = cp.daemons.find((d) => d.name === "kube-apiserver")!;
    const pids = await processTree(apiserver.pid);
    assert.ok(pids.length >= 2, `expected the guard and kube-apiserver, got ${pids}`);

    // Every socket kube-apiserver holds, sampled for the whole test: none may have a peer or a
    // local address off this machine (a connection attempt to a ClusterIP would show as SYN_SENT).
    const offMachine = new Set<string>();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        for (const s of await socketsOf(pids)) {
          if (!onThisMachine(s.local) || !onThisMachine(s.remote)) {
            offMachine.add(`${s.proto} ${s.local} → ${s.remote} (state ${s.state})`);
          }
        }
        await new Promise((r) => setTimeout(r, 25));
      }
    })();
    const refusedBy = (ip: string) => `proxy error from ${cp.egress.socket} while dialing ${ip}, code 403: ${REFUSAL}`;

    try {
      await t.step("an admission webhook that names a Service (the `cluster` selection)", async () => {
        const ip = await service(client, "webhook");
        const vwc = validatingWebhook("service", {
          service: { namespace: "default", name: "webhook", port: 443, path: "/validate" },
        });
        assert.equal((await client.apply(vwc)).status, 201);
        const refusal = await refusedConfigMap(client, "service");
        assert.ok(refusal.includes(refusedBy(`${ip}:443`)), refusal);
        assert.ok(cp.egress.refused.includes(`${ip}:443`), cp.egress.refused.join(", "));
      });

      await t.step("an admission webhook that names a URL (the `controlplane` selection)", async () => {
        // 192.0.2.0/24 is TEST-NET-1: an address that is never this machine.
        const vwc = validatingWebhook("url", { url: "https://192.0.2.10:8443/validate" });
        assert.equal((await client.apply(vwc)).status, 201);
        const refusal = await refusedConfigMap(client, "url");
        assert.ok(refusal.includes(refusedBy("192.0.2.10:8443")), refusal);
        assert.ok(cp.egress.refused.includes("192.0.2.10:8443"), cp.egress.refused.join(", "));
      });

      await t.step("a CRD conversion webhook that names a Service", async () => {
        const ip = await service(client, "converter");
        const schema = { openAPIV3Schema: { type: "object", properties: { spec: { type: "object" } } } };
        const crd: KubeObject = {
          apiVersion: "apiextensions.k8s.io/v1",
          kind: "CustomResourceDefinition",
          metadata: { name: "gadgets.example.org" },
          spec: {
            group: "example.org",
            names: { kind: "Gadget", plural: "gadgets", singular: "gadget", listKind: "GadgetList" },
            scope: "Namespaced",
            versions: [
              { name: "v1", served: true, storage: true, schema },
              { name: "v2", served: true, storage: false, schema },
            ],
            conversion: {
              strategy: "Webhook",
              webhook: {
                clientConfig: { service: { namespace: "default", name: "converter", port: 443, path: "/convert" } },
                conversionReviewVersions: ["v1"],
              },
            },
          },
        };
        assert.equal((await client.apply(crd)).status, 201);
        await waitFor(client, crd, { timeout: patience(30_000) });
        // Stored as v1, sent as v2: the server must convert.
        const r = await client.request<Status>("POST", "/apis/example.org/v2/namespaces/default/gadgets", {
          body: { apiVersion: "example.org/v2", kind: "Gadget", metadata: { name: "g" }, spec: {} },
        });
        assert.equal(r.status, 500, JSON.stringify(r.body));
        assert.ok(r.body.message?.includes(refusedBy(`${ip}:443`)), r.body.message);
      });

      await t.step("an APIService (aggregated API) that names a Service with an endpoint", async () => {
        const ip = await service(client, "aggregated");
        await client.must("POST", "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices", {
          body: {
            apiVersion: "discovery.k8s.io/v1",
            kind: "EndpointSlice",
            metadata: {
              name: "aggregated-1",
              namespace: "default",
              labels: { "kubernetes.io/service-name": "aggregated" },
            },
            addressType: "IPv4",
            endpoints: [{ addresses: ["10.244.1.7"], conditions: { ready: true } }],
            ports: [{ name: "https", port: 8443, protocol: "TCP" }],
          },
        });
        await client.must("POST", "/apis/apiregistration.k8s.io/v1/apiservices", {
          body: {
            apiVersion: "apiregistration.k8s.io/v1",
            kind: "APIService",
            metadata: { name: "v1.egress-test.example.org" },
            spec: {
              group: "egress-test.example.org",
              version: "v1",
              service: { namespace: "default", name: "aggregated", port: 443 },
              insecureSkipTLSVerify: true,
              groupPriorityMinimum: 1000,
              versionPriority: 15,
            },
          },
        });
        type Condition = { type: string; status: string; reason?: string; message?: string };
        const deadline = Date.now() + patience(60_000);
        let available: Condition | undefined;
        for (;;) {
          const r = await client.must<{ status?: { conditions?: Condition[] } }>(
            "GET",
            "/apis/apiregistration.k8s.io/v1/apiservices/v1.egress-test.example.org",
          );
          available = r.body.status?.conditions?.find((c) => c.type === "Available");
          if (available?.reason === "FailedDiscoveryCheck" || Date.now() > deadline) break;
          await new Promise((res) => setTimeout(res, 200));
        }
        assert.equal(available?.status, "False", JSON.stringify(available));
        assert.equal(available?.reason, "FailedDiscoveryCheck", JSON.stringify(available));
        assert.ok(available?.message?.includes(refusedBy(`${ip}:443`)), available?.message);
        assert.ok(cp.egress.refused.includes(`${ip}:443`), cp.egress.refused.join(", "));
      });
    } finally {
      watching = false;
      await watcher;
    }

    await t.step("kube-apiserver held no socket to another machine at any point", () => {
      assert.deepEqual([...offMachine], []);
    });
  });
  // The guard stops with the control plane.
  await assert.rejects(Deno.connect({ transport: "unix", path: socket }), Deno.errors.NotFound);
});

/** The admission plugins the API server has run, by its own metrics. */
async function admissionPluginsRun(client: KubeClient): Promise<Set<string>> {
  const r = await client.request<string>("GET", "/metrics");
  const text = typeof r.body === "string" ? r.body : String(r.body);
  const names = [
    ...text.matchAll(/^apiserver_admission_controller_admission_duration_seconds_count\{[^}]*name="(\w+)"/gm),
  ];
  return new Set(names.map((m) => m[1]));
}

Deno.test("webhooks: false — the API server runs no admission webhook (a rehearsal's webhook servers do not run)", async () => {
  for (const webhooks of [undefined, false]) {
    await withControlPlane({ webhooks }, async (cp) => {
      // A webhook configuration the server would call for every ConfigMap, and one ConfigMap.
      const target = "off";
      await cp.client.must("POST", "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations", {
        body: validatingWebhook(target, { url: "https://192.0.2.1/validate" }),
      });
      await cp.client.request("POST", "/api/v1/namespaces/default/configmaps", {
        body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "probe", namespace: "default" } },
      });
      const plugins = await admissionPluginsRun(cp.client);
      // Other admission (namespaces, Pod Security, …) runs either way.
      assert.ok(plugins.has("NamespaceLifecycle"), [...plugins].join(", "));
      assert.equal(plugins.has("ValidatingAdmissionWebhook"), webhooks !== false, [...plugins].join(", "));
      assert.equal(plugins.has("MutatingAdmissionWebhook"), webhooks !== false, [...plugins].join(", "));
    });
  }
});

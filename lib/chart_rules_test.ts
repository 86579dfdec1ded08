import assert from "node:assert/strict";
import { checkChartValues, restrictedGaps, valueAt } from "./chart_rules.ts";

Deno.test("valueAt follows dotted paths and stops at non-maps", () => {
  assert.equal(valueAt({ a: { b: { c: 1 } } }, "a.b.c"), 1);
  assert.equal(valueAt({ a: [1] }, "a.0"), undefined);
  assert.equal(valueAt({ a: "x" }, "a.b"), undefined);
});

Deno.test("restrictedGaps reads the pod context as the fallback for runAsNonRoot and seccomp", () => {
  const container = { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } };
  assert.deepEqual(restrictedGaps({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } }, container), []);
  assert.deepEqual(restrictedGaps({}, container), ["runAsNonRoot: true", "seccompProfile.type: RuntimeDefault"]);
});

Deno.test("keycloakx: the served path must be the path --hostname names", () => {
  const cmd = (url: string) => ({ command: ["kc.sh", "start", `--hostname=${url}`] });
  assert.deepEqual(checkChartValues("keycloakx", { ...cmd("https://id.example.org/auth"), http: {} }), []);
  assert.deepEqual(
    checkChartValues("keycloakx", { ...cmd("https://id.example.org"), http: { relativePath: "/" } }),
    [],
  );
  assert.equal(checkChartValues("keycloakx", cmd("https://id.example.org")).length, 1);
  assert.deepEqual(checkChartValues("keycloakx", {}), [], "no --hostname, nothing to compare");
});

Deno.test("cilium: Hubble certificates made in the cluster pass, or no Hubble TLS at all", () => {
  assert.deepEqual(checkChartValues("cilium", { hubble: { tls: { auto: { method: "cronJob" } } } }), []);
  assert.deepEqual(checkChartValues("cilium", { hubble: { tls: { enabled: false } } }), []);
  assert.equal(checkChartValues("cilium", { hubble: { tls: { auto: { method: "helm" } } } }).length, 1);
  assert.equal(checkChartValues("cilium", {}).length, 1, "the chart's default is helm");
});

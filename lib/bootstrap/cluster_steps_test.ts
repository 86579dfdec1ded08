import assert from "node:assert/strict";
import { Digester, PLACEHOLDER } from "../render/ksops.ts";
import type { KubeObject } from "../render/model.ts";
import { renderedSecret } from "./cluster_steps.ts";

const secret = (fields: Record<string, unknown>): KubeObject => ({
  apiVersion: "v1",
  kind: "Secret",
  metadata: { name: "s", namespace: "x" },
  ...fields,
});

Deno.test("a Secret the render made from a SOPS file is recognised, so bootstrap leaves it to Argo CD", async () => {
  const d = new Digester(crypto.getRandomValues(new Uint8Array(32)));
  const digest = await d.digest("hunter2");
  assert.equal(renderedSecret(secret({ stringData: { token: digest } })), true);
  assert.equal(renderedSecret(secret({ data: { token: btoa(digest), other: btoa(PLACEHOLDER) } })), true);
  assert.equal(renderedSecret(secret({ stringData: { token: PLACEHOLDER } })), true);
  // A Secret with a real value (a chart's own, a plain manifest) is applied as rendered.
  assert.equal(renderedSecret(secret({ stringData: { token: digest, url: "https://example.org" } })), false);
  assert.equal(renderedSecret(secret({ data: { "ca.crt": btoa("-----BEGIN CERTIFICATE-----") } })), false);
  assert.equal(renderedSecret(secret({})), false);
  assert.equal(renderedSecret({ ...secret({ stringData: { token: digest } }), kind: "ConfigMap" }), false);
});

import assert from "node:assert/strict";
import { convertSchema, refId, withoutNulls } from "./openapi.ts";

Deno.test("convertSchema: unknown fields closed where the API server prunes or rejects them", () => {
  const crd = { crd: true };
  assert.deepEqual(convertSchema({ type: "object", properties: { a: { type: "string" } } }, crd), {
    type: "object",
    properties: { a: { type: "string" } },
    additionalProperties: false,
  });
  // A CRD object without properties keeps no field; a core one (RawExtension) takes anything.
  assert.deepEqual(convertSchema({ type: "object" }, crd), { type: "object", additionalProperties: false });
  assert.deepEqual(convertSchema({ type: "object" }, { crd: false }), { type: "object" });
  // Preserved unknown fields and maps stay open.
  assert.deepEqual(convertSchema({ type: "object", "x-kubernetes-preserve-unknown-fields": true }, crd), {
    type: "object",
  });
  assert.deepEqual(convertSchema({ type: "object", additionalProperties: { type: "string" } }, crd), {
    type: "object",
    additionalProperties: { type: "string" },
  });
  // Branches of a structural schema only restate constraints.
  assert.deepEqual(
    convertSchema({
      type: "object",
      properties: { a: {} },
      oneOf: [{ required: ["a"] }, { properties: { a: { type: "string" } } }],
    }, crd),
    {
      type: "object",
      properties: { a: {} },
      additionalProperties: false,
      oneOf: [{ required: ["a"] }, { properties: { a: { type: "string" } } }],
    },
  );
});

Deno.test("convertSchema: int-or-string, nullable, embedded resources, refs, exclusive bounds", () => {
  const crd = { crd: true };
  assert.deepEqual(convertSchema({ "x-kubernetes-int-or-string": true, type: "string" }, crd), {
    anyOf: [{ type: "integer" }, { type: "string" }],
  });
  assert.deepEqual(convertSchema({ type: "string", nullable: true }, crd), { type: ["string", "null"] });
  const embedded = convertSchema({
    type: "object",
    "x-kubernetes-embedded-resource": true,
    "x-kubernetes-preserve-unknown-fields": true,
  }, crd);
  assert.deepEqual((embedded as Record<string, unknown>).properties, {
    apiVersion: { type: "string" },
    kind: { type: "string" },
    metadata: { $ref: refId("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta") },
  });
  assert.deepEqual(convertSchema({ $ref: "#/components/schemas/io.k8s.api.core.v1.PodSpec" }, { crd: false }), {
    $ref: refId("io.k8s.api.core.v1.PodSpec"),
  });
  assert.deepEqual(convertSchema({ type: "integer", minimum: 0, exclusiveMinimum: true }, crd), {
    type: "integer",
    exclusiveMinimum: 0,
  });
  // An RE2 pattern JavaScript cannot read is left unchecked rather than failing every object.
  assert.deepEqual(convertSchema({ type: "string", pattern: "(?i)^a$" }, crd), { type: "string" });
});

Deno.test("withoutNulls: null fields are absent, as the API server decodes them", () => {
  assert.deepEqual(withoutNulls({ a: null, b: { c: null, d: 1 }, e: [{ f: null }] }), { b: { d: 1 }, e: [{}] });
});

import assert from "node:assert/strict";
import type { KubeObject } from "../render/model.ts";
import { KubernetesSchemas } from "./kubeschemas.ts";
import { OBJECT_META } from "./openapi.ts";
import { crdVersions, Validator } from "./validator.ts";

/** A schema cache holding only ObjectMeta (all a custom resource needs besides its CRD). */
async function schemas(dir: string): Promise<KubernetesSchemas> {
  const meta = {
    type: "object",
    properties: {
      name: { type: "string" },
      namespace: { type: "string" },
      labels: { type: "object", additionalProperties: { type: "string" } },
    },
  };
  return await KubernetesSchemas.open(
    dir,
    "1.34.0",
    () => Promise.resolve(new Map([["api/v1", { components: { schemas: { [OBJECT_META]: meta } } }]])),
  );
}

function crd(versions: Record<string, unknown>[]): KubeObject {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: "widgets.example.com" },
    spec: { group: "example.com", scope: "Namespaced", names: { kind: "Widget", plural: "widgets" }, versions },
  };
}

const widget = (apiVersion: string, body: Record<string, unknown>): KubeObject => ({
  apiVersion,
  kind: "Widget",
  metadata: { name: "w", namespace: "ns" },
  ...body,
});

Deno.test("validator: a custom resource's objects without a schema of their own keep no unknown field", async () => {
  const dir = await Deno.makeTempDir({ prefix: "homelab-test-" });
  try {
    const v1 = {
      type: "object",
      properties: {
        spec: {
          type: "object",
          properties: {
            size: { type: "integer" },
            // An object without properties: the API server prunes every field in it.
            settings: { type: "object" },
            rules: { type: "array", items: { type: "object" } },
            labels: { type: "object", additionalProperties: { type: "string" } },
            raw: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
          },
        },
      },
    };
    const versions = crdVersions(
      crd([
        { name: "v1", served: true, storage: true, schema: { openAPIV3Schema: v1 } },
        { name: "v1alpha1", served: true, storage: false },
      ]),
      "widgets",
    );
    const v = new Validator(await schemas(dir), versions);
    const errors = async (o: KubeObject) => (await v.validate(o)).errors;
    assert.deepEqual(await errors(widget("example.com/v1", { spec: { size: 1, settings: {}, rules: [{}] } })), []);
    assert.deepEqual(await errors(widget("example.com/v1", { spec: { settings: { colour: "red" } } })), [
      'unknown field "spec.settings.colour"',
    ]);
    assert.deepEqual(await errors(widget("example.com/v1", { spec: { rules: [{}, { match: "x" }] } })), [
      'unknown field "spec.rules[1].match"',
    ]);
    // A map and a field that preserves unknown fields take any key.
    assert.deepEqual(
      await errors(widget("example.com/v1", { spec: { labels: { a: "b" }, raw: { any: { thing: 1 } } } })),
      [],
    );
    assert.deepEqual(await errors(widget("example.com/v1", { spec: { labels: { a: 1 } } })), [
      "spec.labels.a: must be string",
    ]);
    // A version without any schema keeps nothing but apiVersion, kind and metadata.
    assert.deepEqual(await errors(widget("example.com/v1alpha1", {})), []);
    assert.deepEqual(await errors(widget("example.com/v1alpha1", { spec: { size: 1 } })), ['unknown field "spec"']);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

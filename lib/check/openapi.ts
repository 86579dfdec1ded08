/**
 * Kubernetes OpenAPI v3 schemas (the API server's `/openapi/v3` documents and a CRD's
 * `openAPIV3Schema`) turned into JSON Schema for ajv, with the API server's strictness: an
 * unknown field is an error, as `kubectl apply` (field validation `Strict`) makes it.
 *
 * - `type: object` with `properties` gets `additionalProperties: false` unless it preserves
 *   unknown fields or declares `additionalProperties`; in a CRD, an object without `properties`
 *   too (the API server prunes every field of such an object);
 * - `x-kubernetes-int-or-string` / `format: int-or-string` → integer or string;
 * - `nullable: true` → null allowed (null fields are removed before validation anyway: {@link withoutNulls});
 * - `x-kubernetes-embedded-resource` → `apiVersion`, `kind` and `metadata` (an ObjectMeta) allowed;
 * - `$ref: #/components/schemas/NAME` → a reference to the definition NAME (see {@link refId});
 * - OpenAPI's boolean `exclusiveMinimum`/`exclusiveMaximum` → JSON Schema's numeric ones;
 * - annotations (`description`, `default`, `format`, `x-kubernetes-*` …) dropped; `x-kubernetes-validations`
 *   (CEL) cannot be evaluated here and is dropped.
 *
 * @module
 */

/** A JSON Schema node (what ajv compiles). */
export type JsonSchema = Record<string, unknown> | boolean;

/** The ajv `$id` under which Kubernetes definition `name` is registered. */
export function refId(name: string): string {
  return `https://k8s.invalid/definitions/${encodeURIComponent(name)}`;
}

/** The definition of Kubernetes' ObjectMeta (every object's `metadata`). */
export const OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

const COPIED = [
  "required",
  "enum",
  "minimum",
  "maximum",
  "multipleOf",
  "minLength",
  "maxLength",
  "minItems",
  "maxItems",
  "uniqueItems",
  "minProperties",
  "maxProperties",
] as const;

const LOGIC = ["allOf", "anyOf", "oneOf"] as const;

/** How a schema is converted. */
export interface ConvertOptions {
  /** A CRD's structural schema: objects without properties keep no field (pruning). */
  readonly crd: boolean;
}

function validPattern(p: string): boolean {
  try {
    new RegExp(p, "u");
    return true;
  } catch {
    // RE2 syntax JavaScript lacks (e.g. `(?i)`): the pattern is not checked.
    return false;
  }
}

/**
 * One schema node converted. `inLogic`: the node is a branch of allOf/anyOf/oneOf/not, where a
 * structural schema only restates constraints, so no `additionalProperties: false` is added.
 */
export function convertSchema(node: unknown, options: ConvertOptions, inLogic = false): JsonSchema {
  if (node === true || node === false) return node;
  if (!node || typeof node !== "object" || Array.isArray(node)) return {};
  const n = node as Record<string, unknown>;
  const out: Record<string, unknown> = {};

  if (typeof n.$ref === "string") {
    const m = /^#\/(?:components\/schemas|definitions)\/(.+)$/.exec(n.$ref);
    out.$ref = m ? refId(decodeURIComponent(m[1].replaceAll("~1", "/").replaceAll("~0", "~"))) : n.$ref;
    return out;
  }

  const intOrString = n["x-kubernetes-int-or-string"] === true || n.format === "int-or-string";
  const preserve = n["x-kubernetes-preserve-unknown-fields"] === true;
  const embedded = n["x-kubernetes-embedded-resource"] === true;

  if (typeof n.type === "string" && !intOrString) out.type = n.type;
  for (const k of COPIED) if (n[k] !== undefined) out[k] = n[k];
  if (typeof n.pattern === "string" && validPattern(n.pattern)) out.pattern = n.pattern;
  if (typeof n.minimum === "number" && n.exclusiveMinimum === true) {
    out.exclusiveMinimum = n.minimum;
    delete out.minimum;
  }
  if (typeof n.maximum === "number" && n.exclusiveMaximum === true) {
    out.exclusiveMaximum = n.maximum;
    delete out.maximum;
  }

  let properties: Record<string, JsonSchema> | undefined;
  if (n.properties && typeof n.properties === "object") {
    properties = {};
    for (const [k, v] of Object.entries(n.properties as Record<string, unknown>)) {
      properties[k] = convertSchema(v, options);
    }
  }
  if (embedded) {
    properties = {
      apiVersion: { type: "string" },
      kind: { type: "string" },
      metadata: { $ref: refId(OBJECT_META) },
      ...properties,
    };
  }
  if (properties) out.properties = properties;

  if (n.additionalProperties !== undefined) {
    out.additionalProperties = convertSchema(n.additionalProperties, options);
  } else if (!preserve && !inLogic) {
    const isObject = n.type === "object" || embedded;
    if (properties || (options.crd && isObject && !n.allOf && !n.anyOf && !n.oneOf)) {
      out.additionalProperties = false;
    }
  }

  if (n.items !== undefined) {
    out.items = Array.isArray(n.items)
      ? n.items.map((i) => convertSchema(i, options))
      : convertSchema(n.items, options);
  }

  for (const k of LOGIC) {
    if (Array.isArray(n[k])) out[k] = (n[k] as unknown[]).map((b) => convertSchema(b, options, true));
  }
  if (n.not !== undefined) out.not = convertSchema(n.not, options, true);

  if (intOrString) {
    const either = { anyOf: [{ type: "integer" }, { type: "string" }] };
    if (out.anyOf) out.allOf = [...(out.allOf as JsonSchema[] ?? []), either];
    else Object.assign(out, either);
  }

  // Null values are removed before validation (the API server decodes them as absent), so a
  // nullable node only needs null in its type for callers that validate without that step.
  if (n.nullable === true && typeof out.type === "string") out.type = [out.type, "null"];
  return out;
}

/** Every definition name a converted schema references (its direct `$ref`s). */
export function refsOf(schema: JsonSchema, into: Set<string> = new Set()): Set<string> {
  if (!schema || typeof schema !== "object") return into;
  if (Array.isArray(schema)) {
    for (const s of schema) refsOf(s as JsonSchema, into);
    return into;
  }
  for (const [k, v] of Object.entries(schema)) {
    if (k === "$ref" && typeof v === "string" && v.startsWith(refId(""))) {
      into.add(decodeURIComponent(v.slice(refId("").length)));
    } else if (v && typeof v === "object") refsOf(v as JsonSchema, into);
  }
  return into;
}

/** Removes object fields whose value is null, as the API server decodes them (absent). */
export function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== null) out[k] = withoutNulls(v);
    return out;
  }
  return value;
}

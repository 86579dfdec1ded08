/**
 * Validating rendered objects against their schemas, in process with ajv: built-in kinds
 * against the Kubernetes OpenAPI v3 documents of the pinned version, custom resources against
 * the CRDs of the same render and the pinned run-time CRDs. A validator is compiled the first
 * time its kind is seen and reused; definitions shared by several kinds (PodSpec, ObjectMeta)
 * are compiled once.
 *
 * ```ts
 * const v = new Validator(await KubernetesSchemas.open(cacheDir, "1.37.2"), crds);
 * await v.validate(deployment); // { known: true, errors: ['unknown field "spec.replica"'] }
 * ```
 *
 * @module
 */

import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import equal from "ajv/dist/runtime/equal.js";
import ucs2length from "ajv/dist/runtime/ucs2length.js";
import uri from "ajv/dist/runtime/uri.js";
import validationError from "ajv/dist/runtime/validation_error.js";
import standalone from "ajv/dist/standalone/index.js";
import { join } from "node:path";
import { sha256 } from "../digest.ts";
import type { KubeObject } from "../render/model.ts";
import type { KubernetesSchemas } from "./kubeschemas.ts";
import { convertSchema, type JsonSchema, OBJECT_META, refId, refsOf, withoutNulls } from "./openapi.ts";
import { writeAtomic } from "../files.ts";

/** A CRD's schema for one served version. */
export interface CrdVersion {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly namespaced: boolean;
  readonly schema: unknown;
  /** Where the CRD came from (an app's name, or the pinned source). */
  readonly from: string;
}

/** The served versions of a CustomResourceDefinition object (apiextensions.k8s.io/v1). */
export function crdVersions(crd: KubeObject, from: string): CrdVersion[] {
  const spec = (crd.spec ?? {}) as {
    group?: string;
    scope?: string;
    names?: { kind?: string };
    versions?: { name: string; served?: boolean; schema?: { openAPIV3Schema?: unknown } }[];
  };
  if (!spec.group || !spec.names?.kind || !Array.isArray(spec.versions)) return [];
  return spec.versions.filter((v) => v.served !== false).map((v) => ({
    group: spec.group!,
    version: v.name,
    kind: spec.names!.kind!,
    namespaced: spec.scope !== "Cluster",
    // A version without a schema keeps no field but apiVersion, kind and metadata.
    schema: v.schema?.openAPIV3Schema ?? { type: "object" },
    from,
  }));
}

/** The result of validating one object. */
export interface Validation {
  /** Whether a schema for the object's kind exists. */
  readonly known: boolean;
  /** One line per problem (`spec.replica: unknown field`). */
  readonly errors: readonly string[];
  /** Whether the kind is namespaced (undefined when unknown). */
  readonly namespaced?: boolean;
}

interface Compiled {
  readonly validate: ValidateFunction;
  readonly namespaced: boolean;
}

function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const i = apiVersion.lastIndexOf("/");
  return i < 0
    ? { group: "", version: apiVersion }
    : { group: apiVersion.slice(0, i), version: apiVersion.slice(i + 1) };
}

/** Bumped when the conversion or the options change what a compiled validator does. */
const COMPILED_FORMAT = 1;
/** The resolved ajv package (its path names the version), part of every compiled validator's key. */
const AJV_ID = import.meta.resolve("ajv");

/** What compiled standalone code may `require` (ajv's run-time helpers). */
const RUNTIME: Record<string, unknown> = {
  "ajv/dist/runtime/equal": equal,
  "ajv/dist/runtime/ucs2length": ucs2length,
  "ajv/dist/runtime/uri": uri,
  "ajv/dist/runtime/validation_error": validationError,
};

// The CommonJS module's default export, as Deno hands it over.
const standaloneCode = (standalone as unknown as { default: typeof standalone.default }).default;

function load(code: string): ValidateFunction {
  const module = { exports: {} as Record<string, unknown> };
  const require = (name: string) => {
    if (!(name in RUNTIME)) throw new Error(`compiled schema code requires ${name}`);
    return RUNTIME[name];
  };
  new Function("require", "module", "exports", code)(require, module, module.exports);
  return (module.exports.default ?? module.exports) as ValidateFunction;
}

/** Validates objects; see the module documentation. */
export class Validator {
  readonly #ajv = new Ajv({
    allErrors: true,
    strict: false,
    validateFormats: false,
    inlineRefs: true,
    code: { source: true },
  });
  readonly #kinds = new Map<string, Promise<Compiled | undefined>>();
  readonly #added = new Set<string>();
  /** Definition name → its raw OpenAPI schema, from the documents loaded so far. */
  readonly #raw = new Map<string, unknown>();
  readonly #crds = new Map<string, CrdVersion>();

  /**
   * `compiledDir`: where compiled validators are kept (normally `<cacheDir>/schemas/compiled`);
   * without it every kind is compiled in memory.
   */
  constructor(
    readonly kube: KubernetesSchemas,
    crds: readonly CrdVersion[],
    readonly compiledDir?: string,
  ) {
    // The first CRD of a kind wins (the ownership check reports duplicates).
    for (const c of crds) {
      const key = `${c.group}/${c.version}/${c.kind}`;
      if (!this.#crds.has(key)) this.#crds.set(key, c);
    }
  }

  /** Whether a kind is namespaced (undefined for a kind no schema knows). */
  scopeOf(apiVersion: string, kind: string): boolean | undefined {
    return this.kube.kind(apiVersion, kind)?.namespaced ?? this.crdOf(apiVersion, kind)?.namespaced;
  }

  /** The served versions of the CRDs of a group and kind (for messages about unknown versions). */
  versionsOf(group: string, kind: string): string[] {
    return [...this.#crds.values()].filter((c) => c.group === group && c.kind === kind).map((c) => c.version);
  }

  /** The CRD that defines `apiVersion`/`kind`, if any. */
  crdOf(apiVersion: string, kind: string): CrdVersion | undefined {
    const { group, version } = splitApiVersion(apiVersion);
    return this.#crds.get(`${group}/${version}/${kind}`);
  }

  /** Validates one object. */
  async validate(o: KubeObject): Promise<Validation> {
    if (typeof o.apiVersion !== "string" || typeof o.kind !== "string") {
      return { known: false, errors: ["the object has no apiVersion or kind"] };
    }
    const compiled = await this.#compiled(o.apiVersion, o.kind);
    if (!compiled) return { known: false, errors: [] };
    const value = withoutNulls(o);
    if (compiled.validate(value)) return { known: true, errors: [], namespaced: compiled.namespaced };
    return { known: true, errors: describeErrors(compiled.validate.errors ?? []), namespaced: compiled.namespaced };
  }

  #compiled(apiVersion: string, kind: string): Promise<Compiled | undefined> {
    const key = `${apiVersion}|${kind}`;
    let p = this.#kinds.get(key);
    if (!p) {
      p = this.#compile(apiVersion, kind);
      this.#kinds.set(key, p);
    }
    return p;
  }

  async #compile(apiVersion: string, kind: string): Promise<Compiled | undefined> {
    const { group, version } = splitApiVersion(apiVersion);
    const info = this.kube.kind(apiVersion, kind);
    if (info) {
      const validate = await this.#cached(`core|${info.path}|${info.definition}`, async () => {
        this.#remember(await this.kube.definitions(info.path));
        this.#add(info.definition);
        return this.#ajv.compile({ $ref: refId(info.definition) });
      });
      return { validate, namespaced: info.namespaced };
    }
    const crd = this.#crds.get(`${group}/${version}/${kind}`);
    if (!crd) return undefined;
    const validate = await this.#cached(`crd|${JSON.stringify(crd.schema)}`, async () => {
      this.#remember(await this.kube.definitions("api/v1"));
      this.#add(OBJECT_META);
      const converted = convertSchema(crd.schema, { crd: true });
      const root = (typeof converted === "object" ? converted : {}) as Record<string, unknown>;
      const properties = (root.properties ?? {}) as Record<string, JsonSchema>;
      root.type = "object";
      root.properties = {
        ...properties,
        apiVersion: { type: "string" },
        kind: { type: "string" },
        metadata: { $ref: refId(OBJECT_META) },
      };
      for (const r of refsOf(root)) this.#add(r);
      return this.#ajv.compile(root);
    });
    return { validate, namespaced: crd.namespaced };
  }

  /** A validator from the compiled-code cache, or compiled by `make` and stored there. */
  async #cached(what: string, make: () => ValidateFunction | Promise<ValidateFunction>): Promise<ValidateFunction> {
    if (!this.compiledDir) return await make();
    const key = await sha256(`${COMPILED_FORMAT}|${AJV_ID}|${this.kube.id}|${what}`);
    const file = join(this.compiledDir, `${key}.js`);
    const code = await Deno.readTextFile(file).catch(() => undefined);
    if (code !== undefined) {
      try {
        return load(code);
      } catch {
        // A damaged file: compile again below.
      }
    }
    const validate = await make();
    await writeAtomic(file, standaloneCode(this.#ajv, validate));
    return validate;
  }

  #remember(defs: Record<string, unknown>): void {
    for (const [n, d] of Object.entries(defs)) if (!this.#raw.has(n)) this.#raw.set(n, d);
  }

  /** Registers a definition and every definition it references with ajv (compiled when used). */
  #add(name: string): void {
    const pending = [name];
    while (pending.length) {
      const n = pending.pop()!;
      if (this.#added.has(n)) continue;
      this.#added.add(n);
      const raw = this.#raw.get(n);
      const converted = raw === undefined ? true : convertSchema(raw, { crd: false });
      const schema = typeof converted === "boolean" || "$ref" in converted ? { allOf: [converted] } : converted;
      this.#ajv.addSchema({ ...schema, $id: refId(n) });
      for (const r of refsOf(converted)) if (!this.#added.has(r)) pending.push(r);
    }
  }
}

/** `/spec/template/spec/containers/0/name` → `spec.template.spec.containers[0].name`. */
function fieldPath(pointer: string, extra?: string): string {
  const parts = pointer.split("/").slice(1).map((p) => p.replaceAll("~1", "/").replaceAll("~0", "~"));
  if (extra !== undefined) parts.push(extra);
  let out = "";
  for (const p of parts) {
    if (/^\d+$/.test(p)) out += `[${p}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(p)) out += out ? `.${p}` : p;
    else out += `[${JSON.stringify(p)}]`;
  }
  return out || "(the object)";
}

/**
 * ajv's errors as one line each, the way the API server words them where it can
 * (`unknown field "spec.replica"`). Branch errors of anyOf/oneOf are folded into one line.
 */
function describeErrors(errors: readonly ErrorObject[]): string[] {
  const lines: string[] = [];
  // Errors inside a failed anyOf/oneOf branch: reported once, by the anyOf/oneOf itself.
  const logic = errors.filter((e) => e.keyword === "anyOf" || e.keyword === "oneOf");
  const inBranch = (e: ErrorObject) =>
    logic.some((l) => l !== e && e.schemaPath.startsWith(`${l.schemaPath}/`) && e.instancePath === l.instancePath);
  for (const e of errors) {
    if (inBranch(e) && e.keyword !== "additionalProperties") continue;
    const at = fieldPath(e.instancePath);
    switch (e.keyword) {
      case "additionalProperties":
        lines.push(`unknown field "${fieldPath(e.instancePath, String(e.params.additionalProperty))}"`);
        break;
      case "required":
        lines.push(`${fieldPath(e.instancePath, String(e.params.missingProperty))}: required field is missing`);
        break;
      case "type":
        lines.push(`${at}: must be ${e.params.type}`);
        break;
      case "enum":
        lines.push(
          `${at}: must be one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(", ")}`,
        );
        break;
      case "anyOf":
      case "oneOf": {
        const types = errors.filter((b) => b.keyword === "type" && b.schemaPath.startsWith(`${e.schemaPath}/`))
          .map((b) => String(b.params.type));
        lines.push(types.length ? `${at}: must be ${[...new Set(types)].join(" or ")}` : `${at}: ${e.message}`);
        break;
      }
      default:
        lines.push(`${at}: ${e.message}`);
    }
  }
  return [...new Set(lines)];
}

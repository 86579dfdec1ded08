/**
 * Image Factory schematics, computed offline exactly as the factory does: the ID is the hex
 * SHA-256 of the schematic marshalled as YAML by go-yaml (4-space indent, list items indented
 * under their key, struct field order, empty fields left out, lists in their given order).
 *
 * @module
 */

import { isMap, LineCounter, parseDocument, type YAMLMap } from "yaml";
import { InputError } from "../errors.ts";

/** A schematic, with the fields Image Factory knows, in its field order. */
export interface Schematic {
  readonly overlay?: { readonly image: string; readonly name: string; readonly options?: Record<string, unknown> };
  readonly customization: {
    readonly embeddedMachineConfiguration?: string;
    readonly extraKernelArgs?: readonly string[];
    readonly meta?: readonly { readonly key: number; readonly value: string }[];
    readonly systemExtensions?: { readonly officialExtensions?: readonly string[] };
    readonly bootloader?: string;
    readonly secureboot?: { readonly includeWellKnownCertificates?: boolean };
    readonly diskImage?: { readonly sectorSize?: number };
  };
}

/** The fields each level accepts (Image Factory rejects unknown ones). */
const FIELDS: Record<string, readonly string[]> = {
  "": ["overlay", "customization"],
  overlay: ["image", "name", "options"],
  customization: [
    "embeddedMachineConfiguration",
    "extraKernelArgs",
    "meta",
    "systemExtensions",
    "bootloader",
    "secureboot",
    "diskImage",
  ],
  "customization.systemExtensions": ["officialExtensions"],
  "customization.secureboot": ["includeWellKnownCertificates"],
  "customization.diskImage": ["sectorSize"],
  "customization.meta[]": ["key", "value"],
};

function checkFields(node: unknown, path: string, file: string, lines: LineCounter): void {
  if (!isMap(node)) return;
  const allowed = FIELDS[path];
  if (!allowed) return;
  for (const item of (node as YAMLMap).items) {
    const key = String((item.key as { value?: unknown })?.value ?? item.key);
    const at = (item.key as { range?: [number] })?.range?.[0] ?? 0;
    if (!allowed.includes(key)) {
      throw new InputError(`unknown schematic field '${path ? `${path}.` : ""}${key}'`, {
        file,
        line: lines.linePos(at).line,
        hint: `Image Factory accepts here: ${allowed.join(", ")}`,
      });
    }
    const value = item.value as { items?: unknown[] } | null;
    const child = path ? `${path}.${key}` : key;
    if (key === "meta" && value?.items) { for (const m of value.items) checkFields(m, `${child}[]`, file, lines); }
    else checkFields(value, child, file, lines);
  }
}

/** Parses a schematic YAML text; unknown fields are an error naming file and line. */
export function parseSchematic(text: string, file: string): Schematic {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  if (doc.errors.length) {
    const e = doc.errors[0];
    throw new InputError(e.message.split("\n")[0], { file, line: e.linePos?.[0]?.line });
  }
  checkFields(doc.contents, "", file, lines);
  const value = (doc.toJS() ?? {}) as Partial<Schematic>;
  return { ...value, customization: value.customization ?? {} } as Schematic;
}

function scalar(value: unknown): string {
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  const s = String(value);
  // go-yaml writes plain strings unless they would read back as something else.
  const plain = /^[A-Za-z0-9_./=@+-][A-Za-z0-9_./=@+:, -]*$/.test(s) && !/[: ]$/.test(s) && !/: /.test(s) &&
    !/^(true|false|yes|no|on|off|y|n|null|~|[-+]?(\d[\d_]*)?\.?\d*([eE][-+]?\d+)?|0x[0-9a-fA-F]+|0o?[0-7]+)$/i.test(s);
  return plain ? s : JSON.stringify(s);
}

function isEmpty(value: unknown): boolean {
  if (value === undefined || value === null || value === "" || value === 0 || value === false) return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === "object") return Object.values(value as object).every(isEmpty);
  return false;
}

function emit(value: unknown, indent: number, out: string[], prefix: string): void {
  const pad = " ".repeat(indent);
  if (Array.isArray(value)) {
    for (const item of value) {
      if (item && typeof item === "object") {
        const lines: string[] = [];
        emitMap(item as Record<string, unknown>, Object.keys(item), indent + 2, lines);
        out.push(`${pad}- ${lines[0].trimStart()}`, ...lines.slice(1));
      } else out.push(`${pad}- ${scalar(item)}`);
    }
    return;
  }
  out.push(`${prefix}${scalar(value)}`);
}

function emitMap(map: Record<string, unknown>, order: readonly string[], indent: number, out: string[]): void {
  const pad = " ".repeat(indent);
  for (const key of order) {
    const value = map[key];
    if (isEmpty(value)) continue;
    if (Array.isArray(value)) {
      out.push(`${pad}${key}:`);
      emit(value, indent + 4, out, "");
    } else if (value && typeof value === "object") {
      out.push(`${pad}${key}:`);
      const keys = ORDER[key] ?? Object.keys(value).sort();
      emitMap(value as Record<string, unknown>, keys, indent + 4, out);
    } else {
      out.push(`${pad}${key}: ${scalar(value)}`);
    }
  }
}

const ORDER: Record<string, readonly string[]> = {
  overlay: FIELDS.overlay,
  customization: FIELDS.customization,
  systemExtensions: FIELDS["customization.systemExtensions"],
  secureboot: FIELDS["customization.secureboot"],
  diskImage: FIELDS["customization.diskImage"],
};

/** The YAML Image Factory hashes. */
export function canonicalYaml(schematic: Schematic): string {
  const out: string[] = [];
  if (schematic.overlay && !isEmpty(schematic.overlay)) {
    const o = schematic.overlay;
    out.push("overlay:", `    image: ${scalar(o.image ?? "")}`, `    name: ${scalar(o.name ?? "")}`);
    if (o.options && Object.keys(o.options).length) {
      out.push("    options:");
      emitMap(o.options as Record<string, unknown>, Object.keys(o.options).sort(), 8, out);
    }
  }
  const body: string[] = [];
  emitMap(schematic.customization as Record<string, unknown>, FIELDS.customization, 4, body);
  out.push(body.length ? "customization:" : "customization: {}", ...body);
  return out.join("\n") + "\n";
}

/** The schematic ID: hex SHA-256 of {@link canonicalYaml}. */
export async function schematicId(schematic: Schematic): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(canonicalYaml(schematic)));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Where Image Factory serves things. */
const FACTORY = "factory.talos.dev";

/** The installer image for a schematic (`metal-installer-secureboot/<id>:<version>` for Secure Boot). */
export function installerImage(id: string, talosVersion: string, secureboot: boolean): string {
  return `${FACTORY}/metal-installer${secureboot ? "-secureboot" : ""}/${id}:${talosVersion}`;
}

/** The ISO to boot a new node (amd64, like the three HP ProDesks) from. */
export function isoUrl(id: string, talosVersion: string, secureboot: boolean): string {
  return `https://${FACTORY}/image/${id}/${talosVersion}/metal-amd64${secureboot ? "-secureboot" : ""}.iso`;
}

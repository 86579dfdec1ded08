/**
 * KSOPS while rendering. The real ksops runs only inside Argo CD; here the generator is served
 * by a stand-in exec plugin named `ksops` on the build's PATH. Before kustomize runs, the render
 * decrypts each generator's files through sops (plaintext arrives on a pipe, into memory) and
 * writes, for the stand-in to print, the same Secrets with every `data`/`stringData` value
 * replaced by a short stable digest of its decrypted value (an HMAC keyed by a random salt kept
 * in the cache, so a digest in a pull-request comment cannot be checked against guesses). When
 * no key of ours is among a file's recipients, every value is a placeholder; a file that does
 * not decrypt for any other reason (changed after it was encrypted, not encrypted at all) fails
 * the app with the diagnosis `secrets decrypt` gives for it ({@link requireKeyFor}, then
 * {@link decryptError}). Plaintext never reaches the disk:
 * `--show-secrets` puts the values back into the rendered objects in memory.
 *
 * @module
 */

import { join } from "node:path";
import { parseAllDocuments, stringify } from "yaml";
import type { Runner } from "../cmd.ts";
import { CommandError, secret } from "../cmd.ts";
import type { Config } from "../config.ts";
import type { RepoContext } from "../context.ts";
import { decryptError, KeyPathError, requireKeyFor } from "../secrets/files.ts";
import { parseKeys } from "../secrets/keys.ts";
import { Sops } from "../secrets/sops.ts";
import { sha256 } from "../digest.ts";
import type { KubeObject, SecretMode } from "./model.ts";
import type { KsopsGenerator } from "./source.ts";
import { writeAtomic } from "../files.ts";

/** The annotation, on the build copy's generator, naming the file the stand-in prints. */
export const OUTPUT_ANNOTATION = "render.homelab/ksops-output";

/** The value every secret value becomes when no key opens its file. */
export const PLACEHOLDER = "<no key: not decrypted>";

/**
 * The stand-in plugin: it finds the output file named on its generator (kustomize hands the
 * generator to the plugin on standard input, as KRM) and prints it; an output ending in `.error`
 * (the rehearsal's secrets the cluster's key cannot open) it prints as an error and fails.
 */
export const STAND_IN = `#!/bin/sh
# ksops stand-in for \`deno task render\`: prints the redacted Secrets the render prepared.
set -eu
out=$(sed -n 's/^[[:space:]]*${
  OUTPUT_ANNOTATION.replace("/", "\\/").replace(".", "\\.")
}:[[:space:]]*"\\{0,1\\}\\([^"]*\\)"\\{0,1\\}[[:space:]]*$/\\1/p' | head -n 1)
if [ -z "$out" ] || [ ! -f "$out" ]; then
  echo "ksops (render stand-in): this generator was not prepared by the render" >&2
  exit 1
fi
# An output named *.error is a failure to report, as ksops fails on a file its key cannot open.
case "$out" in
  *.error) cat "$out" >&2; exit 1 ;;
esac
exec cat "$out"
`;

/** Writes the stand-in as `<dir>/ksops`. */
export async function writeStandIn(dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const path = join(dir, "ksops");
  await Deno.writeTextFile(path, STAND_IN);
  await Deno.chmod(path, 0o755);
}

/** The salt of the secret digests: random, made once per cache, readable by the user only. */
export async function digestSalt(cacheDir: string): Promise<Uint8Array> {
  const file = join(cacheDir, "render", "secret-salt");
  try {
    const hex = (await Deno.readTextFile(file)).trim();
    if (/^[0-9a-f]{64}$/.test(hex)) return Uint8Array.from(hex.match(/../g)!.map((h) => parseInt(h, 16)));
  } catch {
    // made below
  }
  await Deno.mkdir(join(cacheDir, "render"), { recursive: true });
  const salt = crypto.getRandomValues(new Uint8Array(32));
  const hex = [...salt].map((b) => b.toString(16).padStart(2, "0")).join("");
  await writeAtomic(file, hex + "\n", { mode: 0o600 });
  return salt;
}

/** Makes digests of secret values: `sha256:` and 16 hex digits of an HMAC. */
export class Digester {
  readonly #key: Promise<CryptoKey>;
  constructor(salt: Uint8Array) {
    this.#key = crypto.subtle.importKey(
      "raw",
      salt as Uint8Array<ArrayBuffer>,
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
  }

  async digest(value: string): Promise<string> {
    const mac = await crypto.subtle.sign("HMAC", await this.#key, new TextEncoder().encode(value));
    return `sha256:${[...new Uint8Array(mac)].slice(0, 8).map((b) => b.toString(16).padStart(2, "0")).join("")}`;
  }
}

/** Where sops (3.10 and later) also finds identities: commands that print keys, and SSH private keys. */
const KEY_COMMANDS = ["SOPS_AGE_KEY_CMD", "SOPS_AGE_SSH_PRIVATE_KEY_CMD"];

/**
 * A fingerprint of the age keys sops would use here (hashed; never the keys): part of the
 * render cache key, so a render made without a key is not reused once one is there. Every
 * place sops takes identities from counts: SOPS_AGE_KEY, SOPS_AGE_KEY_FILE and the default key
 * file by their keys, SSH private keys (SOPS_AGE_SSH_PRIVATE_KEY_FILE, ~/.ssh/id_ed25519,
 * ~/.ssh/id_rsa) by their content, and key commands by the command (what they print is read
 * only when sops runs).
 */
export async function keyFingerprint(config: Config): Promise<string> {
  const keys: string[] = [];
  for (const file of [config.ageKeyFileEnv, config.defaultAgeKeyFile]) {
    if (!file) continue;
    const text = await Deno.readTextFile(file).catch(() => "");
    keys.push(...parseKeys(text));
  }
  if (config.env.SOPS_AGE_KEY) keys.push(...parseKeys(config.env.SOPS_AGE_KEY));
  for (const name of KEY_COMMANDS) if (config.env[name]) keys.push(`${name}=${config.env[name]}`);
  const sshKeys = [
    config.env.SOPS_AGE_SSH_PRIVATE_KEY_FILE,
    join(config.home, ".ssh", "id_ed25519"),
    join(config.home, ".ssh", "id_rsa"),
  ];
  for (const file of sshKeys) {
    if (!file) continue;
    const bytes = await Deno.readFile(file).catch(() => undefined);
    if (bytes?.length) keys.push(`ssh:${await sha256(bytes)}`);
  }
  return keys.length ? await sha256([...new Set(keys)].sort().join("\n")) : "no-key";
}

function encode(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

function decode(b64: string): string {
  const bin = atob(b64.replace(/\s+/g, ""));
  return new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
}

/** What preparing one app's generators produced. */
export interface Prepared {
  /** `digest` when every file opened, `placeholder` when some did not. */
  readonly mode: Exclude<SecretMode, "shown">;
  /** Files no key opened (repository-relative). */
  readonly locked: readonly string[];
}

/**
 * Replaces each value of `data`/`stringData` by what `map` gives; `base64` says the value is a
 * Secret's `data` (base64 text, passed as it is, so binary values survive).
 */
async function mapValues(
  doc: Record<string, unknown>,
  map: (value: string, base64: boolean) => Promise<string>,
): Promise<void> {
  for (const field of ["data", "stringData"] as const) {
    const values = doc[field];
    if (!values || typeof values !== "object") continue;
    const base64 = field === "data" && doc.kind === "Secret";
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(values as Record<string, unknown>)) out[k] = await map(String(v ?? ""), base64);
    doc[field] = out;
  }
}

/**
 * A SOPS file's documents with its metadata removed and every `data`/`stringData` value the
 * {@link PLACEHOLDER}: a Secret of the same name and keys, for a cluster whose key cannot open
 * the real one (dev without the owner's key). Only the encrypted file is read.
 */
export async function placeholderYaml(encrypted: string): Promise<string> {
  const out: string[] = [];
  for (const d of parseAllDocuments(encrypted)) {
    if (!("toJS" in d)) continue;
    const doc = d.toJS() as Record<string, unknown> | null;
    if (!doc) continue;
    delete doc.sops;
    await mapValues(doc, (_value, base64) => Promise.resolve(base64 ? encode(PLACEHOLDER) : PLACEHOLDER));
    out.push(stringify(doc));
  }
  return out.join("---\n");
}

/**
 * The plaintext of a KSOPS file, or undefined when no key of ours is among its recipients (its
 * values become placeholders). Any other failure is the error `secrets decrypt` reports for the
 * same file: a changed file, one that is not encrypted, invalid YAML.
 */
async function decryptOrLocked(sops: Sops, config: Config, file: string): Promise<string | undefined> {
  try {
    return (await sops.decrypt(file)).reveal();
  } catch (err) {
    if (!(err instanceof CommandError)) throw err;
    const ctx: RepoContext = {
      root: sops.root,
      config,
      runner: sops.runner,
      ageKey: config.env.SOPS_AGE_KEY ? secret(config.env.SOPS_AGE_KEY) : undefined,
      ui: { info: () => {}, warn: () => {}, progress: (_label, fn) => fn() },
    };
    try {
      await requireKeyFor(ctx, file);
    } catch (why) {
      if (why instanceof KeyPathError) return undefined;
      throw why;
    }
    throw decryptError(file, err);
  }
}

/**
 * Decrypts each generator's files and writes the redacted output the stand-in prints to
 * `<outDir>/<n>.yaml`; returns, per generator, the output path (to annotate the build copy's
 * generator with) and the secret mode.
 */
export async function prepareGenerators(
  runner: Runner,
  config: Config,
  repoRoot: string,
  generators: readonly KsopsGenerator[],
  digester: Digester,
  outDir: string,
): Promise<{ outputs: Map<string, string>; prepared: Prepared }> {
  const sops = new Sops(runner, repoRoot);
  const outputs = new Map<string, string>();
  const locked: string[] = [];
  await Deno.mkdir(outDir, { recursive: true });
  for (const [i, g] of generators.entries()) {
    const items: unknown[] = [];
    for (const file of g.files) {
      const plaintext = await decryptOrLocked(sops, config, file);
      if (plaintext === undefined) locked.push(file);
      const text = plaintext ?? await Deno.readTextFile(join(repoRoot, file));
      for (const d of parseAllDocuments(text)) {
        if (!("toJS" in d)) continue;
        const doc = d.toJS() as Record<string, unknown> | null;
        if (!doc) continue;
        delete doc.sops;
        await mapValues(doc, async (v, base64) => {
          const shown = plaintext === undefined ? PLACEHOLDER : await digester.digest(v);
          return base64 ? encode(shown) : shown;
        });
        items.push(doc);
      }
    }
    const out = join(outDir, `ksops-${i}.yaml`);
    await Deno.writeTextFile(
      out,
      stringify({ apiVersion: "config.kubernetes.io/v1", kind: "ResourceList", items }),
    );
    outputs.set(g.file, out);
  }
  return { outputs, prepared: { mode: locked.length ? "placeholder" : "digest", locked } };
}

/**
 * `--show-secrets`: decrypts the generators' files again and puts each value back where its
 * digest stands in `objects` (in memory only).
 */
export async function revealSecrets(
  runner: Runner,
  config: Config,
  repoRoot: string,
  generators: readonly KsopsGenerator[],
  digester: Digester,
  objects: readonly KubeObject[],
): Promise<{ objects: KubeObject[]; revealed: boolean }> {
  const sops = new Sops(runner, repoRoot);
  const plain = new Map<string, string>();
  let all = true;
  for (const file of new Set(generators.flatMap((g) => g.files))) {
    const text = await decryptOrLocked(sops, config, file);
    if (text === undefined) {
      all = false;
      continue;
    }
    for (const d of parseAllDocuments(text)) {
      if (!("toJS" in d)) continue;
      const doc = d.toJS() as Record<string, unknown> | null;
      if (doc) await mapValues(doc, async (v) => (plain.set(await digester.digest(v), v), v));
    }
  }
  const out = structuredClone(objects) as KubeObject[];
  for (const o of out) {
    if (o.kind !== "Secret") continue;
    await mapValues(o as Record<string, unknown>, (v, base64) => {
      let key = v;
      if (base64) {
        try {
          key = decode(v);
        } catch {
          return Promise.resolve(v);
        }
      }
      return Promise.resolve(plain.get(key) ?? v);
    });
  }
  return { objects: out, revealed: all && plain.size > 0 };
}

/**
 * age keys: where sops looks for them, which recipients the keys we hold belong to, and making
 * new ones. Private keys only ever travel as {@link Secret}s through pipes; they are never
 * printed, and only written to the personal key file (0600) that holds them anyway.
 *
 * @module
 */

import { dirname } from "node:path";
import { cmd, type Runner, Secret, secret } from "../cmd.ts";
import type { Config } from "../config.ts";

/** How every age private key starts. */
export const AGE_KEY_PREFIX = "AGE-SECRET-KEY-";
/**
 * A private key's text: the prefix, `1`, and 58 bech32 characters. (Built from parts so that this
 * file does not itself look like it holds a key to a plain text search.)
 */
export const AGE_SECRET_KEY = new RegExp(`${AGE_KEY_PREFIX}1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}`);

/** One place sops reads age keys from, in sops's own order. */
export interface KeySource {
  /** `SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY` or the default path. */
  readonly via: "SOPS_AGE_KEY_FILE" | "SOPS_AGE_KEY" | "default";
  readonly path?: string;
  readonly set: boolean;
  readonly exists: boolean;
  /** The recipients of the keys found there. */
  readonly recipients: readonly string[];
  /** Lines (1-based) that are neither blank, a comment, nor an age private key. */
  readonly garbled: readonly number[];
}

/** A private key we hold. */
export interface Identity {
  readonly recipient: string;
  readonly key: Secret;
  readonly via: KeySource["via"];
  readonly path?: string;
}

/** What a key search found. */
export interface KeySearch {
  readonly sources: readonly KeySource[];
  readonly identities: readonly Identity[];
}

/** The private keys in a key file's text (comments and blank lines skipped). */
export function parseKeys(text: string): string[] {
  return text.split("\n").map((l) => l.trim()).filter((l) => AGE_SECRET_KEY.test(l) && !l.startsWith("#"));
}

/** The recipient of a private key (`age-keygen -y`, the key on standard input). */
export async function recipientOf(runner: Runner, key: Secret): Promise<string> {
  return await runner.output(cmd("age-keygen", ["-y"], { stdin: key, readOnly: true }));
}

/** The file the personal key lives in: `SOPS_AGE_KEY_FILE`, else the default path. */
export function personalKeyFile(config: Config): string {
  return config.ageKeyFileEnv ?? config.defaultAgeKeyFile;
}

/**
 * Reads every age key sops would use. `ageKey` is the value of `SOPS_AGE_KEY` (the task reads
 * the environment; the library never keeps it in its configuration).
 */
export async function findKeys(config: Config, runner: Runner, ageKey?: Secret): Promise<KeySearch> {
  const sources: KeySource[] = [];
  const identities: Identity[] = [];
  const add = async (via: KeySource["via"], path: string | undefined, set: boolean, text: string | undefined) => {
    const keys = text === undefined ? [] : parseKeys(text);
    const garbled = (text ?? "").split("\n").flatMap((l, i) => {
      const t = l.trim();
      return t && !t.startsWith("#") && !(AGE_SECRET_KEY.test(t) && t.length === AGE_KEY_LENGTH) ? [i + 1] : [];
    });
    const recipients: string[] = [];
    for (const k of keys) {
      const key = secret(k);
      const recipient = await recipientOf(runner, key);
      recipients.push(recipient);
      identities.push({ recipient, key, via, path });
    }
    sources.push({ via, path, set, exists: text !== undefined, recipients, garbled });
  };
  const read = (path: string) => Deno.readTextFile(path).catch(() => undefined);

  await add(
    "SOPS_AGE_KEY_FILE",
    config.ageKeyFileEnv,
    config.ageKeyFileEnv !== undefined,
    config.ageKeyFileEnv ? await read(config.ageKeyFileEnv) : undefined,
  );
  await add("SOPS_AGE_KEY", undefined, ageKey !== undefined, ageKey?.reveal());
  // sops reads the default file too when SOPS_AGE_KEY_FILE points elsewhere.
  if (config.ageKeyFileEnv !== config.defaultAgeKeyFile) {
    await add("default", config.defaultAgeKeyFile, true, await read(config.defaultAgeKeyFile));
  }
  return { sources, identities };
}

/** The length of an age private key's text. */
const AGE_KEY_LENGTH = AGE_KEY_PREFIX.length + 1 + 58;

/**
 * What is wrong with the places keys are looked for, even when some key works: sops skips a
 * `SOPS_AGE_KEY_FILE` that is missing or garbled without a word and goes on with the other keys,
 * so the owner would not learn that the file they meant is not used.
 */
export function keyWarnings(search: KeySearch): { where: string; problem: string }[] {
  const out: { where: string; problem: string }[] = [];
  const others = search.identities.length ? "; sops uses the other keys it finds" : "";
  for (const s of search.sources) {
    const where = s.via === "default" ? s.path! : s.path ? `${s.via}=${s.path}` : s.via;
    if (!s.set) continue;
    if (!s.exists) {
      if (s.via === "SOPS_AGE_KEY_FILE") out.push({ where, problem: `does not exist${others}` });
      continue;
    }
    const n = s.garbled.length;
    if (n) {
      const lines = s.via === "SOPS_AGE_KEY" ? "" : `line${n > 1 ? "s" : ""} ${s.garbled.join(", ")} `;
      out.push({
        where,
        problem: `${lines}${n > 1 ? "are" : "is"} not an age private key (${AGE_KEY_PREFIX}1 and 58 more ` +
          `characters), so sops ignores ${n > 1 ? "them" : "it"}${others}`,
      });
    } else if (!s.recipients.length && s.via !== "default") {
      out.push({ where, problem: `holds no age private key${others}` });
    }
  }
  return out;
}

/** {@link keyWarnings} as lines: `WHERE: PROBLEM`. */
export function keyWarningLines(search: KeySearch): string[] {
  return keyWarnings(search).map((w) => `${w.where}: ${w.problem}`);
}

/** Describes where keys were looked for, for error messages. */
export function describeSources(search: KeySearch): string {
  return search.sources.map((s) => {
    const name = s.via === "default" ? s.path : s.path ? `${s.via}=${s.path}` : s.via;
    const state = !s.set
      ? "unset"
      : !s.exists
      ? "does not exist"
      : s.recipients.length
      ? s.recipients.join(", ")
      : "no keys in it";
    return `${name} (${state})`;
  }).join("; ");
}

/** Makes a new key pair in memory: `age-keygen` to standard output, never to disk. */
export async function generateKey(runner: Runner): Promise<{ recipient: string; key: Secret }> {
  const r = await runner.run(cmd("age-keygen", [], { secretOutput: true, readOnly: true }));
  const [key] = parseKeys(r.stdout);
  if (!key) throw new Error("age-keygen printed no key");
  const k = secret(key);
  return { recipient: await recipientOf(runner, k), key: k };
}

/** Creates the personal key file (0600, in a 0700 directory) with `age-keygen -o`. */
export async function createKeyFile(runner: Runner, path: string): Promise<string> {
  await Deno.mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await runner.run(cmd("age-keygen", ["-o", path]));
  await Deno.chmod(path, 0o600);
  const [key] = parseKeys(await Deno.readTextFile(path));
  return await recipientOf(runner, secret(key));
}

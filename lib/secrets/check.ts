/**
 * `deno task secrets check`: nothing secret in plaintext, every encrypted file intact.
 *
 * Without decryption this reads each file once and runs no tool but git, so the whole
 * repository is checked in well under a second; with a key at hand it also decrypts every file it
 * can (sops verifies each file's MAC).
 *
 * @module
 */

import { join } from "node:path";
import { CommandError } from "../cmd.ts";
import { unreadable } from "../errors.ts";
import { listFiles, type SecretsContext, sopsOf, stagedFiles } from "./context.ts";
import { AGE_KEY_PREFIX, AGE_SECRET_KEY, findKeys, keyWarnings } from "./keys.ts";
import { decryptError, NO_RULE_FIX } from "./lifecycle.ts";
import { damagedError, damageOf, parseSopsFile, plaintextSecrets, plaintextValues } from "./sopsfile.ts";
import { ENCRYPTED_FILE, readSopsConfig, ruleFor, type SopsConfig } from "./sopsconfig.ts";
import { PATHS } from "../repo.ts";

/** One problem found in one file. */
export interface Finding {
  readonly file: string;
  readonly line?: number;
  /** `error` fails the check; `warning` (a file no key of yours opens) does not. */
  readonly level: "error" | "warning";
  readonly reason: string;
  readonly fix: string;
}

export interface CheckOptions {
  /** Only these files (relative to the root); default: the whole repository. */
  readonly files?: readonly string[];
  /** Check the staged content of the staged files (the pre-commit hook). */
  readonly staged?: boolean;
  /** Also decrypt every file a key of yours opens. Default true. */
  readonly decrypt?: boolean;
}

const MAX_BYTES = 1 << 20;

function lineOf(text: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** The findings for one file's text; pure, so the pre-commit hook and the full check agree. */
export function checkText(file: string, text: string, sopsConfig: SopsConfig | undefined): Finding[] {
  const findings: Finding[] = [];
  const key = AGE_SECRET_KEY.exec(text);
  if (key) {
    findings.push({
      file,
      line: lineOf(text, key.index),
      level: "error",
      reason: "contains an age private key",
      fix: "remove the key from the file (and from git history if it was ever committed); treat it as " +
        "leaked: make a new key and run `deno task secrets rotate`",
    });
  }
  if (ENCRYPTED_FILE.test(file)) {
    let parsed;
    try {
      parsed = parseSopsFile(text);
    } catch (err) {
      findings.push({
        file,
        level: "error",
        reason: `is not valid YAML/JSON (${(err as Error).message.split("\n")[0]})`,
        fix: "restore it from git, or re-create it with `deno task secrets edit`",
      });
      return findings;
    }
    const damaged = damageOf(text);
    if (damaged) {
      const err = damagedError(file, damaged);
      findings.push({ file, level: "error", reason: err.message.slice(file.length + 2), fix: err.hint! });
      return findings;
    }
    if (!parsed.meta) {
      const covered = !sopsConfig || ruleFor(sopsConfig, file);
      findings.push({
        file,
        level: "error",
        reason: "is named *.sops.* but is not encrypted (no sops metadata)" +
          (covered ? "" : ", and no creation rule of .sops.yaml covers it"),
        fix: covered ? `run \`deno task secrets encrypt ${file}\`` : NO_RULE_FIX,
      });
    } else {
      const plain = plaintextValues(parsed);
      if (plain.length) {
        findings.push({
          file,
          level: "error",
          reason: `has plaintext values where sops encrypts: ${plain.slice(0, 5).join(", ")}${
            plain.length > 5 ? ", …" : ""
          }`,
          fix: `open it with \`deno task secrets edit ${file}\` and save, so sops encrypts them`,
        });
      }
      const rule = sopsConfig ? ruleFor(sopsConfig, file) : undefined;
      if (sopsConfig && !rule) {
        findings.push({
          file,
          level: "error",
          reason: "matches no creation rule in .sops.yaml, so its recipients cannot be kept current",
          fix: NO_RULE_FIX,
        });
      } else if (rule) {
        const want = [...rule.recipients].sort().join(",");
        const have = [...parsed.meta.recipients].sort().join(",");
        if (want !== have) {
          findings.push({
            file,
            level: "warning",
            reason: "is encrypted for other recipients than .sops.yaml names for it",
            fix: "run `deno task secrets rotate` (with a key that opens it; if none of yours does, " +
              "`deno task secrets init --adopt` re-creates it for you)",
          });
        }
      }
    }
  } else if (
    PATHS.stacks.some((s) => file.startsWith(`${s}/`)) && /\.ya?ml$/.test(file)
  ) {
    try {
      for (const s of plaintextSecrets(text)) {
        findings.push({
          file,
          line: s.line,
          level: "error",
          reason: `holds a plaintext Secret '${s.name}' with data/stringData`,
          fix: "move it into a NAME.sops.yaml file and run `deno task secrets encrypt` on it " +
            "(or start over with `deno task secrets new COMPONENT NAME`)",
        });
      }
    } catch {
      // Not YAML we can read: kustomize and the stack checks report that.
    }
  }
  return findings;
}

/** Runs the check; returns every finding (errors and warnings). */
export async function checkSecrets(ctx: SecretsContext, options: CheckOptions = {}): Promise<Finding[]> {
  let sopsConfig: SopsConfig | undefined;
  const findings: Finding[] = [];
  try {
    sopsConfig = await readSopsConfig(ctx.root);
  } catch (err) {
    findings.push({
      file: PATHS.sopsConfig,
      level: "error",
      reason: (err as Error).message,
      fix: "restore it from git",
    });
  }

  let files: readonly string[];
  let read: (f: string) => Promise<string>;
  if (options.staged) {
    ({ files, read } = await stagedFiles(ctx));
  } else {
    files = options.files ?? await listFiles(ctx);
    read = (f) => Deno.readTextFile(join(ctx.root, f));
    for (const file of options.files ?? []) {
      const failed = await Deno.readTextFile(join(ctx.root, file)).then(() => undefined, (err) => err);
      if (failed !== undefined) {
        const reason = unreadable(failed);
        findings.push({
          file,
          level: "error",
          reason,
          fix: reason === "does not exist"
            ? "check the path (relative to the repository root, or to where you ran the task)"
            : "name a file you can read",
        });
      }
    }
  }

  const encrypted: { file: string; recipients: readonly string[] }[] = [];
  await Promise.all(files.map(async (file) => {
    let text: string;
    try {
      const stat = options.staged ? undefined : await Deno.stat(join(ctx.root, file));
      if (stat && (!stat.isFile || stat.size > MAX_BYTES)) return;
      text = await read(file);
    } catch {
      return; // deleted in the work tree, or unreadable: nothing to check
    }
    if (text.includes("\0")) return;
    const found = checkText(file, text, sopsConfig);
    findings.push(...found);
    if (ENCRYPTED_FILE.test(file) && !found.some((f) => f.level === "error")) {
      try {
        const meta = parseSopsFile(text).meta;
        if (meta) encrypted.push({ file, recipients: meta.recipients });
      } catch {
        // reported above
      }
    }
  }));

  if (options.decrypt !== false && encrypted.length && !options.staged) {
    const verified = await verifyDecryption(ctx, encrypted);
    // `rotate` cannot help with a file no key of ours opens: the unverifiable warning's advice replaces it.
    const locked = new Set(verified.filter((f) => f.reason.startsWith("is unverifiable")).map((f) => f.file));
    const rest = findings.filter((f) => !(locked.has(f.file) && f.fix.startsWith("run `deno task secrets rotate`")));
    findings.splice(0, findings.length, ...rest, ...verified);
  }
  return findings.sort((a, b) => a.file.localeCompare(b.file) || (a.line ?? 0) - (b.line ?? 0));
}

async function verifyDecryption(
  ctx: SecretsContext,
  files: { file: string; recipients: readonly string[] }[],
): Promise<Finding[]> {
  const keys = await findKeys(ctx.config, ctx.runner, ctx.ageKey);
  const mine = new Set(keys.identities.map((i) => i.recipient));
  const sops = sopsOf(ctx);
  const findings: Finding[] = keyWarnings(keys).map((w) => ({
    file: w.where,
    level: "warning",
    reason: w.problem,
    fix: `fix it (age-keygen writes lines that start with ${AGE_KEY_PREFIX}), or unset the variable that names it`,
  }));
  for (const { file, recipients } of files) {
    if (!recipients.some((r) => mine.has(r))) {
      findings.push({
        file,
        level: "warning",
        reason: `is unverifiable here: encrypted for ${recipients.join(", ") || "no age recipient"}, ` +
          `and none of your keys (${[...mine].join(", ") || "none found"}) is among them`,
        fix: "if the file is yours, make its key available (SOPS_AGE_KEY_FILE); to take the repository " +
          "over with your own keys, run `deno task secrets init --adopt`",
      });
      continue;
    }
    try {
      await sops.decrypt(file);
    } catch (err) {
      if (!(err instanceof CommandError)) throw err;
      const e = decryptError(file, err);
      findings.push({
        file,
        level: "error",
        reason: e.message.slice(`${file}: `.length),
        fix: e.hint ?? "",
      });
    }
  }
  return findings;
}

/** The findings as lines for people. */
export function formatFindings(findings: readonly Finding[]): string {
  return findings.map((f) => `${f.level}: ${f.file}${f.line ? `:${f.line}` : ""} ${f.reason}\n  fix: ${f.fix}`).join(
    "\n",
  );
}

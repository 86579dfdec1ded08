/**
 * Reading and checking the Talos configuration of the repository: talconfig (our checks, then
 * talhelper's own validation), the schematic and its drift, generating secrets and configs.
 *
 * @module
 */

import { isAbsolute, join } from "node:path";
import { onExit } from "../cleanup.ts";
import { cmd, type Command } from "../cmd.ts";
import { HomelabError, InputError, osErrorAt, unreadable } from "../errors.ts";
import type { RepoContext } from "../context.ts";
import { sopsOf } from "../secrets/context.ts";
import { requireKeyFor } from "../secrets/lifecycle.ts";
import { writeTalosBundle } from "./bundle.ts";
import { canonicalYaml, installerImage, isoUrl, parseSchematic, type Schematic, schematicId } from "./schematic.ts";
import { checkTalconfig, parseEnv, type Problem, problemsError, type Talconfig } from "./talconfig.ts";
import { exists } from "../files.ts";
import { PATHS } from "../repo.ts";

/** The repository and how to run tools: the context every repository task shares. */
export type TalosContext = RepoContext;

/** Reads `file`: relative to the repository root, or an absolute path (a file the user named). */
async function readRepoFile(ctx: TalosContext, file: string, hint: string): Promise<string> {
  try {
    return await Deno.readTextFile(isAbsolute(file) ? file : join(ctx.root, file));
  } catch (err) {
    const reason = unreadable(err);
    if (reason !== "does not exist") {
      throw new InputError(reason, { file, hint: "name a file you can read", cause: err });
    }
    throw new InputError(isAbsolute(file) ? "does not exist" : "is missing", {
      file,
      hint: isAbsolute(file) ? "check the path" : hint,
    });
  }
}

/**
 * talhelper's own validation (system extensions per Talos version, schema), without secrets:
 * a dry-run genconfig against an empty secret file stops at its validation when the config is
 * invalid, and at the empty secret file when it is valid.
 */
async function talhelperProblems(ctx: TalosContext, file: string, env: string): Promise<Problem[]> {
  const r = await ctx.runner.run(
    cmd("talhelper", [
      "genconfig",
      "--dry-run",
      "--offline-mode",
      "-c",
      file,
      "-e",
      env,
      "-s",
      "/dev/null",
      "-o",
      "/nonexistent",
    ], {
      cwd: ctx.root,
      readOnly: true,
      secretOutput: true,
    }),
    { check: false },
  );
  const text = `${r.stdout}\n${r.stderr}`;
  if (/secret file \/dev\/null is empty/.test(text)) return [];
  const problems: Problem[] = [];
  let field = "";
  for (const line of text.split("\n")) {
    const f = /^field: "(.*)"$/.exec(line);
    if (f) field = f[1];
    const m = /^\s+\* (.*)$/.exec(line);
    if (m && !/WARNING/.test(m[1])) {
      problems.push({ message: `${field ? `${field}: ` : ""}${m[1]}`, fix: "see talhelper's message" });
    }
  }
  if (problems.length === 0) {
    throw new HomelabError(`talhelper could not read ${file}: ${text.trim().split("\n").pop()}`);
  }
  // talhelper repeats a group's problem for every node; say it once.
  return [...new Map(problems.map((p) => [p.message.replace(/^nodes\[\d+\]\./, ""), p])).values()];
}

/** Reads and checks talconfig (ours first, then talhelper's); throws one error listing every problem. */
export async function loadTalconfig(ctx: TalosContext, file: string = PATHS.talconfig): Promise<Talconfig> {
  const text = await readRepoFile(ctx, file, "restore it from git");
  const env = parseEnv(
    await readRepoFile(ctx, PATHS.talenv, "it defines LAN_SUBNET and CLUSTER_VIP"),
    PATHS.talenv,
  );
  const { config, problems } = checkTalconfig(text, env);
  if (problems.length) throw problemsError(file, problems);
  const more = await talhelperProblems(ctx, file, PATHS.talenv);
  if (more.length) throw problemsError(file, more);
  return config;
}

/** What `talos schematic` reports. */
export interface SchematicReport {
  readonly id: string;
  readonly installer: string;
  readonly iso: string;
  readonly talosVersion: string;
  /** Where talconfig disagrees with schematic.yaml (empty when in step). */
  readonly drift: readonly string[];
}

/** The schematic of `file` (default schematic.yaml), its ID and URLs, and talconfig's drift from it. */
export async function schematicReport(
  ctx: TalosContext,
  file: string = PATHS.schematic,
): Promise<SchematicReport> {
  const schematic = parseSchematic(await readRepoFile(ctx, file, "restore it from git"), file);
  const id = await schematicId(schematic);
  const config = await loadTalconfig(ctx);
  const wanted = canonicalYaml(schematic);
  const drift: string[] = [];
  for (const node of config.nodes) {
    const theirs = canonicalYaml((node.schematic ?? { customization: {} }) as Schematic);
    if (theirs !== wanted) {
      drift.push(
        `node '${node.hostname}': its schematic differs from ${file} (talconfig builds ID ${await schematicId(
          node.schematic ?? { customization: {} },
        )})`,
      );
    }
    if (!node.secureboot) {
      drift.push(
        `node '${node.hostname}': machineSpec.secureboot is not true, so it would not get the Secure Boot installer`,
      );
    }
    if (node.talosImageURL && !node.talosImageURL.endsWith(`/${id}`)) {
      drift.push(
        `node '${node.hostname}': talosImageURL ${node.talosImageURL} is not the installer of schematic ${id}`,
      );
    }
  }
  return {
    id,
    installer: installerImage(id, config.talosVersion, true),
    iso: isoUrl(id, config.talosVersion, true),
    talosVersion: config.talosVersion,
    drift,
  };
}

/** `talos gensecret`: a new Talos secret bundle, encrypted before it touches the repository. */
export async function gensecret(ctx: TalosContext, options: { force?: boolean } = {}): Promise<void> {
  const present = await exists(join(ctx.root, PATHS.talosBundle));
  if (present && !options.force) {
    throw new InputError("exists already", {
      file: PATHS.talosBundle,
      hint: "a new bundle makes new cluster CAs: the running cluster would no longer accept this repository's " +
        "configs. Only with --force, and only before the cluster exists (or after `talos reset`)",
    });
  }
  await writeTalosBundle(ctx);
}

/** The talhelper command that writes the machine configs into `out` (from the secret bundle). */
export function genconfigCmd(root: string, out: string): Command {
  return cmd("talhelper", [
    "genconfig",
    "--offline-mode",
    "-c",
    PATHS.talconfig,
    "-e",
    PATHS.talenv,
    "-s",
    PATHS.talosBundle,
    "-o",
    out,
  ], { cwd: root });
}

/**
 * `talos genconfig`: talhelper genconfig into `talos/clusterconfig/` (0700, files 0600). Refuses
 * without a secret bundle this machine can decrypt: talhelper would quietly make new secrets.
 */
export async function genconfig(ctx: TalosContext): Promise<string[]> {
  await loadTalconfig(ctx);
  const present = await exists(join(ctx.root, PATHS.talosBundle));
  if (!present) {
    throw new InputError("is missing, so talhelper would generate new cluster secrets on every run", {
      file: PATHS.talosBundle,
      hint: "for a new cluster run `deno task talos gensecret`; for a running one restore the file from git",
    });
  }
  await requireKeyFor(ctx, PATHS.talosBundle);
  try {
    await sopsOf(ctx).decrypt(PATHS.talosBundle);
  } catch (err) {
    throw new InputError("does not decrypt (its integrity check failed: changed after encryption?)", {
      file: PATHS.talosBundle,
      hint: "restore it from git (`git checkout -- talos/talsecret.sops.yaml`)",
      cause: err,
    });
  }

  const out = join(ctx.root, PATHS.talosOut);
  const staging = await Deno.makeTempDir({ dir: join(ctx.root, "talos"), prefix: ".clusterconfig-" }).catch((err) => {
    throw osErrorAt(err, join(ctx.root, "talos"), "tmpdir");
  });
  const removeStaging = onExit(() => Deno.remove(staging, { recursive: true }).catch(() => {}));
  try {
    await Deno.chmod(staging, 0o700);
    const r = await ctx.runner.run(genconfigCmd(ctx.root, staging));
    if (/new secrets will be generated/.test(r.stdout + r.stderr)) {
      throw new HomelabError("talhelper did not use the secret bundle; nothing was written");
    }
    const files: string[] = [];
    for await (const e of Deno.readDir(staging)) {
      if (e.isFile && e.name !== ".gitignore") {
        await Deno.chmod(join(staging, e.name), 0o600);
        files.push(e.name);
      }
    }
    await Deno.remove(out, { recursive: true }).catch(() => {});
    await Deno.rename(staging, out);
    return files.sort().map((f) => `${PATHS.talosOut}/${f}`);
  } finally {
    await removeStaging();
  }
}

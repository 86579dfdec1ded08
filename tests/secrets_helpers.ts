/**
 * A scratch repository and owners (each with their own HOME and age key) for the secrets tests,
 * with the real sops, age and talhelper.
 * @module
 */

import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { Runner, type Secret, secret } from "../lib/cmd.ts";
import { type Config, loadConfig } from "../lib/config.ts";
import type { SecretsContext } from "../lib/secrets/context.ts";
import { Toolbox } from "../lib/toolbox.ts";
import { consoleUi } from "../lib/ui.ts";
import { denoDir, git, REPO, SYSTEM_PATH } from "./helpers.ts";

/** Directories holding the real tools the secrets code runs (fails naming a missing tool). */
export async function realToolsPath(tools = ["sops", "age", "age-keygen", "talhelper", "git"]): Promise<string> {
  const toolbox = new Toolbox(loadConfig());
  const dirs = await Promise.all(tools.map(async (t) => dirname(await toolbox.resolve(t))));
  return [...new Set(dirs), SYSTEM_PATH].join(":");
}

export { git };

/** A new git repository with the real `.sops.yaml` and a component `system/demo`. */
export async function scratchRepo(dir: string): Promise<string> {
  const root = join(dir, "repo");
  await Deno.mkdir(join(root, "system", "demo"), { recursive: true });
  await Deno.mkdir(join(root, "talos"), { recursive: true });
  await Deno.copyFile(join(REPO, ".sops.yaml"), join(root, ".sops.yaml"));
  await Deno.writeTextFile(
    join(root, "system", "demo", "kustomization.yaml"),
    "# demo component\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: demo\nresources:\n  - namespace.yaml # the namespace\n",
  );
  await Deno.writeTextFile(
    join(root, "system", "demo", "namespace.yaml"),
    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n",
  );
  git(root, "init", "-q");
  git(root, "add", "-A");
  git(root, "commit", "-qm", "scratch");
  return root;
}

/** One person: a HOME of their own, so their default age key path is theirs. */
export interface Owner {
  readonly config: Config;
  readonly ctx: SecretsContext;
  readonly keyFile: string;
}

/** An owner working in `root`, with HOME under `dir/name`. */
export async function owner(
  dir: string,
  name: string,
  root: string,
  extra: Record<string, string> = {},
): Promise<Owner> {
  const home = join(dir, name);
  const path = await realToolsPath();
  const config = loadConfig({ HOME: home, PATH: path, ...extra });
  const toolbox = new Toolbox(loadConfig({ HOME: home, PATH: path, XDG_CACHE_HOME: join(home, ".cache") }));
  const lines: string[] = [];
  const ctx: SecretsContext = {
    root,
    config,
    runner: new Runner({ env: config.env, resolve: toolbox.resolve, defaultTimeout: 60_000 }),
    ui: consoleUi({ write: (t) => lines.push(t) }),
  };
  return { config, ctx, keyFile: config.defaultAgeKeyFile };
}

/** Runs sops with exactly one private key (no key file, no default path). */
export async function sopsWithKey(
  root: string,
  key: Secret,
  ...args: string[]
): Promise<{ ok: boolean; out: string; err: string }> {
  const empty = await Deno.makeTempDir();
  try {
    const out = await new Deno.Command("sops", {
      args,
      cwd: root,
      env: {
        PATH: await realToolsPath(["sops"]),
        HOME: empty,
        SOPS_AGE_KEY: key.reveal(),
        SOPS_DISABLE_VERSION_CHECK: "1",
      },
      clearEnv: true,
    }).output();
    const text = new TextDecoder();
    return { ok: out.success, out: text.decode(out.stdout), err: text.decode(out.stderr) };
  } finally {
    await Deno.remove(empty, { recursive: true });
  }
}

/**
 * `yaml` (a Secret) encrypted with the real sops for `recipient` alone, as the stacks' secrets are
 * (`data`/`stringData` only); `filename` is the name sops records.
 */
export async function encryptedFor(recipient: string, filename: string, yaml: string): Promise<string> {
  const child = new Deno.Command("sops", {
    args: [
      "encrypt",
      "--age",
      recipient,
      "--encrypted-regex",
      "^(data|stringData)$",
      "--filename-override",
      filename,
      "--input-type",
      "yaml",
      "--output-type",
      "yaml",
    ],
    cwd: "/",
    env: { PATH: await realToolsPath(["sops"]), SOPS_DISABLE_VERSION_CHECK: "1" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(yaml));
  await w.close();
  const r = await child.output();
  if (!r.success) throw new Error(new TextDecoder().decode(r.stderr));
  return new TextDecoder().decode(r.stdout);
}

/** The private key in an age key file. */
export async function keyOf(file: string): Promise<Secret> {
  const line = (await Deno.readTextFile(file)).split("\n").find((l) => l.startsWith("AGE-SECRET-KEY-"));
  if (!line) throw new Error(`no key in ${file}`);
  return secret(line.trim());
}

/** A fresh key pair made with the real age-keygen. */
export async function newKey(): Promise<{ key: Secret; recipient: string }> {
  const path = await realToolsPath(["age-keygen"]);
  const gen = new Deno.Command("age-keygen", { env: { PATH: path }, stderr: "null" }).outputSync();
  const text = new TextDecoder().decode(gen.stdout);
  const key = text.split("\n").find((l) => l.startsWith("AGE-SECRET-KEY-"))!.trim();
  const recipient = /public key: (age1\S+)/.exec(text)![1];
  return { key: secret(key), recipient };
}

/** Copies the tooling (lib, tasks, scripts, deno.json and its lock) into a scratch repository, so its tasks run there. */
export async function copyTooling(root: string): Promise<void> {
  for (const entry of ["lib", "tasks", "scripts"]) {
    const out = await new Deno.Command("cp", { args: ["-R", join(REPO, entry), join(root, entry)] }).output();
    assert.ok(out.success);
  }
  for (const file of ["deno.json", "deno.lock", ".deno-version"]) {
    await Deno.copyFile(join(REPO, file), join(root, file));
  }
}

/**
 * A scratch repository with the tooling, initialised by alice, holding system/demo/db.sops.yaml,
 * and `run` for a task of it as a process (alice's HOME, the real tools).
 */
export async function taskRepo(dir: string) {
  const { init, newSecret } = await import("../lib/secrets/lifecycle.ts");
  const root = await scratchRepo(dir);
  await copyTooling(root);
  const alice = await owner(dir, "alice", root);
  await init(alice.ctx);
  await newSecret(alice.ctx, "system/demo", "db");
  git(root, "add", "-A");
  git(root, "commit", "-q", "--no-verify", "-m", "secrets");
  const env = {
    HOME: join(dir, "alice"),
    PATH: `${dirname(Deno.execPath())}:${await realToolsPath()}`,
    DENO_DIR: denoDir(),
    NO_COLOR: "1",
  };
  const run = async (task: string, args: string[], options: { cwd?: string; env?: Record<string, string> } = {}) => {
    const cwd = options.cwd ?? root;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", join(cwd, "tasks", `${task}.ts`), ...args],
      cwd,
      env: { ...env, ...options.env },
      clearEnv: true,
      stdin: "null",
    }).output();
    const text = new TextDecoder();
    return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
  };
  return { root, alice, env, run };
}

/** One paragraph: `error: …` matching `what`, a `hint:` line, no stack trace, exit `code`. */
export function assertParagraph(r: { code: number; stderr: string }, what: RegExp, code = 1): void {
  assert.equal(r.code, code, r.stderr);
  assert.match(r.stderr, /^error: /m, r.stderr);
  assert.match(r.stderr, what, r.stderr);
  assert.match(r.stderr, /^hint: \S/m, r.stderr);
  assert.doesNotMatch(r.stderr, /^\s+at |\.ts:\d+:\d+|Uncaught|PermissionDenied|NotADirectory/m, r.stderr);
}

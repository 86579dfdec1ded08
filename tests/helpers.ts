/**
 * Helpers shared by the tests: temporary directories, fake executables, configurations.
 * @module
 */

import { join } from "node:path";
import { type Config, loadConfig } from "../lib/config.ts";

/** A temporary directory removed when `fn` ends. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "homelab-test-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * A test's deadline for `ms` of work on an idle machine, scaled to what the machine can do now:
 * times (1 + the load average per core), and times `HOMELAB_TEST_PATIENCE` (a factor, 1 when
 * unset) for machines slower than that. A deadline in a test only bounds a hang; what a test
 * asserts never depends on it.
 */
export function patience(ms: number): number {
  const cores = navigator.hardwareConcurrency || 1;
  const factor = Number(Deno.env.get("HOMELAB_TEST_PATIENCE") || "1");
  return Math.round(ms * (1 + Deno.loadavg()[0] / cores) * (factor > 0 ? factor : 1));
}

/**
 * Polls `condition` every 50 ms until it holds; throws naming `what` when it still does not after
 * {@link patience}(`ms`).
 */
export async function eventually(condition: () => boolean | Promise<boolean>, what: string, ms = 10_000) {
  const limit = patience(ms);
  const deadline = Date.now() + limit;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not seen within ${Math.round(limit / 1000)}s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Writes an executable bash script `name` into `dir` and returns its path. */
export async function fakeTool(dir: string, name: string, body: string): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const path = join(dir, name);
  await Deno.writeTextFile(path, `#!/usr/bin/env bash\n${body}\n`);
  await Deno.chmod(path, 0o755);
  return path;
}

/** The directories that hold bash and the basic utilities fake tools use. */
export const SYSTEM_PATH = "/usr/bin:/bin";

/** A configuration with HOME and the XDG directories inside `dir`, and PATH = `path`. */
export function tempConfig(dir: string, path: string, extra: Record<string, string> = {}): Config {
  return loadConfig({
    HOME: join(dir, "home"),
    XDG_CACHE_HOME: join(dir, "cache"),
    XDG_CONFIG_HOME: join(dir, "config"),
    PATH: path,
    ...extra,
  });
}

/** The Deno cache of the running test process, so subprocesses with another HOME reuse it. */
export function denoDir(): string {
  return Deno.env.get("DENO_DIR") ??
    join(Deno.env.get("XDG_CACHE_HOME") || join(Deno.env.get("HOME") ?? "/", ".cache"), "deno");
}

/** The repository root. */
export const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** Runs a task entry file (`tasks/ENTRY.ts`) with exactly `env`; returns its exit code and output. */
export async function runTask(
  name: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(REPO, "tasks", `${name}.ts`), ...args],
    env: { DENO_DIR: denoDir(), NO_COLOR: "1", ...env },
    clearEnv: true,
    cwd: REPO,
  }).output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

/** Runs git in `cwd` as a throw-away author (branch main); its output, or an error with its stderr. */
export function git(cwd: string, ...args: string[]): string {
  const out = new Deno.Command("git", {
    args: ["-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "init.defaultBranch=main", ...args],
    cwd,
  }).outputSync();
  if (!out.success) throw new Error(`git ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout);
}

/**
 * The `render`, `charts` and `diff` tasks on top of the pipeline.
 * @module
 */

import { join, resolve } from "node:path";
import { stringify } from "yaml";
import { onExit, privateTempDir } from "../cleanup.ts";
import { cmd, Runner } from "../cmd.ts";
import type { Config } from "../config.ts";
import { toolRunner } from "../context.ts";
import { HomelabError, UsageError } from "../errors.ts";
import type { Ui } from "../ui.ts";
import { ChartCache } from "../render/charts.ts";
import { diffRenderings, formatMarkdown, formatText } from "../render/diff.ts";
import type { Env, KubeObject, Rendering } from "../render/model.ts";
import { render, type RenderOptions } from "../render/pipeline.ts";
import { writeAtomic } from "../files.ts";

/** Multi-document YAML of objects. */
export function toYaml(objects: readonly KubeObject[]): string {
  return objects.map((o) => `---\n${stringify(o, { lineWidth: 0, aliasDuplicateObjects: false })}`).join("");
}

/** Prints one line per app, warnings for placeholders, and each failed app's paragraph. Returns the failures. */
export function report(rendering: Rendering, ui: Ui, ms?: number): number {
  let failed = 0;
  const cached = rendering.apps.filter((a) => a.cached).length;
  for (const a of rendering.apps) {
    if (a.error) {
      failed++;
      ui.info(`error: ${a.error}\n`);
      continue;
    }
    const notes = [
      `${a.objects.length} objects`,
      a.cached ? "cached" : "built",
      ...(a.secrets === "placeholder" ? ["secrets: placeholders (no key opens them)"] : []),
      ...(a.secrets === "shown" ? ["secrets: shown"] : []),
      ...(a.unstable?.length ? [`${a.unstable.length} unstable between builds`] : []),
    ];
    ui.info(`${a.app.name.padEnd(20)} ${a.app.path.padEnd(28)} ${notes.join(", ")}`);
  }
  if (rendering.apps.some((a) => a.secrets === "placeholder")) {
    ui.warn(
      "no age key opened some SOPS files: their values are placeholders (set SOPS_AGE_KEY_FILE, or run " +
        "`deno task secrets init`)",
    );
  }
  ui.info(
    `render (${rendering.env}): ${rendering.apps.length} apps, ${cached} from the cache, ${failed} failed` +
      (ms === undefined ? "" : ` in ${(ms / 1000).toFixed(2)}s`),
  );
  return failed;
}

/** Writes `<out>/root.yaml` and `<out>/<app>.yaml`. */
async function writeRendering(rendering: Rendering, out: string): Promise<string[]> {
  await Deno.mkdir(out, { recursive: true });
  const written: string[] = [];
  const write = async (name: string, objects: readonly KubeObject[]) => {
    const file = join(out, `${name}.yaml`);
    await writeAtomic(file, toYaml(objects), { mode: 0o600 });
    written.push(file);
  };
  await write("root", rendering.root);
  for (const a of rendering.apps) if (!a.error) await write(a.app.name, a.objects);
  return written;
}

/** Creates `out` and proves it writable (a file written and removed). */
async function prepareOut(out: string): Promise<void> {
  await Deno.mkdir(out, { recursive: true });
  const probe = join(out, `.render-${crypto.randomUUID().slice(0, 8)}.tmp`);
  await Deno.writeTextFile(probe, "");
  await Deno.remove(probe);
}

/** `deno task render`: returns the exit code. */
export async function renderCommand(
  config: Config,
  options: RenderOptions & { out?: string },
  ui: Ui,
  stdout: (text: string) => void = (t) => Deno.stdout.writeSync(new TextEncoder().encode(t)),
): Promise<number> {
  // A folder that cannot be written fails now, not after the whole render.
  if (options.out) await prepareOut(resolve(options.out));
  const start = performance.now();
  const rendering = await render(config, options, ui);
  const failed = report(rendering, ui, performance.now() - start);
  if (options.out) {
    const files = await writeRendering(rendering, resolve(options.out));
    ui.info(`wrote ${files.length} files to ${options.out}`);
  } else if (options.apps?.length) {
    stdout(rendering.apps.filter((a) => !a.error).map((a) => toYaml(a.objects)).join(""));
  }
  return failed ? 1 : 0;
}

function runnerOf(config: Config, ui: Ui): Runner {
  return toolRunner(config, ui);
}

/** `deno task charts import DIR`: every `.tgz` in DIR (or the file itself) into the chart cache. */
export async function chartsImportCommand(
  config: Config,
  path: string,
  ui: Ui,
  options: { url?: string } = {},
): Promise<number> {
  const info = await Deno.stat(path).catch(() => undefined);
  if (options.url) {
    if (!info?.isFile) throw new UsageError(`${path} is not a file`, "give the manifest the URL serves");
    const cache = new ChartCache(join(config.cacheDir, "charts"), runnerOf(config, ui), {
      scratch: () => privateTempDir("homelab-charts-"),
    });
    const { digest } = await cache.importRemote(options.url, path);
    ui.info(`imported ${path} as ${options.url} (sha256:${digest.slice(0, 12)}): render uses it for that URL`);
    return 0;
  }
  if (!info) throw new UsageError(`${path} does not exist`, "give a folder of packaged charts (.tgz) or one .tgz");
  const files: string[] = [];
  if (info.isDirectory) {
    for await (const e of Deno.readDir(path)) if (e.isFile && e.name.endsWith(".tgz")) files.push(join(path, e.name));
  } else files.push(path);
  if (!files.length) {
    throw new UsageError(
      `${path} holds no .tgz files`,
      "package charts with `helm package` or fetch them with `helm pull`",
    );
  }
  const cache = new ChartCache(join(config.cacheDir, "charts"), runnerOf(config, ui), {
    scratch: () => privateTempDir("homelab-charts-"),
  });
  for (const f of files.sort()) {
    const c = await cache.import(f);
    ui.info(`imported ${c.name} ${c.version} (sha256:${c.digest.slice(0, 12)}) from ${f}`);
  }
  ui.info(
    `${files.length} chart${files.length === 1 ? "" : "s"} in ${cache.dir}: a kustomization's chart with the same ` +
      "name and version uses it unless a chart pulled from its own repo is cached",
  );
  return 0;
}

/** The options of `deno task diff`. */
export interface DiffOptions {
  /** The git ref to compare the working tree with; the merge base with main by default. */
  readonly ref?: string;
  readonly env: Env;
  readonly format: "text" | "markdown";
  readonly limitBytes?: number;
  readonly offline?: boolean;
}

/** The merge base of HEAD and main (origin/main when there is no local main). */
async function mergeBase(runner: Runner, repoRoot: string): Promise<string> {
  for (const main of ["main", "origin/main"]) {
    const r = await runner.run(cmd("git", ["merge-base", "HEAD", main], { cwd: repoRoot, readOnly: true }), {
      check: false,
    });
    if (r.code === 0) return r.stdout.trim();
  }
  throw new UsageError("found no merge base with main", "name the ref to compare with: `deno task diff REF`");
}

/**
 * The exit code of a diff that is incomplete: some app failed to build on a side and is listed
 * as not compared (1 and 2 stay what they are for every task: an error, a usage error).
 */
export const DIFF_INCOMPLETE = 3;

/**
 * Renders `ref` from a temporary git worktree (removed afterwards, also on Ctrl-C) and the
 * working tree, and prints their difference. Returns the exit code: 0 when every app was
 * compared (whether or not anything differs), {@link DIFF_INCOMPLETE} when some was not.
 */
export async function diffCommand(
  config: Config,
  options: DiffOptions,
  ui: Ui,
  stdout: (text: string) => void = (t) => Deno.stdout.writeSync(new TextEncoder().encode(t)),
): Promise<number> {
  const runner = runnerOf(config, ui);
  const repo = config.repoRoot;
  const ref = options.ref ?? await mergeBase(runner, repo);
  const verify = await runner.run(
    cmd("git", ["rev-parse", "--verify", "--quiet", `${ref}^{commit}`], { cwd: repo, readOnly: true }),
    { check: false },
  );
  if (verify.code !== 0) throw new UsageError(`'${ref}' is not a commit in ${repo}`, "give a branch, tag or commit");
  const commit = verify.stdout.trim();

  const parent = Deno.makeTempDirSync({ prefix: "homelab-diff-" }); // registered below, before any await
  const tree = join(parent, "tree");
  const remove = async () => {
    await runner.run(cmd("git", ["worktree", "remove", "--force", tree], { cwd: repo, readOnly: true }), {
      check: false,
    });
    await Deno.remove(parent, { recursive: true }).catch(() => {});
    await runner.run(cmd("git", ["worktree", "prune"], { cwd: repo, readOnly: true }), { check: false });
  };
  const cleanup = onExit(remove);
  let base: Rendering;
  try {
    await runner.run(cmd("git", ["worktree", "add", "--detach", tree, commit], { cwd: repo, readOnly: true }));
    base = await render({ ...config, repoRoot: tree }, { env: options.env, offline: options.offline }, ui);
  } catch (err) {
    if (err instanceof HomelabError) {
      throw new HomelabError(`rendering ${ref} failed: ${err.message}`, { hint: err.hint });
    }
    throw err;
  } finally {
    await cleanup();
  }
  const head = await render(config, { env: options.env, offline: options.offline }, ui);
  const d = diffRenderings(base, head);
  stdout(
    options.format === "markdown"
      ? formatMarkdown(d, options.limitBytes, `Rendered diff against ${ref.length === 40 ? ref.slice(0, 12) : ref}`)
      : formatText(d, options.limitBytes),
  );
  return d.complete ? 0 : DIFF_INCOMPLETE;
}

/**
 * `charts crds`: the sha256s of the run-time CRD files (`schemas/runtime-crds.yaml`) at each
 * source's version, written into that file with `digestsFor`. What a pull request that moved
 * the version (Renovate, with the chart) runs before it can pass `check`.
 */
export async function chartsCrdsCommand(config: Config, ui: Ui): Promise<number> {
  const { refreshRuntimeCrdDigests, RUNTIME_CRDS_FILE } = await import("../check/runtimecrds.ts");
  const cache = new ChartCache(join(config.cacheDir, "charts"), runnerOf(config, ui), {
    scratch: () => privateTempDir("homelab-charts-"),
  });
  const done = await refreshRuntimeCrdDigests(config.repoRoot, cache);
  for (const r of done) {
    const moved = r.from === r.version ? `at ${r.version}` : `${r.from} → ${r.version}`;
    ui.info(
      `${r.name} ${moved}: ${r.files} files, ${r.changed ? `${r.changed} sha256s changed` : "no sha256 changed"}`,
    );
  }
  const changed = done.some((r) => r.changed || r.from !== r.version);
  ui.info(
    changed
      ? `${RUNTIME_CRDS_FILE} updated: review \`git diff ${RUNTIME_CRDS_FILE}\` (a changed sha256 is a changed ` +
        "schema) and commit it"
      : `${RUNTIME_CRDS_FILE} is current`,
  );
  return 0;
}

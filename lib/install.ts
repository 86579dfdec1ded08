/**
 * Building the pinned tools with Go into the user cache (`deno task tools`).
 *
 * Each tool is built in a staging directory beside its final place, its version checked, and
 * only then moved to `<toolsDir>/<tool>/<version>/` and linked from `<toolsDir>/bin/`. An
 * interrupted build leaves nothing behind that looks installed.
 *
 * @module
 */

import { dirname, join, relative } from "node:path";
import { onExit } from "./cleanup.ts";
import { cmd, type Command, type Runner } from "./cmd.ts";
import type { Config } from "./config.ts";
import { HomelabError } from "./errors.ts";
import { cacheBinDir, cacheDirOf, type Probe, type Toolbox } from "./toolbox.ts";
import { binariesOf, GO, type ModuleBuild, type RepoModuleBuild, type ToolSpec } from "./tools.ts";
import { duration, type Ui } from "./ui.ts";
import { writeAtomic } from "./files.ts";

/** What `deno task tools` decided for one tool. */
export type Plan =
  | { readonly spec: ToolSpec; readonly action: "present"; readonly probes: readonly Probe[] }
  | { readonly spec: ToolSpec; readonly action: "build"; readonly probes: readonly Probe[] }
  | { readonly spec: ToolSpec; readonly action: "unavailable"; readonly probes: readonly Probe[] };

/** Decides, per tool, whether it is there already, must be built, or cannot be built here. */
export async function planTools(toolbox: Toolbox, specs: readonly ToolSpec[], force = false): Promise<Plan[]> {
  return await Promise.all(specs.map(async (spec): Promise<Plan> => {
    const probes = await Promise.all(binariesOf(spec).map((b) => toolbox.probe(spec, b)));
    const ok = probes.every((p) => p.status === "ok");
    if (ok && !force) return { spec, action: "present", probes };
    if (spec.build.kind === "unavailable") return { spec, action: "unavailable", probes };
    return { spec, action: "build", probes };
  }));
}

function goEnvOf(build: ModuleBuild | RepoModuleBuild, env: Record<string, string>): Record<string, string> {
  return {
    CGO_ENABLED: "0",
    GOWORK: "off",
    // A module that needs a newer Go than the one installed fetches it through the module proxy.
    GOTOOLCHAIN: "auto",
    // A committed module's go.sum is the pin: never let the build change it.
    GOFLAGS: [env.GOFLAGS, build.kind === "repo-module" ? "-mod=readonly" : "-mod=mod"].filter(Boolean).join(" "),
  };
}

const MODULE_REF = /\{minor:([^}]+)\}/g;

/** The modules whose selected version a build's flags name (`{minor:MODULE}`). */
export function moduleRefs(spec: ToolSpec): string[] {
  const build = spec.build;
  if (build.kind === "unavailable") return [];
  return [...new Set((build.ldflags ?? []).flatMap((f) => [...f.matchAll(MODULE_REF)].map((m) => m[1])))];
}

/**
 * The Go commands that build one tool into `outDir`, from a scratch directory `work`. `versions`
 * holds the selected version of each module of {@link moduleRefs} (unresolved references stay as
 * they are, as in `--dry-run`).
 */
export function buildCommands(
  spec: ToolSpec,
  work: string,
  outDir: string,
  env: Record<string, string>,
  versions: Readonly<Record<string, string>> = {},
): Command[] {
  const build = spec.build;
  if (build.kind === "unavailable") return [];
  const src = join(work, "src");
  const goEnv = goEnvOf(build, env);
  const ldflags = (build.ldflags ?? []).map((f) =>
    f.replace(MODULE_REF, (ref, module: string) => {
      const minor = /^v\d+\.(\d+)\./.exec(versions[module] ?? "")?.[1];
      return minor ?? ref;
    })
  );
  const flags = [
    "build",
    "-trimpath",
    ...(build.tags?.length ? ["-tags", build.tags.join(",")] : []),
    ...(ldflags.length ? ["-ldflags", ldflags.join(" ")] : []),
  ];
  const options = { cwd: src, env: goEnv, timeout: 45 * 60_000 };
  if (build.kind === "repo-module" && build.packages.length > 1) {
    // One `go build` of several main packages into a directory: they share one compilation.
    return [cmd("go", [...flags, "-o", `${outDir}/`, ...build.packages.map((p) => p.pkg)], options)];
  }
  return build.packages.map((p) => cmd("go", [...flags, "-o", join(outDir, p.binary), p.pkg], options));
}

/** The `go.mod` of the generated module a {@link ModuleBuild} builds in. */
export function wrapperGoMod(spec: ToolSpec, build: ModuleBuild): string {
  const [path, version] = build.module.split("@");
  return `module homelab.invalid/tools/${spec.name}\n\ngo ${GO}\n\nrequire ${path} ${version}\n`;
}

async function prepareModule(
  config: Config,
  spec: ToolSpec,
  build: ModuleBuild | RepoModuleBuild,
  src: string,
): Promise<void> {
  await Deno.mkdir(src, { recursive: true });
  if (build.kind === "module") {
    await Deno.writeTextFile(join(src, "go.mod"), wrapperGoMod(spec, build));
    return;
  }
  // A copy of the whole folder (what its digest covers, see cacheDirOf), so the build never
  // writes into the checkout.
  await copyTree(join(config.repoRoot, build.dir), src);
}

/** Builds one tool into the cache and links its binaries from `<toolsDir>/bin`. */
export async function buildTool(
  config: Config,
  runner: Runner,
  toolbox: Toolbox,
  spec: ToolSpec,
): Promise<void> {
  const build = spec.build;
  if (build.kind === "unavailable") throw new HomelabError(`${spec.name} cannot be built here: ${build.why}`);
  const final = cacheDirOf(config, spec);
  const parent = dirname(final);
  await Deno.mkdir(parent, { recursive: true });
  const work = await Deno.makeTempDir({ dir: parent, prefix: `.build-${spec.version}-` });
  const removeWork = onExit(() => Deno.remove(work, { recursive: true }).catch(() => {}));
  try {
    const src = join(work, "src");
    const out = join(work, "out");
    await prepareModule(config, spec, build, src);
    const versions: Record<string, string> = {};
    for (const module of moduleRefs(spec)) {
      const version = await runner.output(
        cmd("go", ["list", "-m", "-f", "{{.Version}}", module], { cwd: src, env: goEnvOf(build, config.env) }),
      );
      if (!/^v\d+\.\d+\./.test(version)) {
        throw new HomelabError(
          `${spec.name}: its build flags name the version of ${module}, but the module graph gives "${version}"`,
          { hint: `the ${spec.name} release no longer requires ${module}; fix its ldflags in lib/tools.ts` },
        );
      }
      versions[module] = version;
    }
    const commands = buildCommands(spec, work, out, { ...config.env }, versions);
    for (const c of commands) await runner.run(c);
    for (const data of build.kind === "repo-module" ? [build.data ?? []].flat() : []) {
      const dir = await runner.output(
        cmd("go", ["list", "-m", "-f", "{{.Dir}}", data.module], {
          cwd: commands[0].cwd,
          env: commands[0].env,
          readOnly: true,
        }),
      );
      const from = join(dir, data.from);
      if ((await Deno.stat(from)).isDirectory) await copyTree(from, join(out, data.to));
      else {
        await Deno.mkdir(dirname(join(out, data.to)), { recursive: true });
        await Deno.writeFile(join(out, data.to), await Deno.readFile(from), { mode: 0o755 });
      }
    }

    // Check the new build where it is, before anything replaces a working install.
    for (const binary of binariesOf(spec)) {
      const version = await toolbox.versionAt(spec, join(out, binary));
      if (version !== spec.version) {
        throw new HomelabError(
          `${binary} was built but reports version ${version ?? "(none)"} instead of ${spec.version}; ` +
            "the installed one (if any) was left as it was",
          {
            hint: "the build recipe in lib/tools.ts no longer matches this version; fix its ldflags or version pattern",
          },
        );
      }
    }
    await Deno.remove(final, { recursive: true }).catch(() => {});
    await Deno.rename(out, final);
    toolbox.forget();
    for (const binary of binariesOf(spec)) await link(join(final, binary), join(cacheBinDir(config), binary));
  } finally {
    await removeWork();
  }
}

/** Copies a directory tree (from the read-only module cache) as plain, writable files. */
async function copyTree(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.isDirectory) await copyTree(join(from, e.name), join(to, e.name));
    else if (e.isFile) await Deno.writeFile(join(to, e.name), await Deno.readFile(join(from, e.name)));
  }
}

async function link(target: string, linkPath: string): Promise<void> {
  await Deno.mkdir(dirname(linkPath), { recursive: true });
  const tmp = `${linkPath}.${crypto.randomUUID()}.tmp`;
  await Deno.symlink(relative(dirname(linkPath), target), tmp);
  await Deno.rename(tmp, linkPath);
}

/** The outcome of `deno task tools` for one tool. */
export interface Outcome {
  readonly name: string;
  readonly action: Plan["action"];
  readonly ms?: number;
}

/**
 * How long each build took from nothing (empty Go caches, 2 shared cores, one build at a time, in
 * the manifest's order: etcd and psa reuse what kube-apiserver compiled), for the remaining time
 * of a first run; once a tool was built here, its own last time replaces it. A tool not listed
 * counts {@link DEFAULT_BUILD_MS}.
 */
const COLD_BUILD_MS: Readonly<Record<string, number>> = {
  sops: 92_000,
  age: 3_000,
  talhelper: 65_000,
  helm: 156_000,
  kustomize: 36_000,
  jsonnet: 12_000,
  actionlint: 35_000,
  kind: 9_000,
  kubectl: 285_000,
  "kube-apiserver": 729_000,
  etcd: 27_000,
  kwok: 157_000,
  psa: 2_000,
};
const DEFAULT_BUILD_MS = 60_000;

/** How many builds run at once by default (`HOMELAB_TOOLS_JOBS` overrides it). */
export const DEFAULT_JOBS = 2;

/** The number of concurrent builds: `HOMELAB_TOOLS_JOBS` when it is a positive integer, else the default. */
export function buildJobs(env: Readonly<Record<string, string>>): number {
  const n = Number(env.HOMELAB_TOOLS_JOBS);
  return Number.isInteger(n) && n > 0 ? n : DEFAULT_JOBS;
}

/** Where the last build time of each tool is kept: `{ "<tool>": ms }`. */
function buildTimesPath(config: Config): string {
  return join(config.toolsDir, "build-times.json");
}

/** The last recorded build time of each tool (empty when none was recorded or the file is unreadable). */
async function readBuildTimes(config: Config): Promise<Record<string, number>> {
  try {
    const data = JSON.parse(await Deno.readTextFile(buildTimesPath(config)));
    return data && typeof data === "object" ? data : {};
  } catch {
    return {};
  }
}

async function writeBuildTimes(config: Config, times: Record<string, number>): Promise<void> {
  try {
    await writeAtomic(buildTimesPath(config), JSON.stringify(times, null, 1));
  } catch {
    // Only an estimate is lost.
  }
}

/**
 * Builds every tool of `plans` that needs it, `jobs` at a time (Go compiles one build's packages
 * on every core already, but its downloads and the linker run on one: a second build fills those
 * gaps), longest first, with one progress line that gives the tools under way and the time left.
 *
 * The time left is the sum of the expected times of what is not done, each tool's time being its
 * share of the wall clock (a build that ran beside another one is charged half of that while),
 * so the sum predicts the wall time at the same concurrency. Each build's share is recorded as its
 * next expected time.
 */
export async function installTools(
  config: Config,
  runner: Runner,
  toolbox: Toolbox,
  plans: readonly Plan[],
  ui: Ui,
  options: { jobs?: number; now?: () => number } = {},
): Promise<Outcome[]> {
  const now = options.now ?? Date.now;
  const jobs = Math.max(1, options.jobs ?? buildJobs(config.env));
  const todo = plans.filter((p) => p.action === "build").map((p) => p.spec);
  const done = new Map<string, number>();
  if (todo.length) {
    const recorded = await readBuildTimes(config);
    const expected = (name: string) => recorded[name] ?? COLD_BUILD_MS[name] ?? DEFAULT_BUILD_MS;
    const queue = [...todo].sort((a, b) => expected(b.name) - expected(a.name));
    // Each running build's share of the wall clock so far.
    const running = new Map<string, number>();
    let last = now();
    const account = () => {
      const t = now();
      for (const [name, share] of running) running.set(name, share + (t - last) / running.size);
      last = t;
    };
    const left = () => {
      account();
      const queued = queue.reduce((sum, s) => sum + expected(s.name), 0);
      const under = [...running].reduce((sum, [name, share]) => sum + Math.max(0, expected(name) - share), 0);
      return queued + under;
    };
    const status = () => {
      const under = running.size ? ` building ${[...running.keys()].join(", ")};` : "";
      return `[${done.size}/${todo.length}]${under} about ${duration(left())} left`;
    };
    let failure: unknown;
    const worker = async () => {
      while (queue.length && failure === undefined) {
        const spec = queue.shift()!;
        account();
        running.set(spec.name, 0);
        const start = now();
        try {
          await buildTool(config, runner, toolbox, spec);
        } catch (e) {
          failure ??= e;
          ui.info(`  ${spec.name} ${spec.version}: failed after ${duration(now() - start)}`);
          account();
          running.delete(spec.name);
          return;
        }
        account();
        const share = running.get(spec.name) ?? 0;
        running.delete(spec.name);
        done.set(spec.name, now() - start);
        recorded[spec.name] = Math.round(share);
        ui.info(`  [${done.size}/${todo.length}] ${spec.name} ${spec.version}: built in ${duration(now() - start)}`);
      }
    };
    const label = `tools: building ${todo.length} tool${todo.length === 1 ? "" : "s"}, ${jobs} at a time ` +
      `(about ${duration(left())})`;
    try {
      await ui.progress(
        label,
        async () => {
          await Promise.all(Array.from({ length: Math.min(jobs, todo.length) }, worker));
          if (failure !== undefined) throw failure;
        },
        30,
        status,
      );
    } finally {
      await writeBuildTimes(config, recorded);
    }
  }
  return plans.map((p) => ({ name: p.spec.name, action: p.action, ms: done.get(p.spec.name) }));
}

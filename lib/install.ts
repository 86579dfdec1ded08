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
import { binariesOf, type ModuleBuild, type RepoModuleBuild, type ToolSpec } from "./tools.ts";
import type { Ui } from "./ui.ts";

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

/** The Go commands that build one tool into `outDir`, from a scratch directory `work`. */
export function buildCommands(spec: ToolSpec, work: string, outDir: string, env: Record<string, string>): Command[] {
  const build = spec.build;
  if (build.kind === "unavailable") return [];
  const src = join(work, "src");
  const goEnv = {
    CGO_ENABLED: "0",
    GOWORK: "off",
    // A module that needs a newer Go than the one installed fetches it through the module proxy.
    GOTOOLCHAIN: "auto",
    // A committed module's go.sum is the pin: never let the build change it.
    GOFLAGS: [env.GOFLAGS, build.kind === "repo-module" ? "-mod=readonly" : "-mod=mod"].filter(Boolean).join(" "),
  };
  const flags = [
    "build",
    "-trimpath",
    ...(build.tags?.length ? ["-tags", build.tags.join(",")] : []),
    ...(build.ldflags?.length ? ["-ldflags", build.ldflags.join(" ")] : []),
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
  return `module homelab.invalid/tools/${spec.name}\n\ngo 1.26\n\nrequire ${path} ${version}\n`;
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
    if (build.main) await Deno.writeTextFile(join(src, "main.go"), build.main);
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
    const commands = buildCommands(spec, work, out, { ...config.env });
    for (const c of commands) await runner.run(c);
    if (build.kind === "repo-module" && build.data) {
      const dir = await runner.output(
        cmd("go", ["list", "-m", "-f", "{{.Dir}}", build.data.module], {
          cwd: commands[0].cwd,
          env: commands[0].env,
          readOnly: true,
        }),
      );
      await copyTree(join(dir, build.data.from), join(out, build.data.to));
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

/** Builds every tool of `plans` that needs it, one after the other, with progress. */
export async function installTools(
  config: Config,
  runner: Runner,
  toolbox: Toolbox,
  plans: readonly Plan[],
  ui: Ui,
): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  const todo = plans.filter((p) => p.action === "build");
  let n = 0;
  for (const plan of plans) {
    if (plan.action !== "build") {
      outcomes.push({ name: plan.spec.name, action: plan.action });
      continue;
    }
    n++;
    const start = Date.now();
    await ui.progress(
      `[${n}/${todo.length}] building ${plan.spec.name} ${plan.spec.version}`,
      () => buildTool(config, runner, toolbox, plan.spec),
    );
    outcomes.push({ name: plan.spec.name, action: "build", ms: Date.now() - start });
  }
  return outcomes;
}

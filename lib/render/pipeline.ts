/**
 * The render pipeline shared by render, check, diff and bootstrap: the root app evaluated as
 * Argo CD does → one {@link AppSpec} per Application → each source built by `kustomize build`
 * (charts from the chart cache, KSOPS through the stand-in, remote manifests cached) → a
 * {@link Rendering}.
 *
 * Builds run in parallel, at most one per core. A render cache keyed by everything that can
 * change an app's output (its files, including those outside its folder it references, chart
 * and remote-manifest digests, the kustomize and Helm pins, the build options, the environment,
 * the age keys at hand, and for charts that read `.Capabilities.APIVersions` the API versions the
 * cluster serves, see apis.ts) makes an unchanged app cost no tool run. On a miss an app whose output
 * can vary (a chart template calls a random, key-generating or clock function; a plugin other
 * than ksops) is built twice and the objects that differ are recorded as `unstable`.
 *
 * ```ts
 * const rendering = await render(config, { env: "prod" }, ui);
 * for (const app of rendering.apps) console.log(app.app.name, app.objects.length, app.error ?? "ok");
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { interruptedWith, onExit } from "../cleanup.ts";
import { Runner } from "../cmd.ts";
import type { Config } from "../config.ts";
import { toolRunner } from "../context.ts";
import { HomelabError, InputError, UsageError } from "../errors.ts";
import { readKubernetesVersion } from "../repo.ts";
import { toolSpec } from "../tools.ts";
import type { Ui } from "../ui.ts";
import { apiVersionSet, builtinKinds, crdKinds, type ServedKind } from "./apis.ts";
import {
  type BuildSettings,
  chartKey,
  chartMayVary,
  chartReadsApiVersions,
  kustomizeBuild,
  prepareCopy,
  unstableObjects,
  type Variation,
} from "./build.ts";
import { type CachedChart, ChartCache } from "./charts.ts";
import { sha256 } from "../digest.ts";
import { Digester, digestSalt, keyFingerprint, prepareGenerators, revealSecrets, writeStandIn } from "./ksops.ts";
import type { AppSpec, Env, KubeObject, RenderedApp, Rendering, SecretMode } from "./model.ts";
import { appSpecs, evaluateRoot } from "./root.ts";
import { readSource, type SourceInfo } from "./source.ts";
import { writeAtomic } from "../files.ts";
import { Pool } from "../pool.ts";

export interface RenderOptions {
  env: Env;
  /** Only these Applications (by name); all when absent. */
  apps?: readonly string[];
  /** Use only the chart cache: a missing chart or remote manifest is an error naming it. */
  offline?: boolean;
  /** Put decrypted secret values into the objects instead of digests. */
  showSecrets?: boolean;
  /**
   * Render every Application even when `apps` names some; the names are still checked (check
   * reports on the named apps but judges them against the others' output).
   */
  every?: boolean;
}

/** What a render set up, for work that follows it ({@link renderWith}): nothing is set up twice. */
export interface RenderTools {
  /** The tool runner the builds used. */
  readonly runner: Runner;
  /** The chart cache, its scratch space alive until the work ends. */
  readonly charts: ChartCache;
  /** The cluster's Kubernetes version, as talos/talconfig.yaml pins it (`vX.Y.Z`). */
  readonly kubeVersion: string;
}

/** Bumped when the cached form of a build changes. */
const CACHE_FORMAT = 1;

/** Where Argo CD's configuration (argocd-cm) lives in the repository. */
export const ARGOCD_VALUES = "system/argocd/values.yaml";

/** `kustomize.buildOptions` from the argo-cd chart's values (`configs.cm`). */
async function readBuildOptions(repoRoot: string): Promise<string[]> {
  let values: { configs?: { cm?: Record<string, unknown> } } | null;
  try {
    values = parseYaml(await Deno.readTextFile(join(repoRoot, ARGOCD_VALUES)));
  } catch (err) {
    throw new InputError(`cannot be read: ${(err as Error).message.split("\n")[0]}`, {
      file: ARGOCD_VALUES,
      hint: "render builds every source with Argo CD's kustomize.buildOptions from this file (configs.cm)",
    });
  }
  const options = values?.configs?.cm?.["kustomize.buildOptions"];
  return typeof options === "string" ? options.split(/\s+/).filter(Boolean) : [];
}

interface CachedBuild {
  readonly objects: KubeObject[];
  readonly secrets: Exclude<SecretMode, "shown">;
  readonly locked: string[];
  readonly unstable: NonNullable<RenderedApp["unstable"]>;
}

async function readCache<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(file)) as T;
  } catch {
    return undefined;
  }
}

async function writeCache(file: string, value: unknown): Promise<void> {
  await writeAtomic(file, JSON.stringify(value));
}

/** sha256 of each file, in order. */
async function fileDigests(repoRoot: string, files: readonly string[]): Promise<string[][]> {
  return await Promise.all(files.map(async (f) => [f, await sha256(await Deno.readFile(join(repoRoot, f)))]));
}

/** Everything in `root/` (the root app and what it imports). */
async function rootFiles(repoRoot: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string) => {
    for await (const e of Deno.readDir(join(repoRoot, rel))) {
      if (e.isDirectory) await walk(`${rel}/${e.name}`);
      else out.push(`${rel}/${e.name}`);
    }
  };
  await walk("root");
  return out.sort();
}

/** How long a render-cache entry nobody used is kept. */
const CACHE_DAYS = 30;

/** Removes render-cache entries unused for {@link CACHE_DAYS} days (looked at once a day). */
export async function pruneCache(dir: string): Promise<void> {
  const stamp = join(dir, ".pruned");
  const last = await Deno.stat(stamp).then((s) => s.mtime?.getTime() ?? 0, () => 0);
  if (Date.now() - last < 86_400_000) return;
  await Deno.writeTextFile(stamp, "");
  const cutoff = Date.now() - CACHE_DAYS * 86_400_000;
  for await (const e of Deno.readDir(dir)) {
    if (!e.isFile || !e.name.endsWith(".json")) continue;
    const st = await Deno.stat(join(dir, e.name)).catch(() => undefined);
    if (st?.mtime && st.mtime.getTime() < cutoff) await Deno.remove(join(dir, e.name)).catch(() => {});
  }
}

/**
 * Removes a scratch directory that builds may still be writing into (the task was interrupted):
 * renamed first, so nothing new appears under its name, then removed, retrying briefly.
 */
async function removeWhileBusy(dir: string): Promise<void> {
  const gone = `${dir}.removing`;
  const target = await Deno.rename(dir, gone).then(() => gone, () => dir);
  for (let i = 0; i < 20; i++) {
    try {
      await Deno.remove(target, { recursive: true });
      return;
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Renders every Application (or those named) of the root app for `options.env`. */
export function render(config: Config, options: RenderOptions, ui: Ui): Promise<Rendering> {
  return renderWith(config, options, ui, (rendering) => Promise.resolve(rendering));
}

/**
 * Renders as {@link render} does, then runs `then` on the rendering with the runner, chart cache
 * and scratch space the render set up (removed when `then` ends).
 */
export async function renderWith<T>(
  config: Config,
  options: RenderOptions,
  ui: Ui,
  then: (rendering: Rendering, tools: RenderTools) => Promise<T>,
): Promise<T> {
  if (interruptedWith() !== undefined) throw new HomelabError("interrupted");
  const repoRoot = config.repoRoot;
  const runner = toolRunner(config, ui, { defaultTimeout: 300_000 });
  const cacheDir = join(config.cacheDir, "render");
  await Deno.mkdir(join(cacheDir, "builds"), { recursive: true });

  // Scratch space for build copies and the stand-in; removed however the render ends.
  let scratch: Promise<string> | undefined;
  let dropScratch: (() => Promise<void>) | undefined;
  const getScratch = () =>
    scratch ??= (async () => {
      if (interruptedWith() !== undefined) throw new HomelabError("interrupted");
      // Created and registered in one step (no await between): an interrupt cannot slip in.
      const dir = Deno.makeTempDirSync({ prefix: "homelab-render-" });
      dropScratch = onExit(() => removeWhileBusy(dir));
      await Deno.chmod(dir, 0o700);
      return dir;
    })();

  try {
    // The root app, cached by its files.
    const jsonnet = toolSpec("jsonnet")?.version;
    const rootKey = await sha256(JSON.stringify({
      v: CACHE_FORMAT,
      env: options.env,
      jsonnet,
      files: await fileDigests(repoRoot, await rootFiles(repoRoot)),
    }));
    const rootCache = join(cacheDir, "builds", `root-${rootKey}.json`);
    let root = await readCache<KubeObject[]>(rootCache);
    if (!root) {
      root = await evaluateRoot(runner, repoRoot, options.env);
      await writeCache(rootCache, root);
    }

    const all = appSpecs(root);
    let specs = all;
    if (options.apps?.length) {
      const known = new Set(specs.map((s) => s.name));
      const unknown = options.apps.filter((a) => !known.has(a));
      if (unknown.length) {
        throw new UsageError(
          `no Application named ${unknown.join(", ")} in the ${options.env} root app`,
          `choose from: ${[...known].join(", ")}`,
        );
      }
      if (!options.every) specs = specs.filter((s) => options.apps!.includes(s.name));
    }

    const kubeVersion = await readKubernetesVersion(repoRoot);
    const settings: BuildSettings = { buildOptions: await readBuildOptions(repoRoot), kubeVersion };
    const charts = new ChartCache(join(config.cacheDir, "charts"), runner, {
      offline: options.offline,
      scratch: getScratch,
    });
    const pool = new Pool(Math.max(1, navigator.hardwareConcurrency || 1));
    const salt = await digestSalt(config.cacheDir);
    const digester = new Digester(salt);
    const keys = await keyFingerprint(config);
    const context: AppContext = {
      config,
      runner,
      charts,
      settings,
      pool,
      digester,
      saltId: await sha256(salt),
      keys,
      env: options.env,
      cacheDir,
      scratch: getScratch,
    };

    const renderOne = async (spec: AppSpec, pass: ApiPass): Promise<Built> => {
      try {
        return await renderApp(context, spec, pass);
      } catch (caught) {
        // A file that vanished or cannot be read while rendering is the app's problem, not a bug.
        const err = caught instanceof Deno.errors.NotFound || caught instanceof Deno.errors.PermissionDenied
          ? new HomelabError(caught.message, { hint: "check the files the app's kustomization names" })
          : caught;
        if (!(err instanceof HomelabError)) throw err;
        const text = err.message.startsWith(`app ${spec.name}`) ? err.message : `app ${spec.name}: ${err.message}`;
        return {
          app: {
            app: spec,
            objects: [],
            error: err.hint ? `${text}\nhint: ${err.hint}` : text,
            secrets: "digest",
            cached: false,
          },
          reads: false,
        };
      }
    };
    const built = new Map<string, Built>();
    const renderMany = async (list: readonly AppSpec[], pass: ApiPass) => {
      const done = await Promise.all(list.map((spec) => renderOne(spec, pass)));
      for (const [i, spec] of list.entries()) built.set(spec.name, done[i]);
    };

    // The API versions charts see (see apis.ts): assume the CRDs of the previous render of this
    // environment, then render again, only the apps that read the set, until the rendering's CRDs
    // are the ones assumed. Apps whose charts do not read it are built once, without it.
    const assumedFile = join(cacheDir, `crds-${options.env}.json`);
    let assumed = await readCache<ServedKind[]>(assumedFile) ?? [];
    const base = lazy(() => baseKinds(context, kubeVersion));
    let pass = apiPass(base, assumed);
    await renderMany(specs, pass);
    if ([...built.values()].some((b) => b.reads)) {
      // The set holds the CRDs of the whole tree, so every app is rendered.
      await renderMany(all.filter((s) => !built.has(s.name)), pass);
      for (let round = 1;; round++) {
        const found = crdKinds([...built.values()].flatMap((b) => b.app.objects));
        if (apiVersionSet(found).join("\n") === apiVersionSet(assumed).join("\n")) break;
        if (round > MAX_ROUNDS) {
          throw new HomelabError(
            `the CRDs in the ${options.env} rendering do not settle: charts that read .Capabilities.APIVersions ` +
              "emit CRDs that change what they read",
            {
              hint: "find the chart that installs a CRD only while some API is absent or present (its crds or " +
                "CRD templates) and make that unconditional in its values",
            },
          );
        }
        assumed = found;
        pass = apiPass(base, assumed);
        await renderMany(all.filter((s) => built.get(s.name)!.reads), pass);
      }
      await writeCache(assumedFile, assumed);
    }

    const apps = await Promise.all(specs.map(async (spec): Promise<RenderedApp> => {
      let app = built.get(spec.name)!.app;
      if (!app.error && options.showSecrets && app.objects.some((o) => o.kind === "Secret")) {
        const info = await readSource(repoRoot, spec.path);
        if (info.ksops.length) {
          const { objects, revealed } = await revealSecrets(
            runner,
            config,
            repoRoot,
            info.ksops,
            digester,
            app.objects,
          );
          app = { ...app, objects, secrets: revealed ? "shown" : app.secrets };
        }
      }
      return app;
    }));
    await pruneCache(join(cacheDir, "builds"));
    return await then({ env: options.env, root, apps }, { runner, charts, kubeVersion });
  } finally {
    await dropScratch?.();
  }
}

/** At most this many renders again while the CRDs settle. */
const MAX_ROUNDS = 3;

/** One app's rendering, and whether its charts read the API versions. */
interface Built {
  readonly app: RenderedApp;
  readonly reads: boolean;
}

/** The API versions of one pass: built once, when an app that reads them asks. */
interface ApiPass {
  readonly apis: () => Promise<{ readonly list: readonly string[]; readonly digest: string }>;
}

function lazy<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => p ??= fn();
}

function apiPass(base: () => Promise<ServedKind[]>, crds: readonly ServedKind[]): ApiPass {
  return {
    apis: lazy(async () => {
      const list = apiVersionSet(await base(), crds);
      return { list, digest: await sha256(list.join("\n")) };
    }),
  };
}

/** The built-in kinds of the cluster's Kubernetes and the run-time CRDs: what the tree does not render. */
async function baseKinds(ctx: AppContext, kubeVersion: string): Promise<ServedKind[]> {
  const { loadRuntimeCrds, readRuntimeCrdSources } = await import("../check/runtimecrds.ts");
  const [builtins, runtime] = await Promise.all([
    builtinKinds(ctx.runner, ctx.config.cacheDir, kubeVersion),
    readRuntimeCrdSources(ctx.config.repoRoot).then((sources) =>
      loadRuntimeCrds(sources, ctx.charts, ctx.config.cacheDir)
    ),
  ]);
  if (runtime.findings.length) {
    throw new HomelabError(
      `its charts read .Capabilities.APIVersions, which holds the run-time CRDs, but ${runtime.findings[0].message}`,
    );
  }
  return [...builtins, ...runtime.crds];
}

interface AppContext {
  readonly config: Config;
  readonly runner: Runner;
  readonly charts: ChartCache;
  readonly settings: BuildSettings;
  readonly pool: Pool;
  readonly digester: Digester;
  readonly saltId: string;
  readonly keys: string;
  readonly env: Env;
  readonly cacheDir: string;
  readonly scratch: () => Promise<string>;
}

/** The render cache key of an app: every input that can change its output. */
async function cacheKey(
  ctx: AppContext,
  info: SourceInfo,
  charts: readonly CachedChart[],
  remotes: ReadonlyMap<string, { digest: string }>,
  apis: string | undefined,
): Promise<string> {
  return await sha256(JSON.stringify({
    v: CACHE_FORMAT,
    env: ctx.env,
    path: info.path,
    files: await fileDigests(ctx.config.repoRoot, info.files),
    charts: charts.map((c) => [c.repo, c.name, c.version, c.digest]),
    remotes: [...remotes].map(([url, r]) => [url, r.digest]),
    tools: { kustomize: toolSpec("kustomize")?.version, helm: toolSpec("helm")?.version },
    settings: ctx.settings,
    apis,
    secrets: info.ksops.length ? { keys: ctx.keys, salt: ctx.saltId } : undefined,
  }));
}

const varying = new Map<string, Promise<Variation>>();

const reading = new Map<string, Promise<boolean>>();

/** Whether a cached chart's templates read the API versions (looked at once per digest). */
function readsApis(chart: CachedChart): Promise<boolean> {
  let p = reading.get(chart.digest);
  if (!p) reading.set(chart.digest, p = chartReadsApiVersions(chart.dir));
  return p;
}

/** Whether a cached chart's templates call a varying function (looked at once per digest). */
function mayVary(chart: CachedChart): Promise<Variation> {
  let p = varying.get(chart.digest);
  if (!p) varying.set(chart.digest, p = chartMayVary(chart.dir));
  return p;
}

async function renderApp(ctx: AppContext, spec: AppSpec, pass: ApiPass): Promise<Built> {
  const repoRoot = ctx.config.repoRoot;
  const info = await readSource(repoRoot, spec.path);

  const charts = await Promise.all(info.charts.map((c) => ctx.charts.get(c)));
  const remotes = new Map<string, { path: string; digest: string }>();
  for (const r of info.remotes) remotes.set(r.url, await ctx.charts.remote(r.url));

  const reads = ctx.settings.buildOptions.includes("--enable-helm") &&
    (await Promise.all(charts.map((c) => readsApis(c)))).some(Boolean);
  const apis = reads ? await pass.apis() : undefined;
  const settings: BuildSettings = { ...ctx.settings, apiVersions: apis?.list };
  const key = await cacheKey(ctx, info, charts, remotes, apis?.digest);
  const file = join(ctx.cacheDir, "builds", `${key}.json`);
  const hit = await readCache<CachedBuild>(file);
  if (hit) {
    const now = new Date();
    await Deno.utime(file, now, now).catch(() => {}); // kept by pruneCache while in use
    return {
      app: { app: spec, objects: hit.objects, secrets: hit.secrets, unstable: hit.unstable, cached: true },
      reads,
    };
  }

  const work = await Deno.makeTempDir({ dir: await ctx.scratch(), prefix: `${spec.name}-` });
  try {
    const bin = join(work, "bin");
    await writeStandIn(bin);
    const { outputs, prepared } = await prepareGenerators(
      ctx.runner,
      ctx.config,
      repoRoot,
      info.ksops,
      ctx.digester,
      join(work, "ksops"),
    );
    const tree = await prepareCopy(
      repoRoot,
      info,
      { charts: new Map(charts.map((c) => [chartKey(c), c])), remotes, ksops: outputs },
      work,
    );
    const env = { PATH: `${bin}:${ctx.config.env.PATH ?? ""}` };
    const build = () => ctx.pool.run(() => kustomizeBuild(ctx.runner, tree, work, spec, settings, env));
    // Two builds from identical inputs: what differs would never be in sync in Argo CD. Only
    // chart templates with varying functions and exec plugins other than ksops can differ.
    const variation = await Promise.all(charts.map((c) => mayVary(c)));
    const twice = info.plugins > 0 || variation.some(Boolean);
    // Values made from the clock (seconds) differ only when the builds run in different seconds:
    // then the second build starts over a second after the first has ended (not merely started,
    // which a slow first build would defeat).
    const clockOnly = !variation.includes("random") && variation.includes("clock");
    const once = build();
    const again = !twice
      ? undefined
      : clockOnly
      ? once.then(() => new Promise<void>((r) => setTimeout(r, 1100))).then(build)
      : build();
    const [a, b] = await Promise.allSettled(again ? [once, again] : [once]);
    if (a.status === "rejected") throw a.reason;
    if (b?.status === "rejected") throw b.reason;
    const first = a.value;
    const unstable = b ? unstableObjects(first, b.value) : [];
    const entry: CachedBuild = { objects: first, secrets: prepared.mode, locked: [...prepared.locked], unstable };
    await writeCache(file, entry);
    return { app: { app: spec, objects: first, secrets: prepared.mode, unstable, cached: false }, reads };
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

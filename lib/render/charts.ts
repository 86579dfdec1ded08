/**
 * The content-addressed chart cache under `<cacheDir>/charts`: packaged charts (`.tgz`) stored by
 * their sha256, a reference per (repo, name, version) naming the digest, and each chart unpacked
 * once where kustomize's Helm generator finds it (`<chartHome>/<name>-<version>/<name>`), so
 * kustomize never downloads anything. Remote manifests (a URL in a kustomization's `resources:`)
 * go through the same blob store.
 *
 * ```
 * charts/blobs/<sha256>.tgz            a packaged chart or a remote manifest, named by its digest
 * charts/refs/<sha256 of repo|name|version>.json   {repo, name, version, digest}
 * charts/imported/<name>-<version>.json            {name, version, digest} for `charts import`
 * charts/urls/<sha256 of url>.json                 {url, digest}
 * charts/unpacked/<sha256>/<name>/Chart.yaml       the chart, unpacked once
 * ```
 *
 * Imported charts come without a repository: a kustomization's chart (repo, name, version)
 * uses a pulled chart for exactly that repo when there is one, and otherwise an imported chart
 * with the same name and version, whatever repository the kustomization names.
 *
 * @module
 */

import { basename, join } from "node:path";
import { parse as parseYaml } from "yaml";
import { cmd, CommandError, type Runner } from "../cmd.ts";
import { HomelabError, UsageError } from "../errors.ts";
import { exists, writeAtomic } from "../files.ts";
import { sha256 } from "../digest.ts";

/** A chart as a kustomization names it. */
export interface ChartRef {
  readonly repo: string;
  readonly name: string;
  readonly version: string;
}

/** A chart found in the cache. */
export interface CachedChart extends ChartRef {
  /** sha256 of the packaged chart, hex. */
  readonly digest: string;
  /** The unpacked chart directory (holds Chart.yaml). */
  readonly dir: string;
  /** Where the digest came from: pulled from `repo`, or imported. */
  readonly via: "pulled" | "imported";
}

/** A chart or remote manifest is missing and `--offline` forbids fetching it. */
class MissingInCacheError extends HomelabError {}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as T;
  } catch {
    return undefined;
  }
}

/** How to fetch a chart by hand and import it, for messages. */
function fetchHint(ref: ChartRef, offline = true): string {
  const pull = ref.repo.startsWith("oci://")
    ? `helm pull ${ref.repo.replace(/\/$/, "")}/${ref.name} --version ${ref.version} -d DIR`
    : `helm pull ${ref.name} --repo ${ref.repo} --version ${ref.version} -d DIR`;
  const there = `on a machine that reaches the repository run \`${pull}\`, then here \`deno task charts import DIR\``;
  return offline ? `run the render once without --offline (it pulls the chart into the cache), or ${there}` : there;
}

/** The chart cache in `dir` (normally `<cacheDir>/charts`). */
export class ChartCache {
  readonly #inflight = new Map<string, Promise<CachedChart>>();
  readonly #unpacking = new Map<string, Promise<string>>();

  constructor(
    readonly dir: string,
    readonly runner: Runner,
    readonly options: { offline?: boolean; scratch: () => Promise<string> },
  ) {}

  #blob(digest: string, ext = ".tgz"): string {
    return join(this.dir, "blobs", `${digest}${ext}`);
  }

  async #refFile(ref: ChartRef): Promise<string> {
    return join(this.dir, "refs", `${await sha256(`${ref.repo}|${ref.name}|${ref.version}`)}.json`);
  }

  #importFile(name: string, version: string): string {
    return join(this.dir, "imported", `${name}-${version}.json`);
  }

  /** The cached chart for `ref` without fetching: a pulled one for its repo, else an imported one. */
  async lookup(ref: ChartRef): Promise<CachedChart | undefined> {
    const pulled = await readJson<{ digest: string }>(await this.#refFile(ref));
    if (pulled && await exists(this.#blob(pulled.digest))) {
      return { ...ref, digest: pulled.digest, dir: await this.#unpack(pulled.digest, ref.name), via: "pulled" };
    }
    const imported = await readJson<{ digest: string }>(this.#importFile(ref.name, ref.version));
    if (imported && await exists(this.#blob(imported.digest))) {
      return { ...ref, digest: imported.digest, dir: await this.#unpack(imported.digest, ref.name), via: "imported" };
    }
    return undefined;
  }

  /** The digest `ref` resolves to without unpacking or fetching (for cache keys), if cached. */
  async digestOf(ref: ChartRef): Promise<string | undefined> {
    const pulled = await readJson<{ digest: string }>(await this.#refFile(ref));
    if (pulled) return pulled.digest;
    return (await readJson<{ digest: string }>(this.#importFile(ref.name, ref.version)))?.digest;
  }

  /** The chart for `ref`: from the cache, or pulled once with helm (unless offline). */
  get(ref: ChartRef): Promise<CachedChart> {
    const key = `${ref.repo}|${ref.name}|${ref.version}`;
    let p = this.#inflight.get(key);
    if (!p) {
      p = this.#get(ref);
      this.#inflight.set(key, p);
      p.catch(() => this.#inflight.delete(key));
    }
    return p;
  }

  async #get(ref: ChartRef): Promise<CachedChart> {
    const found = await this.lookup(ref);
    if (found) return found;
    if (this.options.offline) {
      throw new MissingInCacheError(
        `chart ${ref.name} ${ref.version} from ${ref.repo} is not in the chart cache (${this.dir}) and --offline ` +
          `forbids fetching it`,
        { hint: fetchHint(ref) },
      );
    }
    const digest = await this.#pull(ref);
    return { ...ref, digest, dir: await this.#unpack(digest, ref.name), via: "pulled" };
  }

  /** `helm pull` into scratch space (helm's own config and cache isolated there), then into the store. */
  async #pull(ref: ChartRef): Promise<string> {
    const tmp = await Deno.makeTempDir({ dir: await this.options.scratch(), prefix: "pull-" });
    try {
      await Deno.mkdir(join(tmp, "out"));
      const target = ref.repo.startsWith("oci://")
        ? [
          `${ref.repo.replace(/\/$/, "")}/${ref.name}`,
          // A registry on the loopback interface (a test's, a local mirror) speaks plain HTTP.
          ...(/^oci:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?\//.test(ref.repo) ? ["--plain-http"] : []),
        ]
        : [ref.name, "--repo", ref.repo];
      try {
        await this.runner.run(
          cmd("helm", ["pull", ...target, "--version", ref.version, "--destination", join(tmp, "out")], {
            env: {
              HELM_CONFIG_HOME: join(tmp, "config"),
              HELM_CACHE_HOME: join(tmp, "cache"),
              HELM_DATA_HOME: join(tmp, "data"),
            },
            readOnly: true,
            timeout: 300_000,
          }),
        );
      } catch (err) {
        if (!(err instanceof CommandError)) throw err;
        throw new HomelabError(
          `could not pull chart ${ref.name} ${ref.version} from ${ref.repo}:\n` +
            err.stderrTail.replaceAll(tmp, "<tmp>").split("\n").map((l) => `  | ${l}`).join("\n"),
          { hint: `check the repo, name and version; if the repository is out of reach, ${fetchHint(ref, false)}` },
        );
      }
      const files: string[] = [];
      for await (const e of Deno.readDir(join(tmp, "out"))) if (e.name.endsWith(".tgz")) files.push(e.name);
      if (files.length !== 1) {
        throw new HomelabError(
          `helm pull of ${ref.name} ${ref.version} from ${ref.repo} left ${files.length} .tgz files`,
        );
      }
      const digest = await this.#store(join(tmp, "out", files[0]));
      await Deno.mkdir(join(this.dir, "refs"), { recursive: true });
      await writeAtomic(await this.#refFile(ref), JSON.stringify({ ...ref, digest }) + "\n");
      return digest;
    } finally {
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  }

  /** Copies a file into the blob store; returns its digest. */
  async #store(file: string, ext = ".tgz"): Promise<string> {
    const bytes = await Deno.readFile(file);
    const digest = await sha256(bytes);
    await Deno.mkdir(join(this.dir, "blobs"), { recursive: true });
    if (!await exists(this.#blob(digest, ext))) await writeAtomic(this.#blob(digest, ext), bytes);
    return digest;
  }

  /** The unpacked chart directory of a blob (unpacked once, by `tar`). */
  #unpack(digest: string, name: string): Promise<string> {
    let p = this.#unpacking.get(digest);
    if (!p) {
      p = (async () => {
        const dest = join(this.dir, "unpacked", digest);
        if (!await exists(dest)) {
          await Deno.mkdir(join(this.dir, "unpacked"), { recursive: true });
          const tmp = `${dest}.${crypto.randomUUID().slice(0, 8)}.tmp`;
          await Deno.mkdir(tmp);
          try {
            await this.runner.run(cmd("tar", ["-xzf", this.#blob(digest), "-C", tmp], { readOnly: true }));
            await this.#unpackSubcharts(tmp);
            await Deno.rename(tmp, dest).catch(async (err) => {
              if (!await exists(dest)) throw err; // another process unpacked it first
              await Deno.remove(tmp, { recursive: true });
            });
          } catch (err) {
            await Deno.remove(tmp, { recursive: true }).catch(() => {});
            throw err;
          }
        }
        return dest;
      })();
      this.#unpacking.set(digest, p);
      p.catch(() => this.#unpacking.delete(digest));
    }
    return p.then((dest) => join(dest, name));
  }

  /**
   * Packaged subcharts (`charts/*.tgz`) unpacked beside the chart, in `<dest>/.subcharts/`, so the
   * render can read their templates (helm keeps using the packages).
   */
  async #unpackSubcharts(dest: string): Promise<void> {
    const found: string[] = [];
    const walk = async (d: string) => {
      for await (const e of Deno.readDir(d)) {
        const p = join(d, e.name);
        if (e.isDirectory && e.name !== ".subcharts") await walk(p);
        else if (e.isFile && e.name.endsWith(".tgz") && basename(d) === "charts") found.push(p);
      }
    };
    await walk(dest);
    for (const [i, tgz] of found.entries()) {
      const out = join(dest, ".subcharts", String(i));
      await Deno.mkdir(out, { recursive: true });
      await this.runner.run(cmd("tar", ["-xzf", tgz, "-C", out], { readOnly: true }));
      await this.#unpackSubcharts(out);
    }
  }

  /**
   * `charts import`: stores a packaged chart; its name and version come from the Chart.yaml
   * inside (`helm show chart`).
   */
  async import(file: string): Promise<{ name: string; version: string; digest: string; file: string }> {
    const chart = parseYaml(
      await this.runner.output(cmd("helm", ["show", "chart", file], { readOnly: true })),
    ) as { name?: string; version?: string } | null;
    if (!chart?.name || !chart.version) {
      throw new HomelabError(`${file}: its Chart.yaml has no name or version`, {
        hint: "import charts packaged with `helm package`",
      });
    }
    const digest = await this.#store(file);
    await Deno.mkdir(join(this.dir, "imported"), { recursive: true });
    await writeAtomic(
      this.#importFile(chart.name, chart.version),
      JSON.stringify({ name: chart.name, version: chart.version, digest, from: basename(file) }) + "\n",
    );
    return { name: chart.name, version: chart.version, digest, file };
  }

  /**
   * `charts import --url URL FILE`: stores a manifest that a kustomization references by URL, as
   * if it had been fetched from there (air-gapped machines; manifests built from source).
   */
  async importRemote(url: string, file: string): Promise<{ digest: string }> {
    if (!/^https?:\/\//.test(url)) {
      throw new UsageError(`'${url}' is not an http(s) URL`, "give the URL exactly as the kustomization lists it");
    }
    const bytes = await Deno.readFile(file);
    const digest = await sha256(bytes);
    await Deno.mkdir(join(this.dir, "blobs"), { recursive: true });
    await Deno.mkdir(join(this.dir, "urls"), { recursive: true });
    if (!await exists(this.#blob(digest, ".yaml"))) await writeAtomic(this.#blob(digest, ".yaml"), bytes);
    await writeAtomic(join(this.dir, "urls", `${await sha256(url)}.json`), JSON.stringify({ url, digest }) + "\n");
    return { digest };
  }

  /**
   * A remote manifest by URL: from the cache, or fetched once (unless offline). Returns the
   * path of the cached copy and its digest.
   */
  async remote(url: string): Promise<{ path: string; digest: string }> {
    const refFile = join(this.dir, "urls", `${await sha256(url)}.json`);
    const known = await readJson<{ digest: string }>(refFile);
    if (known && await exists(this.#blob(known.digest, ".yaml"))) {
      return { path: this.#blob(known.digest, ".yaml"), digest: known.digest };
    }
    if (this.options.offline) {
      throw new MissingInCacheError(
        `the remote manifest ${url} is not in the cache (${this.dir}) and --offline forbids fetching it`,
        { hint: "run the render once without --offline; it fetches the manifest into the cache" },
      );
    }
    let bytes: Uint8Array;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(120_000) });
      if (!res.ok) {
        await res.body?.cancel();
        throw new Error(`HTTP ${res.status} ${res.statusText}`);
      }
      bytes = new Uint8Array(await res.arrayBuffer());
    } catch (err) {
      throw new HomelabError(`could not fetch ${url}: ${(err as Error).message}`, {
        hint: "check the URL and the network; once fetched, the manifest is cached and --offline uses it",
      });
    }
    const digest = await sha256(bytes);
    await Deno.mkdir(join(this.dir, "blobs"), { recursive: true });
    await Deno.mkdir(join(this.dir, "urls"), { recursive: true });
    if (!await exists(this.#blob(digest, ".yaml"))) await writeAtomic(this.#blob(digest, ".yaml"), bytes);
    await writeAtomic(refFile, JSON.stringify({ url, digest }) + "\n");
    return { path: this.#blob(digest, ".yaml"), digest };
  }

  /** The digest of a cached remote manifest, without fetching (for cache keys). */
  async remoteDigest(url: string): Promise<string | undefined> {
    return (await readJson<{ digest: string }>(join(this.dir, "urls", `${await sha256(url)}.json`)))?.digest;
  }
}

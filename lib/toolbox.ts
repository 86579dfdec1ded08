/**
 * Finding the pinned tools at run time: first on PATH (version checked), then in the user cache
 * that `deno task tools` fills. A missing or mis-versioned tool is a {@link ToolError} naming the
 * tool, the version wanted and how to get it.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import { cmd, Runner, ToolError } from "./cmd.ts";
import type { Config } from "./config.ts";
import { findOnPath, isExecutable } from "./path.ts";
import { binariesOf, parseVersion, TOOLS, type ToolSpec } from "./tools.ts";
import { writeAtomic } from "./files.ts";

/** Where a binary was found. */
export type Source = "path" | "cache";

/** One binary found for a tool, with the version it reported. */
export interface Candidate {
  readonly path: string;
  readonly source: Source;
  /** Undefined when the binary did not say (or said something we could not read). */
  readonly version?: string;
}

/** `ok`: the pinned version was found; `wrong`: only other versions; `missing`: nothing. */
export type Status = "ok" | "wrong" | "missing";

/** What was found for one binary of a tool. */
export interface Probe {
  readonly tool: string;
  readonly binary: string;
  readonly wanted: string;
  readonly status: Status;
  /** The binary that will be used (when `ok`). */
  readonly chosen?: Candidate;
  /** Everything looked at, in resolution order. */
  readonly candidates: readonly Candidate[];
}

/**
 * The directory `deno task tools` builds a tool's pinned version into: `<tool>/<version>`, and for
 * a module committed to this repository `<tool>/<version>-<digest of its sources>`, so a changed
 * main.go or go.sum at the same version is a build of its own (checkouts with different sources
 * share the cache without overwriting each other's build).
 */
export function cacheDirOf(config: Config, spec: ToolSpec): string {
  const build = spec.build;
  const leaf = build.kind === "repo-module"
    ? `${spec.version}-${sourceDigest(join(config.repoRoot, build.dir))}`
    : spec.version;
  return join(config.toolsDir, spec.name, leaf);
}

/**
 * A digest of every file under `dir` (names and contents, in a fixed order), 16 hex digits. A
 * missing directory digests to a fixed value, so the build (not this) reports it.
 */
export function sourceDigest(dir: string): string {
  const hash = createHash("sha256");
  const walk = (rel: string) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(join(dir, rel))];
    } catch {
      return;
    }
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const path = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory) walk(path);
      else if (e.isFile) {
        const data = Deno.readFileSync(join(dir, path));
        hash.update(`${path}\0${data.length}\0`).update(data);
      }
    }
  };
  walk("");
  return hash.digest("hex").slice(0, 16);
}

/** The directory of links to the current builds, which `.envrc` puts on PATH. */
export function cacheBinDir(config: Config): string {
  return join(config.toolsDir, "bin");
}

const HOW_TO_GET = "run `deno task tools` (builds the pinned tools with Go into the user cache) or enter `nix develop`";

interface VersionMemo {
  [path: string]: { size: number; mtime: number; ino?: number; ctime?: number; version: string | null };
}

/**
 * Resolves tools for a {@link Runner}: `new Runner({ env, resolve: toolbox.resolve })`.
 *
 * Version checks are remembered in `<toolsDir>/versions.json`, keyed by path, size, modification
 * time, inode and change time, so a task that uses a tool pays for its version command once per
 * build. Size and mtime alone are not enough: `cp -p` keeps the mtime, and every file in the Nix
 * store has mtime 1; a replacement in place still changes the ctime, one by rename the inode.
 */
export class Toolbox {
  readonly #config: Config;
  readonly #runner: Runner;
  readonly #probes = new Map<string, Promise<Probe>>();
  #memo?: Promise<VersionMemo>;

  constructor(config: Config) {
    this.#config = config;
    this.#runner = new Runner({ env: config.env, defaultTimeout: 30_000 });
  }

  /** Looks for one binary of a tool (the tool's own by default) and reports what it found. */
  probe(spec: ToolSpec, binary = spec.name): Promise<Probe> {
    const key = `${spec.name}/${binary}`;
    let probe = this.#probes.get(key);
    if (!probe) {
      probe = this.#probe(spec, binary);
      this.#probes.set(key, probe);
    }
    return probe;
  }

  /** Probes every binary of every tool in the manifest. */
  probeAll(specs: readonly ToolSpec[] = TOOLS): Promise<Probe[]> {
    return Promise.all(specs.flatMap((spec) => binariesOf(spec).map((b) => this.probe(spec, b))));
  }

  /** The version the executable at `path` reports for the tool `spec`, or undefined. */
  versionAt(spec: ToolSpec, path: string): Promise<string | undefined> {
    return this.#version(spec, path);
  }

  /** Forgets what was probed (after `deno task tools` built something). */
  forget(): void {
    this.#probes.clear();
    this.#memo = undefined;
  }

  /**
   * The executable to run for `tool`: a manifest tool at its pinned version, or any other
   * program found on PATH. Throws {@link ToolError} otherwise.
   */
  resolve = async (tool: string): Promise<string> => {
    const spec = TOOLS.find((t) => binariesOf(t).includes(tool));
    if (!spec) {
      const found = await findOnPath(tool, this.#config.env.PATH ?? "");
      if (!found) throw new ToolError(tool, `${tool} was not found on PATH`, `install ${tool} and try again`);
      return found;
    }
    const probe = await this.probe(spec, tool);
    if (probe.chosen) return probe.chosen.path;
    throw this.errorFor(spec, probe);
  };

  /** The error that explains a probe that found no usable binary. */
  errorFor(spec: ToolSpec, probe: Probe): ToolError {
    const wanted = `${probe.binary} ${spec.version}`;
    const how = spec.build.kind === "unavailable"
      ? `\`deno task tools\` cannot build it here (${spec.build.why})`
      : HOW_TO_GET;
    if (probe.status === "wrong") {
      const seen = probe.candidates
        .map((c) => `${c.version ?? "an unreadable version"} at ${c.path}`)
        .join(", ");
      return new ToolError(
        spec.name,
        `${probe.binary} has the wrong version: found ${seen}, but this repository pins ${spec.version}`,
        how,
      );
    }
    return new ToolError(
      spec.name,
      `${wanted} is missing: not on PATH and not in ${cacheDirOf(this.#config, spec)}`,
      how,
    );
  }

  async #probe(spec: ToolSpec, binary: string): Promise<Probe> {
    const candidates: Candidate[] = [];
    const onPath = await findOnPath(binary, this.#config.env.PATH ?? "");
    if (onPath) candidates.push({ path: onPath, source: "path", version: await this.#version(spec, onPath) });
    const cached = join(cacheDirOf(this.#config, spec), binary);
    if (cached !== onPath && await isExecutable(cached)) {
      candidates.push({ path: cached, source: "cache", version: await this.#version(spec, cached) });
    }
    const chosen = candidates.find((c) => c.version === spec.version);
    const status: Status = chosen ? "ok" : candidates.length ? "wrong" : "missing";
    return { tool: spec.name, binary, wanted: spec.version, status, chosen, candidates };
  }

  async #version(spec: ToolSpec, path: string): Promise<string | undefined> {
    let stat: Deno.FileInfo;
    try {
      stat = await Deno.stat(path);
    } catch {
      return undefined;
    }
    const memo = await this.#loadMemo();
    const mtime = stat.mtime?.getTime() ?? 0;
    const ino = stat.ino ?? 0;
    const ctime = stat.ctime?.getTime() ?? 0;
    const hit = memo[path];
    if (hit && hit.size === stat.size && hit.mtime === mtime && hit.ino === ino && hit.ctime === ctime) {
      return hit.version ?? undefined;
    }

    const c = spec.versionBy === "go-buildinfo"
      ? cmd("go", ["version", "-m", path], { readOnly: true })
      : cmd(path, spec.versionArgs, { env: spec.versionEnv, readOnly: true });
    let version: string | undefined;
    try {
      const r = await this.#runner.run(c, { check: false });
      version = parseVersion(spec, `${r.stdout}\n${r.stderr}`);
    } catch {
      version = undefined;
    }
    memo[path] = { size: stat.size, mtime, ino, ctime, version: version ?? null };
    await this.#saveMemo(memo);
    return version;
  }

  #memoPath(): string {
    return join(this.#config.toolsDir, "versions.json");
  }

  #loadMemo(): Promise<VersionMemo> {
    this.#memo ??= Deno.readTextFile(this.#memoPath())
      .then((text) => JSON.parse(text) as VersionMemo)
      .catch(() => ({}));
    return this.#memo;
  }

  async #saveMemo(memo: VersionMemo): Promise<void> {
    try {
      await Deno.mkdir(this.#config.toolsDir, { recursive: true });
      await writeAtomic(this.#memoPath(), JSON.stringify(memo, null, 1));
    } catch {
      // The memo only saves time; a read-only cache is no reason to fail.
    }
  }
}

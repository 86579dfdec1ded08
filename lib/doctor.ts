/**
 * `deno task doctor`: what this machine has of what the tasks need, and what is missing.
 *
 * @module
 */

import { join } from "node:path";
import { cmd, Runner } from "./cmd.ts";
import type { Config } from "./config.ts";
import { findOnPath } from "./path.ts";
import { type Probe, Toolbox } from "./toolbox.ts";
import { type Purpose, PURPOSES, TOOLS } from "./tools.ts";

/** One pinned tool binary as doctor saw it. */
export interface ToolCheck {
  readonly name: string;
  readonly binary: string;
  readonly wanted: string;
  readonly status: Probe["status"];
  readonly version?: string;
  readonly path?: string;
  readonly source?: "path" | "cache";
  /** Whether `deno task tools` can build it here. */
  readonly buildable: boolean;
  readonly neededFor: readonly Purpose[];
  /** How to fix it, when it is not ok. */
  readonly fix?: string;
}

/** One age key location. */
export interface KeyLocation {
  /** `SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY` or `default`. */
  readonly via: string;
  readonly path?: string;
  readonly set: boolean;
  readonly exists: boolean;
  /** How many `AGE-SECRET-KEY-` lines it holds (never the keys themselves). */
  readonly keys: number;
  /** File mode, e.g. `600`; a key readable by others is reported. */
  readonly mode?: string;
}

/** Everything doctor reports; `--json` prints exactly this. */
export interface Report {
  readonly ok: boolean;
  readonly for: readonly Purpose[];
  readonly deno: { readonly version: string; readonly wanted?: string; readonly ok: boolean };
  readonly tools: readonly ToolCheck[];
  readonly ageKey: { readonly ok: boolean; readonly locations: readonly KeyLocation[] };
  readonly containerRuntime: {
    readonly ok: boolean;
    readonly client?: string;
    readonly server?: string;
    readonly detail: string;
  };
  readonly drbd: { readonly loaded: boolean; readonly version?: string };
  readonly direnv: { readonly path?: string };
  readonly go: { readonly path?: string; readonly version?: string };
  /** One line per problem that makes a purpose impossible, with its fix. */
  readonly problems: readonly string[];
}

async function keyLocation(via: string, path: string | undefined, set: boolean): Promise<KeyLocation> {
  if (!path) return { via, set, exists: false, keys: 0 };
  try {
    const [text, stat] = await Promise.all([Deno.readTextFile(path), Deno.stat(path)]);
    const keys = text.split("\n").filter((l) => l.trim().startsWith("AGE-SECRET-KEY-")).length;
    const mode = stat.mode === null ? undefined : (stat.mode & 0o777).toString(8);
    return { via, path, set, exists: true, keys, mode };
  } catch {
    return { via, path, set, exists: false, keys: 0 };
  }
}

/** Where sops would look for age keys, in its own order. */
async function ageKeyLocations(config: Config): Promise<KeyLocation[]> {
  return [
    await keyLocation("SOPS_AGE_KEY_FILE", config.ageKeyFileEnv, config.ageKeyFileEnv !== undefined),
    { via: "SOPS_AGE_KEY", set: config.ageKeyInEnv, exists: config.ageKeyInEnv, keys: config.ageKeyInEnv ? 1 : 0 },
    await keyLocation("default", config.defaultAgeKeyFile, true),
  ];
}

async function containerRuntime(runner: Runner): Promise<Report["containerRuntime"]> {
  try {
    await runner.resolve("docker");
  } catch {
    return { ok: false, detail: "docker is not installed (kind needs Docker or Podman's docker CLI)" };
  }
  const [info, version] = await Promise.all([
    runner.run(cmd("docker", ["info", "--format", "{{.ServerVersion}}"], { readOnly: true, timeout: 15_000 }), {
      check: false,
    }),
    runner.run(cmd("docker", ["version", "--format", "{{.Client.Version}}"], { readOnly: true, timeout: 15_000 }), {
      check: false,
    }),
  ].map((p) => p.catch(() => ({ code: 1, stdout: "", stderr: "" }))));
  const client = version.stdout.trim() || undefined;
  const server = info.code === 0 ? info.stdout.trim() || undefined : undefined;
  if (server) return { ok: true, client, server, detail: `engine ${server} is running` };
  return {
    ok: false,
    client,
    detail: "the docker client cannot reach an engine: start Docker (or set DOCKER_HOST)",
  };
}

async function drbd(): Promise<Report["drbd"]> {
  try {
    const version = (await Deno.readTextFile("/sys/module/drbd/version")).trim();
    return { loaded: true, version };
  } catch {
    try {
      const modules = await Deno.readTextFile("/proc/modules");
      return { loaded: modules.split("\n").some((l) => l.startsWith("drbd ")) };
    } catch {
      return { loaded: false };
    }
  }
}

async function goToolchain(runner: Runner): Promise<Report["go"]> {
  let path: string;
  try {
    path = await runner.resolve("go");
  } catch {
    return {};
  }
  const r = await runner.run(cmd("go", ["env", "GOVERSION"], { readOnly: true, timeout: 15_000 }), { check: false })
    .catch(() => ({ code: 1, stdout: "" }));
  return { path, version: r.code === 0 ? r.stdout.trim() : undefined };
}

/** Collects the report. `wantedDeno` is the pin in `.deno-version`. */
export async function diagnose(
  config: Config,
  purposes: readonly Purpose[],
  denoVersion: string,
): Promise<Report> {
  const toolbox = new Toolbox(config);
  const runner = new Runner({ env: config.env, defaultTimeout: 30_000 });
  const [probes, locations, runtime, drbdState, direnvPath, go, wantedDeno] = await Promise.all([
    toolbox.probeAll(),
    ageKeyLocations(config),
    containerRuntime(runner),
    drbd(),
    findOnPath("direnv", config.env.PATH ?? ""),
    goToolchain(runner),
    Deno.readTextFile(join(config.repoRoot, ".deno-version")).then((t) => t.trim()).catch(() => undefined),
  ]);

  const problems: string[] = [];
  const tools: ToolCheck[] = probes.map((p) => {
    const spec = TOOLS.find((t) => t.name === p.tool)!;
    const buildable = spec.build.kind !== "unavailable";
    const shown = p.chosen ?? p.candidates[0];
    const fix = p.status === "ok" ? undefined : toolbox.errorFor(spec, p).hint;
    return {
      name: spec.name,
      binary: p.binary,
      wanted: p.wanted,
      status: p.status,
      version: shown?.version,
      path: shown?.path,
      source: shown?.source,
      buildable,
      neededFor: spec.neededFor,
      fix,
    };
  });
  for (const t of tools) {
    const needs = t.neededFor.filter((n) => purposes.includes(n));
    if (t.status !== "ok" && needs.length) {
      const what = t.status === "missing"
        ? "is missing"
        : `is ${t.version ?? "of an unknown version"}, not ${t.wanted}`;
      problems.push(`${t.binary} ${what} (needed for ${needs.join(", ")}): ${t.fix}`);
    }
  }

  const keyOk = locations.some((l) => l.exists && l.keys > 0);
  const keyNeeded = purposes.filter((p) => PURPOSES[p].ageKey);
  if (!keyOk && keyNeeded.length) {
    problems.push(
      `no age key found (needed for ${keyNeeded.join(", ")}; looked at SOPS_AGE_KEY_FILE${
        config.ageKeyFileEnv ? `=${config.ageKeyFileEnv}` : " (unset)"
      }, ` +
        `SOPS_AGE_KEY (${config.ageKeyInEnv ? "set" : "unset"}), ${config.defaultAgeKeyFile}): ` +
        "run `deno task secrets init` (it makes one at the default path), or point SOPS_AGE_KEY_FILE at yours",
    );
  }
  for (const l of locations) {
    if (l.exists && l.mode && l.mode !== "600" && l.mode !== "400") {
      problems.push(`age key file ${l.path} has mode ${l.mode}: run \`chmod 600 ${l.path}\``);
    }
  }
  const containersNeeded = purposes.filter((p) => PURPOSES[p].containers);
  if (containersNeeded.length && !runtime.ok) {
    problems.push(`container runtime (needed for ${containersNeeded.join(", ")}): ${runtime.detail}`);
  }
  const denoOk = wantedDeno === undefined || wantedDeno === denoVersion;
  if (!denoOk) problems.push(`deno is ${denoVersion}, this repository pins ${wantedDeno}: run scripts/get-deno`);

  return {
    ok: problems.length === 0,
    for: purposes,
    deno: { version: denoVersion, wanted: wantedDeno, ok: denoOk },
    tools,
    ageKey: { ok: keyOk, locations },
    containerRuntime: runtime,
    drbd: drbdState,
    direnv: { path: direnvPath },
    go,
    problems,
  };
}

/** The report as the table people read. */
export function formatReport(report: Report): string {
  const rows: string[][] = [["tool", "wanted", "found", "where", "status"]];
  for (const t of report.tools) {
    const status = t.status === "ok"
      ? "ok"
      : t.status === "wrong"
      ? "WRONG"
      : t.buildable
      ? "MISSING"
      : "missing (not buildable here)";
    rows.push([t.binary, t.wanted, t.version ?? "-", t.path ? `${t.source}: ${t.path}` : "-", status]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const table = rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd());

  const lines = [...table, ""];
  lines.push(`deno         ${report.deno.version}${report.deno.ok ? "" : ` (pinned ${report.deno.wanted})`}`);
  lines.push(`go           ${report.go.version ?? "missing (needed by `deno task tools`)"}`);
  for (const l of report.ageKey.locations) {
    const where = l.path ? ` ${l.path}` : "";
    const state = !l.set
      ? "unset"
      : l.exists
      ? `${l.keys} key(s)${l.mode ? `, mode ${l.mode}` : ""}`
      : "does not exist";
    lines.push(`age key      ${l.via}${where}: ${state}`);
  }
  lines.push(`containers   ${report.containerRuntime.detail}`);
  lines.push(
    `drbd module  ${
      report.drbd.loaded
        ? `loaded${report.drbd.version ? ` (${report.drbd.version})` : ""}`
        : "not loaded (only Piraeus on a real node needs it)"
    }`,
  );
  lines.push(`direnv       ${report.direnv.path ?? "not installed (optional: loads .envrc)"}`);
  lines.push("");
  if (report.ok) lines.push(`ready for ${report.for.join(", ")}`);
  else {
    lines.push(`not ready for ${report.for.join(", ")}:`);
    for (const p of report.problems) lines.push(`  - ${p}`);
  }
  return lines.join("\n");
}

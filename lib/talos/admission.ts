/**
 * The cluster's admission configuration as Talos runs it: taken from the machine config talhelper
 * generates (Talos merges its own defaults, such as the `kube-system` Pod Security exemption, into
 * our patch), never from the patch alone.
 *
 * The admission settings do not depend on the cluster's secrets, so a throw-away secret bundle
 * (`talhelper gensecret`) is generated into a private temporary directory, used once, and removed
 * with the generated configs before {@link clusterAdmission} returns (also on Ctrl-C).
 *
 * ```ts
 * const admission = await clusterAdmission(runner, root);
 * admission.podSecurity.defaults.enforce; // "restricted"
 * admission.podSecurity.exemptions.namespaces; // ["kube-system"]
 * await Deno.writeTextFile("admission.yaml", admission.admissionConfigYaml); // --admission-control-config-file
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { parseAllDocuments, stringify } from "yaml";
import { onExit } from "../cleanup.ts";
import { cmd, type Runner } from "../cmd.ts";
import { HomelabError } from "../errors.ts";
import { exists } from "../files.ts";
import { PATHS } from "../repo.ts";

/** A Pod Security level. */
export type PodSecurityLevel = "privileged" | "baseline" | "restricted";

/** `PodSecurityConfiguration` (pod-security.admission.config.k8s.io/v1) with its defaults filled in. */
export interface PodSecurityConfiguration {
  readonly apiVersion: string;
  readonly kind: "PodSecurityConfiguration";
  readonly defaults: {
    readonly enforce: PodSecurityLevel;
    readonly "enforce-version": string;
    readonly audit: PodSecurityLevel;
    readonly "audit-version": string;
    readonly warn: PodSecurityLevel;
    readonly "warn-version": string;
  };
  readonly exemptions: {
    readonly namespaces: readonly string[];
    readonly runtimeClasses: readonly string[];
    readonly usernames: readonly string[];
  };
}

/** One admission plugin's configuration, as Talos hands it to the API server. */
export interface AdmissionPlugin {
  readonly name: string;
  readonly configuration: Record<string, unknown>;
}

/** What {@link clusterAdmission} returns. */
export interface ClusterAdmission {
  /** The PodSecurity plugin's configuration (Kubernetes' own defaults where nothing is set). */
  readonly podSecurity: PodSecurityConfiguration;
  /** Every admission plugin configured in the machine config, in its order. */
  readonly plugins: readonly AdmissionPlugin[];
  /**
   * The `AdmissionConfiguration` (apiserver.config.k8s.io/v1) YAML the kube-apiserver is given
   * through `--admission-control-config-file`.
   */
  readonly admissionConfigYaml: string;
  /** The controlplane machine config file it was read from (its name only; the file is gone). */
  readonly source: string;
}

const LEVELS: readonly string[] = ["privileged", "baseline", "restricted"];

/**
 * The admission plugins of one generated machine config: the `KubeAdmissionControlConfig`
 * documents (Talos ≥ 1.12) or, in older configs, `cluster.apiServer.admissionControl`.
 */
function admissionPlugins(machineConfig: string, file = "machine config"): AdmissionPlugin[] {
  const plugins: AdmissionPlugin[] = [];
  for (const doc of parseAllDocuments(machineConfig)) {
    if (!("toJS" in doc)) continue;
    if (doc.errors.length) throw new HomelabError(`${file} is not valid YAML: ${doc.errors[0].message}`);
    const value = doc.toJS() as Record<string, unknown> | null;
    if (!value) continue;
    if (value.kind === "KubeAdmissionControlConfig") {
      plugins.push({
        name: String(value.name),
        configuration: (value.configuration ?? {}) as Record<string, unknown>,
      });
    }
    const legacy = ((value.cluster as Record<string, unknown> | undefined)?.apiServer as
      | Record<string, unknown>
      | undefined)?.admissionControl;
    if (Array.isArray(legacy)) {
      for (const p of legacy as Record<string, unknown>[]) {
        plugins.push({ name: String(p.name), configuration: (p.configuration ?? {}) as Record<string, unknown> });
      }
    }
  }
  return plugins;
}

function level(value: unknown, field: string, file: string): PodSecurityLevel {
  if (value === undefined || value === null || value === "") return "privileged";
  if (typeof value !== "string" || !LEVELS.includes(value)) {
    throw new HomelabError(
      `${file}: PodSecurity ${field} is '${value}', not one of ${LEVELS.join(", ")}`,
      { hint: "fix the level in talos/patches/pod-security.yaml" },
    );
  }
  return value as PodSecurityLevel;
}

/**
 * The PodSecurity configuration among `plugins`, with Kubernetes' defaults (privileged, latest,
 * no exemptions) where a field is absent — or absent altogether when no PodSecurity plugin is
 * configured, as the API server would run it.
 */
function podSecurityOf(plugins: readonly AdmissionPlugin[], file = "machine config"): PodSecurityConfiguration {
  const c = plugins.find((p) => p.name === "PodSecurity")?.configuration ?? {};
  const d = (c.defaults ?? {}) as Record<string, unknown>;
  const e = (c.exemptions ?? {}) as Record<string, unknown>;
  const list = (v: unknown) => (Array.isArray(v) ? v.map(String) : []);
  const version = (v: unknown) => (typeof v === "string" && v ? v : "latest");
  return {
    apiVersion: typeof c.apiVersion === "string" ? c.apiVersion : "pod-security.admission.config.k8s.io/v1",
    kind: "PodSecurityConfiguration",
    defaults: {
      enforce: level(d.enforce, "defaults.enforce", file),
      "enforce-version": version(d["enforce-version"]),
      audit: level(d.audit, "defaults.audit", file),
      "audit-version": version(d["audit-version"]),
      warn: level(d.warn, "defaults.warn", file),
      "warn-version": version(d["warn-version"]),
    },
    exemptions: {
      namespaces: list(e.namespaces),
      runtimeClasses: list(e.runtimeClasses),
      usernames: list(e.usernames),
    },
  };
}

/** The `AdmissionConfiguration` the API server reads, for `plugins`. */
function admissionConfiguration(plugins: readonly AdmissionPlugin[]): string {
  return stringify({
    apiVersion: "apiserver.config.k8s.io/v1",
    kind: "AdmissionConfiguration",
    plugins: plugins.map((p) => ({ name: p.name, configuration: p.configuration })),
  });
}

/**
 * Runs `talhelper gensecret` and `talhelper genconfig` with that throw-away bundle on the
 * repository's talconfig (relative to `root`), and reads the admission configuration from the
 * first controlplane node's machine config. Nothing generated outlives the call.
 */
export async function clusterAdmission(
  runner: Runner,
  root: string,
  options: {
    talconfig?: string;
    talenv?: string;
    /** Where the private scratch directory is made (the system's temporary directory by default). */
    tmp?: string;
  } = {},
): Promise<ClusterAdmission> {
  const talconfig = options.talconfig ?? PATHS.talconfig;
  const talenv = options.talenv ?? PATHS.talenv;
  const dir = await Deno.makeTempDir({ prefix: "homelab-admission-", dir: options.tmp });
  const remove = onExit(() => Deno.remove(dir, { recursive: true }).catch(() => {}));
  try {
    await Deno.chmod(dir, 0o700);
    const bundle = await runner.output(cmd("talhelper", ["gensecret"], { secretOutput: true, readOnly: true }));
    const secretFile = join(dir, "talsecret.yaml");
    await Deno.writeTextFile(secretFile, bundle + "\n", { mode: 0o600 });
    const out = join(dir, "clusterconfig");
    const hasEnv = await exists(join(root, talenv));
    await runner.run(
      cmd("talhelper", [
        "genconfig",
        "--offline-mode",
        "-c",
        talconfig,
        ...(hasEnv ? ["-e", talenv] : []),
        "-s",
        secretFile,
        "-o",
        out,
      ], { cwd: root, readOnly: true, secretOutput: true }),
    );
    const files: string[] = [];
    for await (const e of Deno.readDir(out)) {
      if (e.isFile && e.name.endsWith(".yaml") && e.name !== "talosconfig") files.push(e.name);
    }
    files.sort();
    // Every controlplane node gets the same cluster section; take the first that configures one.
    for (const name of files) {
      const text = await Deno.readTextFile(join(out, name));
      if (!/^\s*type: controlplane\s*$/m.test(text) && !/KubeAdmissionControlConfig/.test(text)) continue;
      const plugins = admissionPlugins(text, name);
      return {
        podSecurity: podSecurityOf(plugins, name),
        plugins,
        admissionConfigYaml: admissionConfiguration(plugins),
        source: name,
      };
    }
    throw new HomelabError(`talhelper generated no controlplane machine config from ${talconfig}`, {
      hint: "talconfig.yaml needs at least one node with controlPlane: true",
    });
  } finally {
    await remove();
  }
}

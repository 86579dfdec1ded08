/**
 * What this repository holds and where: the paths the tooling knows by name, and the Kubernetes
 * version the cluster runs (`kubernetesVersion` in `talos/talconfig.yaml`), read one way for
 * render, check and the Talos checks alike.
 *
 * ```ts
 * import { PATHS, readKubernetesVersion } from "./repo.ts";
 * PATHS.talconfig; // "talos/talconfig.yaml"
 * await readKubernetesVersion("."); // "vX.Y.Z", as talconfig.yaml writes it
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { parseDocument } from "yaml";
import { InputError } from "./errors.ts";
import { PINS } from "./tools.ts";

/** The repository's files and folders the tooling knows by name (relative to its root). */
export const PATHS = {
  /** Who can decrypt which files. */
  sopsConfig: ".sops.yaml",
  /** The kind cluster of `deno task dev`: its nodes and node image. */
  kindConfig: "dev/kind.yaml",
  /** The Talos cluster: nodes, versions, patches (talhelper's input). */
  talconfig: "talos/talconfig.yaml",
  /** The values talconfig.yaml's `${NAME}`s stand for. */
  talenv: "talos/talenv.yaml",
  /** The Image Factory schematic of the nodes' Talos image. */
  schematic: "talos/schematic.yaml",
  /** The Talos cluster secrets (talhelper's bundle): the owner only, fully encrypted. */
  talosBundle: "talos/talsecret.sops.yaml",
  /** What talhelper generates (ignored by git). */
  talosOut: "talos/clusterconfig",
  /** Argo CD's private age key as a Secret manifest, encrypted for the owner only. */
  argocdKey: "system/argocd/sops-age.sops.yaml",
  /** Where Kubernetes Secrets may live (encrypted) and where plaintext ones are refused. */
  stacks: ["system", "platform", "apps", "root"],
  /** The site's own values (`deno task configure` writes them into the files that hold them). */
  site: "site.yaml",
  /** The JSON schema of site.yaml. */
  siteSchema: "schemas/site.schema.json",
} as const;

/** How a Kubernetes version is written in talconfig.yaml. */
const KUBERNETES_VERSION = /^v\d+\.\d+\.\d+$/;

/** What is wrong with `value` as talconfig.yaml's `kubernetesVersion`, with the fix; undefined when nothing. */
export function kubernetesVersionProblem(value: unknown): { message: string; fix: string } | undefined {
  if (value === undefined || value === null || value === "") {
    return {
      message: "kubernetesVersion is missing",
      fix: `set kubernetesVersion at the top level (e.g. v${PINS.kubernetes})`,
    };
  }
  if (typeof value !== "string" || !KUBERNETES_VERSION.test(value)) {
    return {
      message: `kubernetesVersion '${value}' is not vX.Y.Z`,
      fix: `write it as vX.Y.Z (e.g. v${PINS.kubernetes})`,
    };
  }
  return undefined;
}

/**
 * The Kubernetes version the cluster runs, as talos/talconfig.yaml pins it (`vX.Y.Z`): what Argo
 * CD passes to Helm, whose APIs and schemas render and check use. A file that cannot be read, or
 * a version missing or malformed, is an {@link InputError} naming the file, the line and the fix.
 */
export async function readKubernetesVersion(root: string): Promise<string> {
  const file = PATHS.talconfig;
  const why = "render and check use the Kubernetes version it pins (kubernetesVersion)";
  let text: string;
  try {
    text = await Deno.readTextFile(join(root, file));
  } catch (err) {
    throw new InputError(`cannot be read: ${(err as Error).message.split("\n")[0]}`, {
      file,
      hint: `${why}; restore it from git`,
    });
  }
  const doc = parseDocument(text);
  if (doc.errors.length) {
    const e = doc.errors[0];
    throw new InputError(e.message.split("\n")[0], { file, line: e.linePos?.[0]?.line, hint: "fix the YAML syntax" });
  }
  const value = (doc.toJS() as { kubernetesVersion?: unknown } | null)?.kubernetesVersion;
  const problem = kubernetesVersionProblem(value);
  if (problem) {
    const node = doc.getIn(["kubernetesVersion"], true) as { range?: [number] } | undefined;
    const line = node?.range ? text.slice(0, node.range[0]).split("\n").length : undefined;
    throw new InputError(problem.message, { file, line, hint: `${problem.fix}: ${why}` });
  }
  return value as string;
}

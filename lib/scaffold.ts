/**
 * Scaffolding: `new system|platform|app NAME` writes a component and registers it in
 * `root/components.json`.
 *
 * @module
 */

import { join } from "node:path";
import { InputError, UsageError } from "./errors.ts";
import { exists, writeAllOrNothing } from "./files.ts";
import { table } from "./readme.ts";
import { type Component, COMPONENTS_FILE, readComponentsText, type Stack, STACKS } from "./stacks.ts";

const APP_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** The sync wave of a stack's first component: system before platform before apps. */
const FIRST_WAVE: Record<Stack, number> = { system: -10, platform: 0, apps: 20 };

/** `new app NAME`: {@link newComponent} in `apps/`. */
export async function newApp(root: string, name: string, purpose?: string): Promise<string[]> {
  return await newComponent(root, "apps", name, purpose);
}

/**
 * `new system|platform|app NAME`: a component in `STACK/NAME` (namespace, kustomization, README)
 * registered in `root/components.json` in the stack's last sync wave, so the root app picks it up.
 */
export async function newComponent(root: string, stack: Stack, name: string, purpose?: string): Promise<string[]> {
  const noun = stack === "apps" ? "app" : "component";
  if (!APP_NAME.test(name)) {
    throw new UsageError(
      `'${name}' is not a valid ${noun} name`,
      "use a DNS label: lower-case letters, digits and '-'",
    );
  }
  if (purpose !== undefined && !purpose.trim()) {
    throw new UsageError("--purpose is empty", `say in a few words what the ${noun} is, or leave --purpose out`);
  }
  const { text: componentsText, list } = await readComponentsText(root);
  const taken = STACKS.flatMap((s) => list[s].map((c) => `${s}/${c.name}`)).find((c) => c.endsWith(`/${name}`));
  if (taken) throw new InputError(`already lists ${taken}`, { file: COMPONENTS_FILE, hint: "choose another name" });
  const dir = `${stack}/${name}`;
  if (await exists(join(root, dir))) throw new InputError("exists already", { file: dir, hint: "choose another name" });

  const description = purpose?.trim() ?? `the ${name} ${stack === "apps" ? "application" : "component"}`;
  const files: Record<string, string> = {
    "namespace.yaml": `---
apiVersion: v1
kind: Namespace
metadata:
  name: ${name}
  labels:
    pod-security.kubernetes.io/enforce: restricted
`,
    "kustomization.yaml": `---
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: ${name}
resources:
  - namespace.yaml
`,
    "README.md": `# ${name}

${description[0].toUpperCase()}${description.slice(1)}.

${
      table([
        ["Path", "Purpose"],
        ["`namespace.yaml`", `the \`${name}\` namespace, Pod Security \`restricted\``],
        ["`kustomization.yaml`", "what Argo CD builds: add manifests or `helmCharts:` (exact versions) here"],
      ])
    }
Secrets: \`deno task secrets new ${dir} NAME\` adds an encrypted Secret and its KSOPS generator.
`,
  };
  const waves = list[stack].map((c) => c.wave);
  const entry: Component = {
    name,
    namespace: name,
    wave: waves.length ? Math.max(...waves) : FIRST_WAVE[stack],
    purpose: description,
  };
  // Only the new entry is added: the rest of the file stays byte for byte as it was.
  const { applyEdits, modify } = await import("jsonc-parser");
  const edits = modify(componentsText, [stack, list[stack].length], entry, {
    isArrayInsertion: true,
    formattingOptions: { insertSpaces: true, tabSize: 2, eol: "\n" },
  });
  // The component's files and its entry in components.json land together, or none of them does.
  await writeAllOrNothing(
    new Map([
      ...Object.entries(files).map(([f, text]): [string, string] => [join(root, dir, f), text]),
      [join(root, COMPONENTS_FILE), applyEdits(componentsText, edits)],
    ]),
  );
  return [...Object.keys(files).map((f) => `${dir}/${f}`), COMPONENTS_FILE];
}

/**
 * The stacks (`system/`, `platform/`, `apps/`): the component list `root/components.json` keeps
 * for each, and the component folders and kustomization roots below them.
 *
 * @module
 */

import { join } from "node:path";
import { InputError } from "./errors.ts";
import { exists } from "./files.ts";

/** The stacks, in the order they sync. */
export const STACKS = ["system", "platform", "apps"] as const;
export type Stack = (typeof STACKS)[number];

/** One entry of `root/components.json`. */
export interface Component {
  readonly name: string;
  readonly namespace: string;
  readonly wave: number;
  readonly purpose: string;
  readonly serverSideApply?: boolean;
  readonly dependsOn?: readonly string[];
  /** How the dev (kind) cluster differs: another path, or left out, and why. */
  readonly dev?: { readonly path?: string; readonly exclude?: string; readonly why?: string };
  readonly ignoreDifferences?: readonly unknown[];
}

export type ComponentList = Record<Stack, Component[]>;

export const COMPONENTS_FILE = "root/components.json";

/** Reads `root/components.json`: a list of components for each stack, or an error naming what is wrong. */
export async function readComponents(root: string): Promise<ComponentList> {
  return (await readComponentsText(root)).list;
}

/** {@link readComponents}, with the file's text (to edit it in place). */
export async function readComponentsText(root: string): Promise<{ text: string; list: ComponentList }> {
  let text: string;
  try {
    text = await Deno.readTextFile(join(root, COMPONENTS_FILE));
  } catch {
    throw new InputError("is missing", {
      file: COMPONENTS_FILE,
      hint:
        `restore it from git (\`git checkout -- ${COMPONENTS_FILE}\`): the root app generates an Application per entry`,
    });
  }
  let list: unknown;
  try {
    list = JSON.parse(text);
  } catch (err) {
    throw new InputError(`is not valid JSON: ${(err as Error).message}`, {
      file: COMPONENTS_FILE,
      hint: `fix the syntax, or restore it from git (\`git checkout -- ${COMPONENTS_FILE}\`)`,
    });
  }
  const missing = STACKS.filter((s) => !Array.isArray((list as Record<string, unknown> | null)?.[s]));
  if (missing.length) {
    throw new InputError(`has no ${missing.map((m) => `"${m}"`).join(", ")} list`, {
      file: COMPONENTS_FILE,
      hint: `it is an object with one list per stack: {"system": [...], "platform": [...], "apps": [...]}; ` +
        `restore it from git (\`git checkout -- ${COMPONENTS_FILE}\`)`,
    });
  }
  return { text, list: list as ComponentList };
}

/** Every component folder: `STACK/NAME` holding a kustomization.yaml. */
export async function componentDirs(root: string): Promise<string[]> {
  const dirs: string[] = [];
  for (const stack of STACKS) {
    try {
      for await (const e of Deno.readDir(join(root, stack))) {
        if (e.isDirectory && await exists(join(root, stack, e.name, "kustomization.yaml"))) {
          dirs.push(`${stack}/${e.name}`);
        }
      }
    } catch {
      // an empty stack has no folder yet
    }
  }
  return dirs.sort();
}

/** Every kustomization root below the stacks (components and their dev roots). */
export async function kustomizationRoots(root: string): Promise<string[]> {
  const roots: string[] = [];
  const walk = async (rel: string) => {
    if (await exists(join(root, rel, "kustomization.yaml"))) roots.push(rel);
    for await (const e of Deno.readDir(join(root, rel))) if (e.isDirectory) await walk(`${rel}/${e.name}`);
  };
  for (const stack of STACKS) if (await exists(join(root, stack))) await walk(stack);
  return roots.sort();
}

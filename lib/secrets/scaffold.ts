/**
 * `secrets new`: an encrypted Secret skeleton and the KSOPS generator that feeds it to kustomize.
 *
 * @module
 */

import { basename, join } from "node:path";
import { isSeq, parseDocument, stringify } from "yaml";
import { secret } from "../cmd.ts";
import { InputError, UsageError } from "../errors.ts";
import { addReadmeRows } from "../readme.ts";
import { type SecretsContext, sopsOf } from "./context.ts";
import { exists, writeAllOrNothing } from "../files.ts";
import { PATHS } from "../repo.ts";

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

async function componentDir(ctx: SecretsContext, component: string): Promise<string> {
  const given = component.replace(/\/+$/, "");
  if (given.includes("/") && !new RegExp(`^(${PATHS.stacks.join("|")})/[a-z0-9][-a-z0-9]*$`).test(given)) {
    throw new UsageError(
      `'${component}' is not a component of this repository`,
      `name it as STACK/NAME with STACK one of ${PATHS.stacks.join(", ")} (e.g. system/cert-manager), or by NAME alone`,
    );
  }
  const candidates = given.includes("/") ? [given] : PATHS.stacks.map((s) => `${s}/${given}`);
  const found: string[] = [];
  for (const c of candidates) {
    try {
      await Deno.stat(join(ctx.root, c, "kustomization.yaml"));
      found.push(c);
    } catch {
      // not this one
    }
  }
  if (found.length === 1) return found[0];
  throw new InputError(
    found.length
      ? `component '${component}' is ambiguous: ${found.join(", ")}`
      : `no component '${component}' with a kustomization.yaml`,
    { hint: "name it as STACK/COMPONENT, e.g. system/cert-manager" },
  );
}

/** The KSOPS generator file a component lists its secret files in. */
const GENERATOR = "secret-generator.yaml";

function generatorText(file: string): string {
  return `# KSOPS: kustomize (and Argo CD's repo-server) decrypts these SOPS files into Secrets.
apiVersion: viaduct.ai/v1
kind: ksops
metadata:
  name: secret-generator
  annotations:
    config.kubernetes.io/function: |
      exec:
        path: ksops
files:
  - ./${file}
`;
}

/**
 * `secrets new COMPONENT NAME`: an encrypted Secret skeleton `COMPONENT/NAME.sops.yaml` and the
 * KSOPS generator that feeds it to kustomize, each with its row in the component's README table.
 * The plaintext goes to sops through a pipe.
 */
export async function newSecret(
  ctx: SecretsContext,
  component: string,
  name: string,
  keys: readonly string[] = ["value"],
): Promise<string> {
  const badKey = keys.find((k) => !/^[-._a-zA-Z0-9]+$/.test(k));
  if (badKey !== undefined) {
    throw new UsageError(`'${badKey}' is not a valid Secret key`, "use letters, digits, '-', '_' and '.'");
  }
  if (!NAME.test(name) || name.length > 253) {
    throw new UsageError(`'${name}' is not a valid Secret name`, "use lower-case letters, digits, '-' and '.'");
  }
  const dir = await componentDir(ctx, component);
  const file = `${dir}/${name}.sops.yaml`;
  if (await exists(join(ctx.root, file))) {
    throw new InputError("exists already", { file, hint: `change it with \`deno task secrets edit ${file}\`` });
  }
  const kustomizationPath = join(ctx.root, dir, "kustomization.yaml");
  const kustomization = parseDocument(await Deno.readTextFile(kustomizationPath));
  if (kustomization.errors.length) {
    throw new InputError(kustomization.errors[0].message.split("\n")[0], { file: `${dir}/kustomization.yaml` });
  }
  const namespace = String(kustomization.get("namespace") ?? basename(dir));

  const generatorPath = join(ctx.root, dir, GENERATOR);
  let generator: string;
  try {
    const doc = parseDocument(await Deno.readTextFile(generatorPath));
    const files = doc.get("files");
    if (!isSeq(files)) throw new InputError("has no files list", { file: `${dir}/${GENERATOR}` });
    files.add(doc.createNode(`./${name}.sops.yaml`));
    generator = doc.toString({ lineWidth: 0 });
  } catch (err) {
    if (err instanceof InputError) throw err;
    generator = generatorText(`${name}.sops.yaml`);
  }
  const generatorIsNew = !await exists(generatorPath);
  // The component's README table names each of its files: the new ones get their rows.
  const readmePath = join(ctx.root, dir, "README.md");
  const readmeText = await Deno.readTextFile(readmePath).catch((err) => {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  });
  const readme = readmeText === undefined ? undefined : addReadmeRows(readmeText, [
    [
      `\`${name}.sops.yaml\``,
      `the \`${name}\` Secret, encrypted; \`deno task secrets edit ${file}\` fills in its values`,
    ],
    ...(generatorIsNew
      ? [[`\`${GENERATOR}\``, "KSOPS generator: the encrypted files kustomize decrypts into Secrets"] as const]
      : []),
  ]);
  let generators = kustomization.get("generators");
  if (!isSeq(generators)) {
    kustomization.set("generators", kustomization.createNode([]));
    generators = kustomization.get("generators");
  }
  if (
    isSeq(generators) &&
    !generators.items.some((i) => String((i as { value?: unknown }).value).replace(/^\.\//, "") === GENERATOR)
  ) {
    generators.add(kustomization.createNode(`./${GENERATOR}`));
  }

  const plaintext = stringify({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace },
    type: "Opaque",
    stringData: Object.fromEntries(keys.map((k) => [k, "REPLACE-ME"])),
  });
  // The secret, its generator, the kustomization and the README change together, or none does.
  const ciphertext = await sopsOf(ctx).encrypt(file, secret(plaintext));
  await writeAllOrNothing(
    new Map([
      [join(ctx.root, file), ciphertext],
      [generatorPath, generator],
      [kustomizationPath, kustomization.toString({ lineWidth: 0 })],
      ...(readme !== undefined && readme !== readmeText ? [[readmePath, readme] as [string, string]] : []),
    ]),
  );
  return file;
}

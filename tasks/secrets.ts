/**
 * `deno task secrets <init|encrypt|decrypt|edit|new|check|rotate>`: the SOPS + age life cycle.
 * @module
 */

import { runTask } from "../lib/cli.ts";
import { loadConfig } from "../lib/config.ts";

const config = loadConfig();
const ageKey = Deno.env.get("SOPS_AGE_KEY");
// `deno task` runs in the repository root; paths are meant from where the user typed them.
const userCwd = Deno.env.get("INIT_CWD") ?? Deno.cwd();

async function context() {
  const { repoContext } = await import("../lib/context.ts");
  return repoContext(config, { ageKey });
}

/** Path arguments, relative to the repository root; paths outside the repository are refused. */
async function repoPaths(args: string[]): Promise<string[]> {
  const { repoPath } = await import("../lib/path.ts");
  return args.map((a) => repoPath(config.repoRoot, userCwd, a, "secret files live in this repository"));
}

const lifecycle = () => import("../lib/secrets/lifecycle.ts");
const tasks = () => import("../lib/tasks/secrets.ts");

await runTask(
  {
    name: "secrets",
    description:
      "The SOPS + age life cycle: keys, encryption, checks and rotation. Plaintext never lands in the repository.",
    commands: [
      {
        name: "init",
        description:
          "Make the personal age key (if there is none) and Argo CD's key, write both recipients into .sops.yaml,\n" +
          "install the pre-commit hook. Lists encrypted files no key of yours opens; re-running changes nothing.",
        options: [
          {
            flags: "--adopt",
            description: "take over a clone encrypted for someone else: re-create or replace the files you cannot open",
          },
          {
            flags: "--yes",
            description: "with --adopt: replace the Talos secret bundle and the Argo CD key without asking (scripts)",
          },
        ],
        action: async (opts: { adopt?: boolean; yes?: boolean }) =>
          await (await tasks()).initCommand(await context(), opts),
      },
      {
        name: "encrypt",
        description: "Encrypt plaintext *.sops.yaml files in place, by their .sops.yaml creation rule.",
        arguments: [{ name: "<file...>" }],
        action: async (files: string[]) => {
          await (await lifecycle()).encryptFiles(await context(), await repoPaths(files));
        },
      },
      {
        name: "decrypt",
        description: "Print a decrypted file on standard output (nothing is written to disk).",
        arguments: [{ name: "<file>" }],
        action: async (file: string) => {
          await (await lifecycle()).decryptFile(await context(), (await repoPaths([file]))[0]);
        },
      },
      {
        name: "edit",
        description:
          "Edit an encrypted file in $EDITOR through `sops edit` (its plaintext copy lives in a private temp dir).",
        arguments: [{ name: "<file>" }],
        action: async (file: string) => {
          await (await lifecycle()).editFile(await context(), (await repoPaths([file]))[0]);
        },
      },
      {
        name: "new",
        description:
          "Create COMPONENT/NAME.sops.yaml, an encrypted Secret skeleton, and wire it into the component's KSOPS generator.",
        arguments: [
          { name: "<component>", description: "a component folder: STACK/NAME (e.g. system/cert-manager) or its name" },
          { name: "<name>", description: "the Secret's name" },
        ],
        options: [{ flags: "--key <key...>", description: "the Secret's keys (default: value)" }],
        action: async (component: string, name: string, opts: { key?: string[] }) => {
          const ctx = await context();
          const file = await (await lifecycle()).newSecret(ctx, component, name, opts.key);
          ctx.ui.info(`${file}: created, encrypted; fill in its values with \`deno task secrets edit ${file}\``);
        },
      },
      {
        name: "check",
        description:
          "Check that every secret file is encrypted, no plaintext Secret or age private key is in the repository,\n" +
          "and (with a key at hand) every encrypted file decrypts. Lists each problem with its fix.",
        arguments: [{ name: "[file...]", description: "only these files (default: the whole repository)" }],
        options: [
          {
            flags: "--staged",
            description: "check the staged content of staged files (what the pre-commit hook runs)",
          },
          { flags: "--no-decrypt", description: "skip decryption (much faster; no MAC verification)" },
        ],
        action: async (files: string[], opts: { staged?: boolean; decrypt: boolean }) =>
          await (await tasks()).checkCommand(await context(), {
            files: files.length ? await repoPaths(files) : undefined,
            staged: opts.staged,
            decrypt: opts.decrypt,
          }),
      },
      {
        name: "rotate",
        description:
          "After recipients changed in .sops.yaml: update every encrypted file's recipients (sops updatekeys),\n" +
          "then check each file opens with every current recipient whose key is at hand.",
        options: [{
          flags: "--data-key",
          description: "also re-encrypt every file with a fresh data key (do this when a key is retired or lost)",
        }],
        action: async (opts: { dataKey?: boolean }) => await (await tasks()).rotateCommand(await context(), opts),
      },
    ],
  },
  Deno.args,
  config.verbose,
);
